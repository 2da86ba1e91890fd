package parser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A log4j2 record OpenUnison writes looks like
//
//	[2022-12-24 00:34:56,424][XNIO-1 task-1] INFO  OpenIDConnectIdP - message
//	0         1         2
//	0123456789012345678901234
//
// The timestamp has a fixed width, so its fields are read by position.
const (
	stampLen  = 25 // "[2022-12-24 00:34:56,424]"
	minHeader = stampLen + len("[t] INFO  L - ")
)

// header holds the offsets of a record's first-line fields. It is four
// ints, so that splitHeader returns it in registers: with the two slices
// it held, or a fifth field, it went through memory, and the 16-byte
// copies of it stalled on the 8-byte stores just made.
type header struct {
	threadEnd   int // index of the ']' closing the thread
	levelEnd    int // index just past the level
	loggerStart int // index of the logger's name, which ends at msg-3
	msg         int // index where the message starts
}

// RecordStartLen is how many bytes IsRecordStart reads: an unfinished line
// shorter than that cannot be told from a record's start yet.
const RecordStartLen = 6

// IsRecordStart reports whether a line opens a new log4j2 record, rather than
// continuing the previous one (stack trace lines, wrapped messages).
func IsRecordStart(line []byte) bool {
	return len(line) >= RecordStartLen && line[0] == '[' && isDigit(line[1]) && isDigit(line[2]) &&
		isDigit(line[3]) && isDigit(line[4]) && line[5] == '-'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// splitHeader finds the thread, level and logger of a record's first line.
// The thread may contain spaces and the level is padded to five characters
// (`%-5p`), so "INFO  X" has two spaces and "DEBUG X" one.
func splitHeader(line []byte) (header, error) {
	var h header
	if len(line) < minHeader || line[0] != '[' || line[stampLen-1] != ']' || line[stampLen] != '[' {
		return h, &SyntaxError{Column: 1, Msg: "not a log4j2 record: want [yyyy-MM-dd HH:mm:ss,SSS][thread] LEVEL Logger - message"}
	}
	end := threadEnd(line)
	if end < 0 {
		return h, &SyntaxError{Column: stampLen + 1, Msg: "thread name is not closed by \"] \""}
	}
	h.threadEnd = end
	// Nearly every record parsed has a standard level and one of the two
	// loggers read further: both are told from a few loads, where the
	// general path below pays two searches.
	if k := paddedLevel(line, end+2); k > 0 {
		h.levelEnd = end + 2 + k
		h.loggerStart = end + 2 + levelField
		if h.msg = knownLogger(line, h.loggerStart); h.msg > 0 {
			return h, nil
		}
	}
	return splitLevelLogger(line, h)
}

// splitLevelLogger is splitHeader past the thread, for any level and logger.
func splitLevelLogger(line []byte, h header) (header, error) {
	end := h.threadEnd
	rest := line[end+2:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 1 {
		return h, &SyntaxError{Column: end + 3, Msg: "missing level"}
	}
	h.levelEnd = end + 2 + sp
	i := sp
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	h.loggerStart = end + 2 + i
	dash := indexSep(line[h.loggerStart:])
	if dash < 1 {
		return h, &SyntaxError{Column: h.loggerStart + 1, Msg: "missing \" - \" after the logger name"}
	}
	h.msg = h.loggerStart + dash + 3
	return h, nil
}

// knownLogger returns where the message starts when line[i:] opens with
// "AccessLog - " or "OpenIDConnectIdP - ", else 0. Neither name holds a
// space, so its " - " is the first one, as indexSep finds.
func knownLogger(line []byte, i int) int {
	rest := line[i:]
	switch {
	case len(rest) >= len(accessPrefix) && string(rest[:len(accessPrefix)]) == accessPrefix:
		return i + len(accessPrefix)
	case len(rest) >= len(oidcPrefix) && string(rest[:8]) == oidcPrefix[:8] && string(rest[8:len(oidcPrefix)]) == oidcPrefix[8:]:
		return i + len(oidcPrefix)
	}
	return 0
}

// threadEnd returns the index of the "]" that closes the thread name and is
// followed by a space, or -1. Every line is read here and thread names are
// short, so it tests eight bytes at a time rather than paying a call to
// IndexByte per line.
func threadEnd(line []byte) int {
	i := stampLen + 1
	for ; i+8 <= len(line); i += 8 {
		for m := bytesEqual(binary.LittleEndian.Uint64(line[i:]), ']'); m != 0; m &= m - 1 {
			at := i + bits.TrailingZeros64(m)>>3
			// The mask may mark a byte past a real match, so look again.
			if line[at] == ']' && at+1 < len(line) && line[at+1] == ' ' {
				return at
			}
		}
	}
	for ; i+1 < len(line); i++ {
		if line[i] == ']' && line[i+1] == ' ' {
			return i
		}
	}
	return -1
}

// bytesEqual sets the high bit of every byte of w that equals c (and may set
// it of a 0x01 byte right after one, which the caller rules out).
func bytesEqual(w uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lo * uint64(c))
	return (x - lo) &^ x & hi
}

// messageOf returns the message of a record's first line when its logger is
// one of the two correlation reads, without splitting the whole header:
// the fast path for the ~97% of records that are noise.
func messageOf(line []byte) (msg []byte, access, oidc bool) {
	if len(line) < minHeader || line[stampLen] != '[' {
		return nil, false, false
	}
	end := threadEnd(line)
	if end < 0 {
		return nil, false, false
	}
	rest, ok := afterLevel(line, end+2)
	if !ok {
		return nil, false, false
	}
	// Comparisons with constants of up to 16 bytes compile to a few loads.
	switch {
	case len(rest) >= len(accessPrefix) && string(rest[:len(accessPrefix)]) == accessPrefix:
		return rest[len(accessPrefix):], true, false
	case len(rest) >= len(oidcPrefix) && string(rest[:8]) == oidcPrefix[:8] && string(rest[8:len(oidcPrefix)]) == oidcPrefix[8:]:
		return rest[len(oidcPrefix):], false, true
	}
	return nil, false, false
}

// afterLevel returns what follows the level and its padding, which start
// at line[i]: a word, then spaces. log4j2 pads the level to five (%-5p), so
// the field is six bytes for every standard level ("INFO  ", "DEBUG "),
// and that case is decided from one eight-byte load without branching on
// the level's length, which varies from line to line and made the loops
// below mispredict. Other widths take the loops.
func afterLevel(line []byte, i int) ([]byte, bool) {
	if k := paddedLevel(line, i); k > 0 {
		return line[i+levelField:], true
	}
	j := i
	for j < len(line) && line[j] != ' ' {
		j++
	}
	if j == i || j == len(line) {
		return nil, false
	}
	for j < len(line) && line[j] == ' ' {
		j++
	}
	return line[j:], true
}

// levelField is the width of a standard level with its padding.
const levelField = 6

// paddedLevel returns the length of the level at line[i] when it is 1-5
// bytes padded with spaces to six, and a seventh byte that is no space
// follows; else 0.
func paddedLevel(line []byte, i int) int {
	if i+8 > len(line) {
		return 0
	}
	// The high bit of each byte of spaces is set where the byte is a
	// space (exactly: the addition cannot carry across bytes).
	const lo7, hi = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	x := binary.LittleEndian.Uint64(line[i:]) ^ 0x2020202020202020
	spaces := ^((x&lo7 + lo7) | x) & hi & 0x0080808080808080 // bytes 0-6
	// A level of k bytes (1-5) then spaces through byte 5, and byte 6
	// not a space: spaces are bytes k..5.
	if k := bits.TrailingZeros64(spaces) >> 3; k >= 1 && k <= 5 && spaces == levelPad[k] {
		return k
	}
	return 0
}

// levelPad[k] marks bytes k through 5 of a word: the padding after a level
// of k bytes in a six-byte field.
var levelPad = [6]uint64{
	1: 0x0000808080808000, 2: 0x0000808080800000, 3: 0x0000808080000000,
	4: 0x0000808000000000, 5: 0x0000800000000000,
}

const (
	accessPrefix = "AccessLog - "
	oidcPrefix   = "OpenIDConnectIdP - "
)

// SyntaxError describes where a record does not follow OpenUnison's grammar.
// Column counts bytes from 1 within the record's first line.
type SyntaxError struct {
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }

var sepField = []byte(" - ")

const (
	tagExpired   = "[ExpiredRefreshTokenUsed] - "
	tagAzSuccess = "[AzSuccess] - "
	tagAzFail    = "[AzFail] - "
	tagAuSuccess = "[AuSuccess] - "
)

// reuseTag is the grace reuse's tag without its separator.
const reuseTag = "[ExpiredRefreshTokenUsed]"

// namesReuse reports whether an OpenIDConnectIdP message is a grace
// reuse's, whole or not: it opens with the reuse's tag, or the line ends
// inside the tag (OpenIDConnectIdP tags no other message). A reuse is the
// record graceguard exists for: one whose line broke after that point is
// a parse error to name, never noise to drop.
func namesReuse(msg []byte) bool {
	if len(msg) >= len(reuseTag) {
		return string(msg[:len(reuseTag)]) == reuseTag
	}
	return len(msg) > 0 && string(msg) == reuseTag[:len(msg)]
}

// Classify returns the Kind of a record without allocating. It reads only
// the record's first line. It never says other for a record that Parse would
// give another kind; it may name a kind for a record that Parse then rejects,
// so callers parse what Classify picks out. It names the kind of every
// record that says what it is and then breaks the grammar: a grace reuse
// from its tag on, a token request's AzSuccess or AzFail from the end of
// its URL on (cut there, or anywhere after), a login's AuSuccess from its
// tag on. Those are parse errors, and a scan names them; dropped as other,
// a damaged reuse would go unjudged and unsaid.
func Classify(rec []byte) Kind {
	if nl := bytes.IndexByte(rec, '\n'); nl >= 0 {
		rec = rec[:nl]
	}
	return ClassifyLine(rec)
}

// ClassifyLine is Classify for a record's first line, known to hold no
// newline: a block splitter has found the line's end already, and looking
// for it again would read every byte twice.
func ClassifyLine(line []byte) Kind {
	line = trimCR(line)
	if !isLog4jShape(line) {
		return classifyProxy(line)
	}
	msg, access, oidc := messageOf(line)
	switch {
	case access:
		return classifyAccess(msg)
	case oidc:
		if namesReuse(msg) {
			return KindGraceReuse
		}
		if isRefusal(msg) {
			return KindRefusal
		}
	}
	return KindOther
}

// isLog4jShape reports whether a line is read as OpenUnison's: "]["
// where its timestamp ends and its thread begins. Every other line is read
// as a proxy's (no proxy format puts "][" there: Envoy's "[START_TIME]"
// is a byte longer). The line must open with the timestamp's bracket too:
// a CLF line's user name (nginx's $remote_user, Traefik's userinfo) is the
// client's, and one with "][" at those bytes made a token request's line
// a broken OpenUnison record.
func isLog4jShape(line []byte) bool {
	return len(line) > stampLen && line[0] == '[' && line[stampLen-1] == ']' && line[stampLen] == '['
}

func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

func classifyAccess(msg []byte) Kind {
	var kind Kind
	// Every tag classified starts "[A"; most access lines have another tag
	// or none, and go after one comparison.
	if len(msg) < len(tagAzFail) || msg[0] != '[' || msg[1] != 'A' {
		return KindOther
	}
	switch {
	case len(msg) >= len(tagAzSuccess) && string(msg[:len(tagAzSuccess)]) == tagAzSuccess:
		kind, msg = KindTokenOK, msg[len(tagAzSuccess):]
	case string(msg[:len(tagAzFail)]) == tagAzFail:
		kind, msg = KindTokenFail, msg[len(tagAzFail):]
	case len(msg) >= len(tagAuSuccess) && string(msg[:len(tagAuSuccess)]) == tagAuSuccess:
		kind, msg = KindLogin, msg[len(tagAuSuccess):]
	default:
		return KindOther
	}
	if kind == KindLogin {
		return kind // on any URL; Parse checks the rest
	}
	// Look at the URL before anything else: most access lines are for other
	// applications, and the URL rules them out after two short searches.
	app := indexSep(msg)
	if app < 0 {
		return KindOther // the line ends in the application: no URL to tell
	}
	rest := msg[app+len(sepField):]
	u := indexSep(rest)
	if u < 0 {
		// The line ends in or just after the URL: it is a token request's
		// record cut short when what it holds of its URL is a token
		// endpoint, less a separator's first bytes.
		return cutURLKind(rest, kind)
	}
	if !isTokenEndpoint(rest[:u]) {
		return KindOther
	}
	// A broken trailer hides where the DN ends: the record is named (a
	// parse error), anonymous or not.
	_, dn, ok := splitURLUser(rest)
	if ok && kind == KindTokenOK && isAnonymous(dn) {
		return KindOther
	}
	return kind
}

// cutURLKind is classifyAccess's kind for a token line whose text ends in
// its URL, rest: kind when the URL, less a trailing " -" or " ", is a
// token endpoint.
func cutURLKind(rest []byte, kind Kind) Kind {
	url := bytes.TrimSuffix(rest, []byte(" -"))
	url = bytes.TrimSuffix(url, []byte(" "))
	if isTokenEndpoint(url) {
		return kind
	}
	return KindOther
}

// indexSep is bytes.Index(b, sepField) for text where spaces are few, as in
// the application and URL fields: it stops only at spaces.
func indexSep(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], ' ')
		if j < 0 {
			return -1
		}
		i += j
		if i+3 > len(b) {
			return -1
		}
		if b[i+1] == '-' && b[i+2] == ' ' {
			return i
		}
		i++
	}
}

