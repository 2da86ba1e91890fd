package parser

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The functions below are Parse as it stood before it was tuned for speed,
// kept as the reference the tuned one must agree with on every input:
// the same Event, field by field, and the same error.

var (
	loggerAccessLog = []byte("AccessLog")
	loggerOIDC      = []byte("OpenIDConnectIdP")
)

// refHeader is the header splitHeader returned then.
type refHeader struct {
	threadEnd int // index of the ']' closing the thread
	level     []byte
	logger    []byte
	msg       int // index where the message starts
}

func refSplitHeader(line []byte) (refHeader, error) {
	var h refHeader
	if len(line) < minHeader || line[0] != '[' || line[stampLen-1] != ']' || line[stampLen] != '[' {
		return h, &SyntaxError{Column: 1, Msg: "not a log4j2 record: want [yyyy-MM-dd HH:mm:ss,SSS][thread] LEVEL Logger - message"}
	}
	end := refThreadEnd(line)
	if end < 0 {
		return h, &SyntaxError{Column: stampLen + 1, Msg: "thread name is not closed by \"] \""}
	}
	h.threadEnd = end
	rest := line[end+2:]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 1 {
		return h, &SyntaxError{Column: end + 3, Msg: "missing level"}
	}
	h.level = rest[:sp]
	i := sp
	for i < len(rest) && rest[i] == ' ' {
		i++
	}
	loggerStart := end + 2 + i
	dash := bytes.Index(line[loggerStart:], sepField)
	if dash < 1 {
		return h, &SyntaxError{Column: loggerStart + 1, Msg: "missing \" - \" after the logger name"}
	}
	h.logger = line[loggerStart : loggerStart+dash]
	h.msg = loggerStart + dash + 3
	return h, nil
}
func refParse(rec []byte, loc *time.Location) (Event, error) {
	// One string holds the record and every field is a substring of it, so
	// a parsed event costs one allocation. The grammar is read on the bytes;
	// the same offsets then cut the string.
	raw := string(rec)
	ev := Event{Raw: raw}
	line := rec
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	line = trimCR(line)
	if refClassifyLine(line) == KindProxy {
		// Proxy records are read by one walk, held to their fields by
		// TestParseProxyLines; this reference is OpenUnison's grammar's.
		return ev, parseProxy(&ev, raw, line, loc)
	}
	h, err := refSplitHeader(line)
	if err != nil {
		return ev, err
	}
	t, err := refParseStamp(line[:stampLen], loc)
	if err != nil {
		return ev, err
	}
	ev.Time = t
	ev.Thread = raw[stampLen+1 : h.threadEnd]
	ev.Level = raw[h.threadEnd+2 : h.threadEnd+2+len(h.level)]
	ev.Logger = raw[h.msg-3-len(h.logger) : h.msg-3]
	msg := line[h.msg:]
	ev.Message = raw[h.msg:len(line)]
	switch {
	case bytes.Equal(h.logger, loggerAccessLog) && len(msg) > 0 && msg[0] == '[':
		err = refParseTagged(&ev, raw, h.msg, len(line), true)
	case bytes.Equal(h.logger, loggerOIDC) && refNamesReuse(msg):
		err = refParseTagged(&ev, raw, h.msg, len(line), false)
	}
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			se.Column += h.msg
		}
		return ev, err
	}
	ev.Kind = refKindOf(&ev)
	return ev, nil
}
func refParseTagged(ev *Event, raw string, from, to int, hasApp bool) error {
	msg := raw[from:to]
	if !hasApp && !strings.HasPrefix(msg, tagExpired) {
		i := 0
		for i < len(msg) && msg[i] == tagExpired[i] {
			i++
		}
		if i == len(msg) {
			return &SyntaxError{Column: i + 1, Msg: `record ends inside "[ExpiredRefreshTokenUsed] - "`}
		}
		return &SyntaxError{Column: i + 1, Msg: `want " - " after [ExpiredRefreshTokenUsed]`}
	}
	end := strings.Index(msg, "] - ")
	if end < 2 {
		return &SyntaxError{Column: 1, Msg: "tag is not closed by \"] - \""}
	}
	ev.Tag = msg[1:end]
	pos := end + len("] - ")
	if hasApp {
		app := strings.Index(msg[pos:], " - ")
		if app < 0 {
			return &SyntaxError{Column: len(msg) + 1, Msg: "record ends in the application: want \" - \" after it"}
		}
		ev.App = msg[pos : pos+app]
		pos += app + 3
	}
	u := strings.Index(msg[pos:], " - ")
	if u < 0 {
		return &SyntaxError{Column: len(msg) + 1, Msg: "record ends in the URL: want \" - \" after it"}
	}
	ev.URL = msg[pos : pos+u]
	ev.IdP = refIdpName(ev.URL)
	pos += u + 3
	rest := msg[pos:]
	body, ip, session, ok := refSplitTrailerString(rest)
	if !ok {
		// Where a broken trailer breaks is said by one plain function on
		// the error path, which TestDamagedEventLines holds to its
		// columns; this reference holds Parse to calling it when it should.
		at, what := trailerError(rest)
		return &SyntaxError{Column: pos + at + 1, Msg: what}
	}
	d := strings.LastIndex(body, " - ")
	if d < 0 {
		return &SyntaxError{Column: pos + len(body) + 1, Msg: "missing \" - \" between the user DN and the message"}
	}
	ev.User = body[:d]
	ev.Message = body[d+3:]
	ev.Session = session
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return &SyntaxError{Column: pos + len(body) + 3, Msg: fmt.Sprintf("bad IP address %s", quote(ip))}
	}
	ev.IP = addr.Unmap()
	return nil
}