// splitURLUser reads "URL - DN - MESSAGE [IP] - [SESSION]" far enough to
// return the URL and the DN. URLs carry no spaces, so the URL ends at the
// first separator; DNs may contain anything, so they end at the last one.
func splitURLUser(rest []byte) (url, dn []byte, ok bool) {
	u := indexSep(rest)
	if u < 0 {
		return nil, nil, false
	}
	url = rest[:u]
	body, _, _, ok := splitTrailer(rest[u+len(sepField):])
	if !ok {
		return nil, nil, false
	}
	d := lastIndexSep(body)
	if d < 0 {
		return nil, nil, false
	}
	return url, body[:d], true
}

// splitTrailer splits "BODY [IP] - [SESSION]" from the end, because the body
// (the DN in particular) may itself contain brackets and separators.
func splitTrailer(msg []byte) (body, ip, session []byte, ok bool) {
	n := len(msg)
	if n < len("x [] - []") || msg[n-1] != ']' {
		return nil, nil, nil, false
	}
	open := lastIndexByte(msg[:n-1], '[')
	if open < len(" [] - ") || string(msg[open-len("] - "):open]) != "] - " {
		return nil, nil, nil, false
	}
	session = msg[open+1 : n-1]
	ipEnd := open - len("] - ")
	ipOpen := lastIndexByte(msg[:ipEnd], '[')
	if ipOpen < 1 || msg[ipOpen-1] != ' ' {
		return nil, nil, nil, false
	}
	return msg[:ipOpen-1], msg[ipOpen+1 : ipEnd], session, true
}

// isTokenEndpoint reports whether a URL is an OIDC IdP's token endpoint,
// …/auth/idp/<name>/token.
func isTokenEndpoint(url []byte) bool {
	const suffix = "/token"
	n := len(url)
	return n >= len(suffix) && string(url[n-len(suffix):]) == suffix && bytes.Contains(url, []byte("/auth/idp/"))
}

// IsAnonymousDN reports whether dn is OpenUnison's anonymous user (or empty).
func IsAnonymousDN(dn string) bool {
	const prefix = "uid=anonymous,"
	if dn == "" {
		return true
	}
	// Most DNs start "uid=" too: look at the fifth byte before folding case.
	// Of the prefix's letters only 's' folds from a non-ASCII rune (U+017F),
	// so a match has ASCII up to there and dn[4] is 'a' or 'A'.
	return len(dn) >= len(prefix) && (dn[0] == 'u' || dn[0] == 'U') && (dn[4] == 'a' || dn[4] == 'A') &&
		strings.EqualFold(dn[:len(prefix)], prefix)
}

func isAnonymous(dn []byte) bool {
	const prefix = "uid=anonymous,"
	return len(dn) == 0 || (len(dn) >= len(prefix) && bytes.EqualFold(dn[:len(prefix)], []byte(prefix)))
}