// refNamesReuse is namesReuse: the message opens with the reuse's tag, or
// is cut inside it.
func refNamesReuse(msg []byte) bool {
	return bytes.HasPrefix(msg, []byte("[ExpiredRefreshTokenUsed]")) ||
		(len(msg) > 0 && strings.HasPrefix("[ExpiredRefreshTokenUsed]", string(msg)))
}

func refSplitTrailerString(msg string) (body, ip, session string, ok bool) {
	n := len(msg)
	if n < len("x [] - []") || msg[n-1] != ']' {
		return "", "", "", false
	}
	open := strings.LastIndexByte(msg[:n-1], '[')
	if open < len(" [] - ") || msg[open-len("] - "):open] != "] - " {
		return "", "", "", false
	}
	ipEnd := open - len("] - ")
	ipOpen := strings.LastIndexByte(msg[:ipEnd], '[')
	if ipOpen < 1 || msg[ipOpen-1] != ' ' {
		return "", "", "", false
	}
	return msg[:ipOpen-1], msg[ipOpen+1 : ipEnd], msg[open+1 : n-1], true
}
func refKindOf(ev *Event) Kind {
	switch {
	case ev.Logger == "OpenIDConnectIdP" && ev.Tag == "" && (strings.HasPrefix(ev.Message, "Session does not exist from refresh_token") || strings.HasPrefix(ev.Message, "Session expired")):
		return KindRefusal
	case ev.Logger == "OpenIDConnectIdP" && ev.Tag == "ExpiredRefreshTokenUsed":
		return KindGraceReuse
	case ev.Logger != "AccessLog":
		return KindOther
	case ev.Tag == "AuSuccess":
		return KindLogin
	case !strings.HasSuffix(ev.URL, "/token") || !strings.Contains(ev.URL, "/auth/idp/"):
		return KindOther
	case ev.Tag == "AzFail":
		return KindTokenFail
	case ev.Tag == "AzSuccess" && !IsAnonymousDN(ev.User):
		return KindTokenOK
	}
	return KindOther
}
func refIdpName(url string) string {
	const marker = "/auth/idp/"
	i := strings.Index(url, marker)
	if i < 0 {
		return ""
	}
	name := url[i+len(marker):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return name
}
func refParseStamp(b []byte, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range b[from:to] {
			if !isDigit(c) {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	if b[5] != '-' || b[8] != '-' || b[11] != ' ' || b[14] != ':' || b[17] != ':' || (b[20] != ',' && b[20] != '.') {
		return time.Time{}, &SyntaxError{Column: 2, Msg: "timestamp is not yyyy-MM-dd HH:mm:ss,SSS"}
	}
	year, month, day := num(1, 5), num(6, 8), num(9, 11)
	hour, minute, sec, milli := num(12, 14), num(15, 17), num(18, 20), num(21, 24)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 60 || milli < 0 {
		return time.Time{}, &SyntaxError{Column: 2, Msg: "timestamp is not yyyy-MM-dd HH:mm:ss,SSS"}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, milli*int(time.Millisecond), loc), nil
}

func sameParse(t *testing.T, rec []byte, loc *time.Location) {
	t.Helper()
	got, gerr := Parse(rec, loc)
	want, werr := refParse(rec, loc)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("Parse error %v, reference %v for %q", gerr, werr, rec)
	}
	// Times compare by instant and by zone, as the reference made them.
	if !got.Time.Equal(want.Time) || got.Time.Location() != want.Time.Location() || got.Time != want.Time {
		t.Fatalf("Parse time %v, reference %v for %q", got.Time, want.Time, rec)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse\n%+v\nreference\n%+v\nfor %q", got, want, rec)
	}
}

var parseEdgeRecords = []string{
	"[2026-02-30 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"[2024-02-29 23:59:60,999][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"[0000-01-01 00:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [s]",
	"[9999-12-31 23:59:59.999][t] INFO  AccessLog - [AzFail] - a - https://x/auth/idp//token - uid=a,o=T - NONE [::1] - [s]",
	"[2026-13-01 00:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 24:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:0x:00,000][t] INFO  AccessLog - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]\n\tat x\n\tat y",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [A] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a b - c - https://x/auth/idp/k/token - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a -b - c - https://x/auth/idp/k/token - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [192.0.2.1] - [s",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [192.0.2.1] -[s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m 192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [192.0.2.1] - []",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - [d] - [x] - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [192.0.2.999] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [::ffff:192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - d - m [fe80::1%eth0] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - a - https://x/auth/idp/k/token - uid=Anonymous,o=Tremolo - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AuSuccess] - a - https://x/auth/idp/k/auth - d - 1 / x [192.0.2.1] - [s]\r",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog - NotTagged - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  AccessLog -",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://x/auth/idp/k/token - d - Expired [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://x/token - d - Expired [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - u",
	"[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [Other] - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t]  INFO  AccessLog - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO AccessLog- [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000][t] INFO  Access Log - [AzSuccess] - a - u - d - m [192.0.2.1] - [s]",
	"[2026-11-23 10:00:00,000]",
	"[2026-11-23 10:00:00,000][thread without end",
	"",
	"x",
}

func TestParseMatchesReference(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	recs := classifyCorpus(t)
	for _, r := range parseEdgeRecords {
		recs = append(recs, []byte(r))
	}
	for _, rec := range recs {
		for _, loc := range []*time.Location{nil, time.UTC, berlin, time.FixedZone("odd", -(3*3600 + 17*60 + 30))} {
			sameParse(t, rec, loc)
		}
	}
}

func FuzzParseMatchesReference(f *testing.F) {
	seedLines(f, false)
	for _, r := range parseEdgeRecords {
		f.Add([]byte(r))
	}
	for _, l := range damagedLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		sameParse(t, rec, nil)
		sameParse(t, rec, time.FixedZone("odd", 5400))
	})
}

// daysFromCivil counts days as time.Date does, past month ends included,
// over every year a log4j2 timestamp can hold.
func TestDaysFromCivil(t *testing.T) {
	for year := 0; year <= 9999; year++ {
		if year%97 != 0 && year > 5 && year < 9994 && (year < 1890 || year > 2110) {
			continue
		}
		for month := 1; month <= 12; month++ {
			for day := 1; day <= 31; day++ {
				want := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Unix()
				if got := daysFromCivil(year, month, day) * 86400; got != want {
					t.Fatalf("%04d-%02d-%02d: %d s, time.Date says %d", year, month, day, got, want)
				}
			}
		}
	}
}