// Parse fills an Event from one record (its first line and any continuation
// lines). Times are read in loc (nil means UTC). A record that does not follow
// the grammar still yields an Event of kind other with whatever could be read,
// Raw always set, and an error saying where the grammar broke.
func Parse(rec []byte, loc *time.Location) (Event, error) {
	var ev Event
	err := ParseInto(&ev, rec, loc)
	return ev, err
}

// ParseInto is Parse writing into *ev, which it overwrites whole: a block
// worker parses into its slice of events, and an Event is some 330 bytes
// that returning by value copied once more.
func ParseInto(ev *Event, rec []byte, loc *time.Location) error {
	// One string holds the record and every field is a substring of it, so
	// a parsed event costs one allocation. The grammar is read on the bytes;
	// the same offsets then cut the string.
	raw := string(rec)
	*ev = Event{Raw: raw}
	line := rec
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	line = trimCR(line)
	if !isLog4jShape(line) && classifyProxy(line) == KindProxy {
		return parseProxy(ev, raw, line, loc)
	}
	h, err := splitHeader(line)
	if err != nil {
		return err
	}
	t, err := parseStamp(line[:stampLen], loc)
	if err != nil {
		return err
	}
	ev.Time = t
	ev.Thread = raw[stampLen+1 : h.threadEnd]
	ev.Level = raw[h.threadEnd+2 : h.levelEnd]
	ev.Logger = raw[h.loggerStart : h.msg-3]
	msg := line[h.msg:]
	ev.Message = raw[h.msg:len(line)]
	// Comparisons with constant strings compile to a few loads.
	logger := line[h.loggerStart : h.msg-3]
	var idpURL bool
	switch {
	case string(logger) == "AccessLog" && len(msg) > 0 && msg[0] == '[':
		idpURL, err = parseTagged(ev, raw, h.msg, len(line), true)
	case string(logger) == "OpenIDConnectIdP" && namesReuse(msg):
		idpURL, err = parseTagged(ev, raw, h.msg, len(line), false)
	}
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Column += h.msg
		}
		return err
	}
	ev.Kind = kindOf(ev, idpURL)
	return nil
}

// parseTagged reads "[TAG] - [APP - ]URL - DN - MESSAGE [IP] - [SESSION]",
// the message raw[from:to]; without APP, TAG is the grace reuse's, and
// the message may be any namesReuse accepts. Columns in its errors count
// from from (+1); a field the line ends in breaks the grammar at its end.
// idpURL says whether the URL holds "/auth/idp/", for kindOf.
func parseTagged(ev *Event, raw string, from, to int, hasApp bool) (idpURL bool, err error) {
	msg := raw[from:to]
	if !hasApp && (len(msg) < len(tagExpired) || msg[:len(tagExpired)] != tagExpired) {
		return false, reuseTagError(msg)
	}
	end := tagEnd(msg)
	if end < 2 {
		return false, &SyntaxError{Column: 1, Msg: "tag is not closed by \"] - \""}
	}
	ev.Tag = msg[1:end]
	pos := end + len("] - ")
	if hasApp {
		app := indexSepShort(msg[pos:])
		if app < 0 {
			return false, &SyntaxError{Column: len(msg) + 1, Msg: "record ends in the application: want \" - \" after it"}
		}
		ev.App = msg[pos : pos+app]
		pos += app + 3
	}
	u, name, nameEnd, idpURL := scanURL(msg[pos:])
	if u < 0 {
		return false, &SyntaxError{Column: len(msg) + 1, Msg: "record ends in the URL: want \" - \" after it"}
	}
	ev.URL = msg[pos : pos+u]
	if idpURL {
		ev.IdP = msg[pos+name : pos+nameEnd]
	}
	pos += u + 3
	rest := msg[pos:]
	body, ip, session, ok := splitTrailerString(rest)
	if !ok {
		at, what := trailerError(rest)
		return idpURL, &SyntaxError{Column: pos + at + 1, Msg: what}
	}
	d := lastIndexSep(body)
	if d < 0 {
		// The DN and the message run to the trailer without one.
		return idpURL, &SyntaxError{Column: pos + len(body) + 1, Msg: "missing \" - \" between the user DN and the message"}
	}
	ev.User = body[:d]
	ev.Message = body[d+3:]
	ev.Session = session
	// rest is "BODY [IP] - [SESSION]": the address starts after " [".
	if addr, ok := parseIPv4(rest, len(body)+2, len(body)+2+len(ip)); ok {
		ev.IP = addr
		return idpURL, nil
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return idpURL, &SyntaxError{Column: pos + len(body) + 3, Msg: fmt.Sprintf("bad IP address %s", quote(ip))}
	}
	ev.IP = addr.Unmap()
	return idpURL, nil
}

// tagEnd is indexTagEnd, told by comparisons for the tags Parse meets
// most. None of them holds a ']', so its own "] - " is the first, and
// [AzSuccess] and [AuSuccess] are as long. (The comparisons are written
// out: hasPrefix, generic, calls memequal.)
func tagEnd(msg string) int {
	n := len(msg)
	switch {
	case n >= len(tagAzSuccess) && (msg[:len(tagAzSuccess)] == tagAzSuccess || msg[:len(tagAuSuccess)] == tagAuSuccess):
		return len(tagAzSuccess) - len("] - ")
	case n >= len(tagAzFail) && msg[:len(tagAzFail)] == tagAzFail:
		return len(tagAzFail) - len("] - ")
	case n >= len(tagExpired) && msg[:len(tagExpired)] == tagExpired:
		return len(tagExpired) - len("] - ")
	}
	return indexTagEnd(msg)
}

// indexTagEnd is strings.Index(msg, "] - "), found from the brackets: the
// tag is short and its "]" comes first.
func indexTagEnd(msg string) int {
	for i := 0; ; {
		j := strings.IndexByte(msg[i:], ']')
		if j < 0 {
			return -1
		}
		i += j
		if i+4 > len(msg) {
			return -1
		}
		if msg[i+1] == ' ' && msg[i+2] == '-' && msg[i+3] == ' ' {
			return i
		}
		i++
	}
}

// indexSepString is strings.Index(s, " - ") for text with few spaces, as the
// application and the URL: it stops only at spaces.
func indexSepString(s string) int {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], ' ')
		if j < 0 {
			return -1
		}
		i += j
		if i+3 > len(s) {
			return -1
		}
		if s[i+1] == '-' && s[i+2] == ' ' {
			return i
		}
		i++
	}
}

// indexSepShort is indexSepString for text whose first " - " is most
// often in its first eight bytes, as after an application's name: it
// looks there in one word before paying for a search. The lowest byte
// bytesEqual marks is a true match.
func indexSepShort(s string) int {
	if len(s) >= 8 {
		if m := bytesEqual(le64(s), ' '); m != 0 {
			if k := bits.TrailingZeros64(m) >> 3; k+3 <= len(s) && s[k+1] == '-' && s[k+2] == ' ' {
				return k
			}
		}
	}
	return indexSepString(s)
}

// lastIndexSep is strings.LastIndex(s, " - "), stopping only at dashes,
// which the message after the DN rarely holds.
func lastIndexSep[T ~string | ~[]byte](s T) int {
	for i := len(s) - 2; i >= 1; i-- {
		j := lastIndexByte(s[:i+1], '-')
		if j < 1 {
			return -1
		}
		if j+1 < len(s) && s[j-1] == ' ' && s[j+1] == ' ' {
			return j - 1
		}
		i = j
	}
	return -1
}

// lastIndexByte is strings.LastIndexByte eight bytes at a time: the trailer
// of every record parsed is found from its end, and the standard one is a
// byte loop.
func lastIndexByte[T ~string | ~[]byte](s T, c byte) int {
	i := len(s)
	for ; i >= 8; i -= 8 {
		w := uint64(s[i-8]) | uint64(s[i-7])<<8 | uint64(s[i-6])<<16 | uint64(s[i-5])<<24 |
			uint64(s[i-4])<<32 | uint64(s[i-3])<<40 | uint64(s[i-2])<<48 | uint64(s[i-1])<<56
		// The mask may mark a byte above a real match, so look again,
		// highest first.
		for m := bytesEqual(w, c); m != 0; m &^= 1 << (63 - bits.LeadingZeros64(m)) {
			if at := i - 8 + (63-bits.LeadingZeros64(m))>>3; s[at] == c {
				return at
			}
		}
	}
	for i--; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// splitTrailerString is splitTrailer on a string, returning substrings.
func splitTrailerString(msg string) (body, ip, session string, ok bool) {
	n := len(msg)
	if n < len("x [] - []") || msg[n-1] != ']' {
		return "", "", "", false
	}
	open := lastIndexByte(msg[:n-1], '[')
	if open < len(" [] - ") || msg[open-len("] - "):open] != "] - " {
		return "", "", "", false
	}
	ipEnd := open - len("] - ")
	ipOpen := lastIndexByte(msg[:ipEnd], '[')
	if ipOpen < 1 || msg[ipOpen-1] != ' ' {
		return "", "", "", false
	}
	return msg[:ipOpen-1], msg[ipOpen+1 : ipEnd], msg[open+1 : n-1], true
}

// kindOf decides the Kind from parsed fields; Classify decides it from bytes
// and the fuzz test holds the two to the same answer. idpURL says whether
// the URL holds "/auth/idp/" (parseTagged has looked already).
func kindOf(ev *Event, idpURL bool) Kind {
	switch {
	case ev.Logger == "OpenIDConnectIdP" && ev.Tag == "ExpiredRefreshTokenUsed":
		return KindGraceReuse
	case ev.Logger == "OpenIDConnectIdP" && ev.Tag == "" && isRefusal(ev.Message):
		return KindRefusal
	case ev.Logger != "AccessLog":
		return KindOther
	case ev.Tag == "AuSuccess":
		return KindLogin
	case !strings.HasSuffix(ev.URL, "/token") || !idpURL:
		return KindOther
	case ev.Tag == "AzFail":
		return KindTokenFail
	case ev.Tag == "AzSuccess" && !IsAnonymousDN(ev.User):
		return KindTokenOK
	}
	return KindOther
}

// idpName returns <name> from …/auth/idp/<name>/…, and whether the URL
// holds /auth/idp/ at all.
func idpName(url string) (string, bool) {
	const marker = "/auth/idp/"
	i := strings.Index(url, marker)
	if i < 0 {
		return "", false
	}
	name := url[i+len(marker):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return name, true
}

// parseStamp reads "[yyyy-MM-dd HH:mm:ss,SSS]" by position.
func parseStamp(b []byte, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	year, month, day, hour, minute, sec, milli, ok := stampFields(b)
	if !ok || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, errStamp()
	}
	if loc == time.UTC {
		// time.Date's arithmetic without its zone lookup and general
		// normalisation: in UTC a day is 86,400 seconds, and days count on
		// linearly past a month's end (February 30 is March 2) as in Date.
		unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
		return time.Unix(unix, int64(milli)*int64(time.Millisecond)).UTC(), nil
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, milli*int(time.Millisecond), loc), nil
}

// The stamp after its '[' as three words, first byte lowest:
// "yyyy-MM-", "dd HH:mm" and ":ss,SSS]". For each word, the bytes that
// are digits, the separators' positions and the separators.
const (
	stampDigits0, stampSepAt0, stampSep0 = 0x00ffff00ffffffff, 0xff0000ff00000000, '-'<<56 | '-'<<32
	stampDigits1, stampSepAt1, stampSep1 = 0xffff00ffff00ffff, 0x0000ff0000ff0000, ':'<<40 | ' '<<16
	stampDigits2, stampSepAt2, stampSep2 = 0x00ffffff00ffff00, 0x00000000000000ff, ':'
)

// stampFields reads the fields of the stamp b[:stampLen] from three
// 8-byte loads rather than seventeen bytes; ok is false unless every digit
// and separator is in place (the fields' ranges are the caller's to check).
func stampFields(b []byte) (year, month, day, hour, minute, sec, milli int, ok bool) {
	b = b[:stampLen]
	w0 := binary.LittleEndian.Uint64(b[1:])
	w1 := binary.LittleEndian.Uint64(b[9:])
	w2 := binary.LittleEndian.Uint64(b[17:])
	if w0&stampSepAt0 != stampSep0 || w1&stampSepAt1 != stampSep1 || w2&stampSepAt2 != stampSep2 ||
		(b[20] != ',' && b[20] != '.') ||
		!digitsAt(w0, stampDigits0) || !digitsAt(w1, stampDigits1) || !digitsAt(w2, stampDigits2) {
		return 0, 0, 0, 0, 0, 0, 0, false
	}
	// Each digit's value (subtracting '0' from the digits alone: from a
	// separator it would borrow from the next byte), then in each byte of
	// t the value of the two digits from it on: a digit is at most 9, so
	// no byte carries into the next.
	d0 := (w0 - 0x3030303030303030&stampDigits0) & stampDigits0
	d1 := (w1 - 0x3030303030303030&stampDigits1) & stampDigits1
	d2 := (w2 - 0x3030303030303030&stampDigits2) & stampDigits2
	t0, t1, t2 := d0*10+d0>>8, d1*10+d1>>8, d2*10+d2>>8
	year = int(t0&0xff)*100 + int(t0>>16&0xff)
	month, day = int(t0>>40&0xff), int(t1&0xff)
	hour, minute, sec = int(t1>>24&0xff), int(t1>>48&0xff), int(t2>>8&0xff)
	milli = int(t2>>32&0xff)*10 + int(d2>>48&0xff)
	return year, month, day, hour, minute, sec, milli, true
}

// digitsAt reports whether the bytes of w that mask selects are all ASCII
// digits: 0x30-0x39 has high nibble 3, and keeps it when 6 is added. A
// byte of 0xfa or more, which would carry into the next, fails the first
// test.
func digitsAt(w, mask uint64) bool {
	const hi = 0xf0f0f0f0f0f0f0f0
	return w&hi&mask == 0x3030303030303030&mask && (w+0x0606060606060606&mask)&hi&mask == 0x3030303030303030&mask
}

func errStamp() error {
	return &SyntaxError{Column: 2, Msg: "timestamp is not yyyy-MM-dd HH:mm:ss,SSS"}
}

// daysFromCivil returns the days from 1970-01-01 to year-month-day in the
// proleptic Gregorian calendar (Howard Hinnant's algorithm); day may run
// past the month's end.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400 // [0, 399]
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}

// RecordTime reads just the timestamp of a record's first line, cheaply
// enough to keep a watermark of every record a follower reads.
func RecordTime(rec []byte, loc *time.Location) (time.Time, bool) {
	if len(rec) < stampLen || !IsRecordStart(rec) || rec[stampLen-1] != ']' {
		return time.Time{}, false
	}
	t, err := parseStamp(rec[:stampLen], loc)
	return t, err == nil
}
