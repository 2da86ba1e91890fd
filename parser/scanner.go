package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// MaxRecord caps one record (a line, or a line and its continuation lines).
// A longer one is cut there and counted, never fatal: one runaway line must
// not cost memory or the rest of the file.
const MaxRecord = 1 << 20

// The read buffer starts small, so a Scanner per followed file costs little,
// and grows until a whole MaxRecord line fits with room to read.
const (
	initialBuffer = 256 << 10
	maxBuffer     = 2 * MaxRecord
)

// Format is how a container runtime wrapped OpenUnison's lines, if at all.
type Format uint8

// The wrappers a Scanner recognises from a source's first line.
const (
	FormatUnknown Format = iota // nothing read yet
	FormatPlain                 // OpenUnison's own stdout
	FormatCRI                   // containerd, CRI-O: "TIME stdout F line", P marks a partial line
	FormatDocker                // docker json-file: {"log":"line\n","stream":"stdout","time":"…"}
	FormatKubectl               // kubectl logs --timestamps: "TIME line"
)

func (f Format) String() string {
	return [...]string{"unknown", "plain", "cri", "docker", "kubectl"}[f]
}

// Record is one log4j2 record as it stood in OpenUnison's output: its first
// line and any continuation lines (a stack trace), joined by '\n', with the
// container runtime's wrapping removed.
type Record struct {
	Text   []byte // valid until the next call to Scan
	Offset int64  // byte offset in the source of the record's first (wrapped) line
	Line   int64  // line number in the source of the record's first line, from 1
}

// Stats counts what a Scanner has read.
type Stats struct {
	Bytes         int64 // bytes consumed from the source
	Lines         int64 // physical lines, as the runtime wrote them
	Records       int64 // log4j2 records after joining partial and continuation lines
	Cut           int64 // records longer than MaxRecord, cut there (once a record)
	FramingErrors int64 // lines that broke the source's wrapper format and were read as plain text
	Orphans       int64 // continuation lines that came after their record was handed out early
}

// Scanner reads records from one source. It detects the wrapper format from
// the first non-empty line, joins CRI and docker partial lines and Java stack
// traces, and cuts anything longer than MaxRecord. Its memory is fixed: a read
// buffer of at most 2 MiB and two record buffers of at most MaxRecord each.
type Scanner struct {
	r     io.Reader
	buf   []byte
	start int
	end   int
	base  int64 // source offset of buf[0]
	eof   bool
	err   error
	skip  bool // discarding the rest of a cut physical line
	lines int64
	// lineCut says the line rawLine returned last was cut at MaxRecord;
	// the Assembler counts it (PushCut).
	lineCut bool
	bytes   int64
	asm     Assembler
	rec     Record
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, initialBuffer)}
}

// Scan advances to the next record; it returns false at the end of input or
// on a read error (see Err).
func (s *Scanner) Scan() bool {
	for {
		line, off, ok := s.rawLine()
		if !ok {
			break
		}
		push := s.asm.Push
		if s.lineCut {
			push = s.asm.PushCut
		}
		if rec, ok := push(line, off, s.lines); ok {
			s.rec = rec
			return true
		}
	}
	if rec, ok := s.asm.Flush(true); ok {
		s.rec = rec
		return true
	}
	return false
}

// Record returns the record Scan found.
func (s *Scanner) Record() Record { return s.rec }

// Err returns the first read error other than io.EOF.
func (s *Scanner) Err() error { return s.err }

// Stats returns the counts so far.
func (s *Scanner) Stats() Stats {
	st := s.asm.Stats()
	st.Bytes, st.Lines = s.bytes, s.lines
	return st
}

// Format returns the wrapper format detected, FormatUnknown before the first line.
func (s *Scanner) Format() Format { return s.asm.Format() }

// ProxyLog reports whether the source has shown itself a proxy's access log.
func (s *Scanner) ProxyLog() bool { return s.asm.ProxyLog() }

// Assembler turns the physical lines of one source into records: it detects
// the wrapper format, unwraps and joins partial lines, and joins continuation
// lines (stack traces) to the record before them. A Scanner feeds it from a
// reader; a follower feeds it as lines are appended and flushes it when the
// file goes quiet. The zero value is ready to use.
type Assembler struct {
	format Format
	// proxy says the source is a proxy's access log: from its first line
	// that looks like one (or like the klog lines ingress-nginx writes
	// between them, or Envoy's own), every line is a record of its own.
	// openUnison says an OpenUnison record came first: the source is
	// OpenUnison's for good, as IsProxyLog decides for scan's block reader.
	proxy, openUnison bool

	partial    [2][]byte // CRI and docker partial lines, per stream (stdout, stderr)
	partialOff [2]int64
	partialCut [2]bool

	cur, spare []byte
	curOff     int64
	curLine    int64
	curCut     bool
	nextCut    bool // the line being pushed was cut by its reader (PushCut)
	joinedCut  bool // the line being pushed was joined from pieces, cut and counted
	haveCur    bool
	afterIdle  bool // a record was handed out early; stray continuation lines are dropped
	stats      Stats
}

// Push takes one physical line (without its line ending) that began at
// source offset off and is line number n of the source. It returns the
// previous record when line starts a new one; the record is valid until the
// next call.
func (a *Assembler) Push(line []byte, off, n int64) (Record, bool) {
	payload, poff, ok := a.unwrap(line, off)
	if !ok {
		return Record{}, false
	}
	defer func() { a.joinedCut = false }()
	return a.pushPayload(payload, poff, n)
}

// PushCut is Push for a line its reader cut at MaxRecord. The cut is
// counted here, once for the record the line ends up in: a reader that
// counted the line and let the Assembler count the record its continuation
// overflows counted one record twice.
func (a *Assembler) PushCut(line []byte, off, n int64) (Record, bool) {
	a.nextCut = true
	defer func() { a.nextCut = false }()
	return a.Push(line, off, n)
}

// pushPayload is Push for an unwrapped line.
func (a *Assembler) pushPayload(payload []byte, poff, n int64) (Record, bool) {
	start := IsRecordStart(payload)
	if !a.proxy && !a.openUnison && len(payload) > 0 {
		// Decided once, by the first line that tells, as IsProxyLog
		// decides: a continuation line that looks like a proxy's (a stack
		// trace quoting a request) made an OpenUnison log a proxy's from
		// there on, which scan's block reader never did.
		switch {
		case looksProxy(payload) || isEnvoyLog(payload):
			a.proxy = true
		case start && isLog4jShape(payload):
			a.openUnison = true
		}
	}
	if !start && len(payload) > 0 {
		start = a.proxy
	}
	if a.proxy && len(bytes.TrimSpace(payload)) == 0 {
		return Record{}, false
	}
	switch {
	case a.haveCur && !start:
		if a.joinedCut {
			a.curCut = true // counted when its pieces were joined
		}
		a.appendContinuation(payload)
		return Record{}, false
	case !a.haveCur && (len(payload) == 0 || (a.afterIdle && !start)):
		if len(payload) > 0 {
			a.stats.Orphans++
		}
		if a.nextCut {
			a.stats.Cut++
		}
		return Record{}, false
	case !a.haveCur:
		a.startRecord(payload, poff, n)
		return Record{}, false
	}
	rec := a.emit()
	a.startRecord(payload, poff, n)
	return rec, true
}

// Flush hands out the record being joined. final says the input has ended,
// so partial runtime lines never finished are handed out too; otherwise the
// source only went quiet, and continuation lines that arrive after the
// flush are dropped and counted as orphans rather than made records.
func (a *Assembler) Flush(final bool) (Record, bool) {
	if final {
		for i := range a.partial {
			if p := a.partial[i]; len(p) > 0 {
				a.partial[i] = p[:0]
				if rec, ok := a.pushPayload(p, a.partialOff[i], 0); ok {
					// pushPayload copied p into its own buffer.
					return rec, true
				}
			}
		}
	}
	if !a.haveCur {
		return Record{}, false
	}
	a.haveCur = false
	a.afterIdle = !final
	return a.emit(), true
}

// Pending returns the source offset of the first byte not yet handed out in
// a record: where a restart must read again from.
func (a *Assembler) Pending() (int64, bool) {
	off, ok := int64(0), false
	if a.haveCur {
		off, ok = a.curOff, true
	}
	for i := range a.partial {
		if len(a.partial[i]) > 0 && (!ok || a.partialOff[i] < off) {
			off, ok = a.partialOff[i], true
		}
	}
	return off, ok
}

// Format returns the wrapper format detected, FormatUnknown before the first line.
func (a *Assembler) Format() Format { return a.format }

// ProxyLog reports whether the source has shown itself a proxy's access
// log, whose lines are records of their own.
func (a *Assembler) ProxyLog() bool { return a.proxy }

// Stats returns the records, cuts, framing errors and orphans so far.
func (a *Assembler) Stats() Stats { return a.stats }

func (a *Assembler) startRecord(line []byte, off, n int64) {
	a.cur = append(a.cur[:0], line...)
	a.curOff = off
	a.curLine = n
	a.curCut = a.nextCut || a.joinedCut
	if a.nextCut {
		a.stats.Cut++
	}
	a.haveCur = true
	a.afterIdle = false
}

func (a *Assembler) appendContinuation(line []byte) {
	if len(a.cur)+1+len(line) > MaxRecord {
		if !a.curCut {
			a.curCut = true
			a.stats.Cut++
		}
		return
	}
	a.cur = append(a.cur, '\n')
	a.cur = append(a.cur, line...)
}

// emit hands the current record out and keeps its buffer aside, so the
// caller's Record stays valid until the next call.
func (a *Assembler) emit() Record {
	rec := Record{Text: a.cur, Offset: a.curOff, Line: a.curLine}
	a.cur, a.spare = a.spare, a.cur
	a.stats.Records++
	return rec
}

// unwrap returns OpenUnison's own line inside a physical line, with partial
// lines joined; ok is false while a partial line waits for the rest of it.
func (a *Assembler) unwrap(line []byte, off int64) ([]byte, int64, bool) {
	if a.format == FormatUnknown {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil, 0, false
		}
		a.format = detectFormat(line)
	}
	switch a.format {
	case FormatCRI:
		return a.unwrapCRI(line, off)
	case FormatDocker:
		return a.unwrapDocker(line, off)
	case FormatKubectl:
		if n := stampPrefixLen(line); n > 0 {
			return line[n:], off, true
		}
		a.stats.FramingErrors++
	case FormatPlain:
		// A container runtime's line in a plain log (files of two formats
		// joined): read as the record before it continued, its own record
		// is lost; counted, so the summary says so.
		if stampPrefixLen(line) > 0 {
			a.stats.FramingErrors++
		}
	}
	return line, off, true
}

// unwrapCRI reads "2026-11-23T10:00:00.123456789Z stdout F line". done is
// false while a partial (P) line waits for the rest of it.
func (a *Assembler) unwrapCRI(line []byte, off int64) (payload []byte, payloadOff int64, done bool) {
	n := stampPrefixLen(line)
	rest := line[n:]
	var stream int
	switch {
	case n == 0:
		a.stats.FramingErrors++
		return line, off, true
	case bytes.HasPrefix(rest, []byte("stdout ")):
		rest = rest[len("stdout "):]
	case bytes.HasPrefix(rest, []byte("stderr ")):
		rest, stream = rest[len("stderr "):], 1
	default:
		a.stats.FramingErrors++
		return line, off, true
	}
	if len(rest) < 1 || (len(rest) > 1 && rest[1] != ' ') || (rest[0] != 'F' && rest[0] != 'P') {
		a.stats.FramingErrors++
		return line, off, true
	}
	flag := rest[0]
	if len(rest) > 1 {
		rest = rest[2:]
	} else {
		rest = rest[1:]
	}
	return a.joinPartial(stream, rest, off, flag == 'F')
}

// joinPartial collects the pieces of a line split by the runtime. Pieces
// beyond MaxRecord are dropped and the line counted as cut.
func (a *Assembler) joinPartial(stream int, piece []byte, off int64, final bool) ([]byte, int64, bool) {
	if len(a.partial[stream]) == 0 && !a.partialCut[stream] {
		if final {
			return piece, off, true // a cut (PushCut) counts with its record
		}
		a.partialOff[stream] = off
	}
	// A piece its reader cut (PushCut) cuts the joined line: counted here,
	// once for the line, as a piece past MaxRecord is.
	cut := a.nextCut
	a.nextCut = false
	if len(a.partial[stream])+len(piece) > MaxRecord {
		piece = piece[:max(0, MaxRecord-len(a.partial[stream]))]
		cut = true
	}
	if cut && !a.partialCut[stream] {
		a.partialCut[stream] = true
		a.stats.Cut++
	}
	a.partial[stream] = append(a.partial[stream], piece...)
	if !final {
		return nil, 0, false
	}
	line := a.partial[stream]
	a.partial[stream] = line[:0]
	a.joinedCut = a.partialCut[stream] // counted: its record is cut, not again
	a.partialCut[stream] = false
	return line, a.partialOff[stream], true
}

// dockerLine is docker's json-file record.
type dockerLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
}

// unwrapDocker reads {"log":"line\n","stream":"stdout","time":"…"}. Docker
// splits lines longer than 16 KiB into records whose log lacks the final
// newline; those are joined.
func (a *Assembler) unwrapDocker(line []byte, off int64) ([]byte, int64, bool) {
	var d dockerLine
	if err := json.Unmarshal(line, &d); err != nil || !bytes.Contains(line, []byte(`"log"`)) {
		a.stats.FramingErrors++
		return line, off, true
	}
	stream := 0
	if d.Stream == "stderr" {
		stream = 1
	}
	text, final := d.Log, false
	if n := len(text); n > 0 && text[n-1] == '\n' {
		text, final = text[:n-1], true
		if m := len(text); m > 0 && text[m-1] == '\r' {
			text = text[:m-1]
		}
	}
	return a.joinPartial(stream, []byte(text), off, final)
}

// detectFormat decides a source's wrapper from its first non-empty line.
func detectFormat(line []byte) Format {
	if line[0] == '{' && bytes.Contains(line, []byte(`"log"`)) {
		return FormatDocker
	}
	if n := stampPrefixLen(line); n > 0 {
		rest := line[n:]
		if (bytes.HasPrefix(rest, []byte("stdout ")) || bytes.HasPrefix(rest, []byte("stderr "))) &&
			len(rest) >= 8 && (rest[7] == 'F' || rest[7] == 'P') && (len(rest) == 8 || rest[8] == ' ') {
			return FormatCRI
		}
		return FormatKubectl
	}
	return FormatPlain
}

// stampPrefixLen returns the length of a leading RFC 3339 timestamp and the
// space after it ("2026-11-23T10:00:00.123456789Z "), or 0.
func stampPrefixLen(b []byte) int {
	const base = len(stampShape)
	if len(b) < base+2 || !stampBase(b[:base]) {
		return 0
	}
	i := base
	if b[i] == '.' {
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	i = stampZoneEnd(b, i)
	if i <= 0 || i >= len(b) || b[i] != ' ' {
		return 0
	}
	return i + 1
}

// stampShape is a stamp's date and time, for its length.
const stampShape = "2006-01-02T15:04:05"

func stampBase(b []byte) bool {
	for i, c := range b {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

// stampZoneEnd returns where the zone that starts at b[i] ("Z" or
// "+01:00") ends, or 0 when there is none.
func stampZoneEnd(b []byte, i int) int {
	switch {
	case i < len(b) && b[i] == 'Z':
		return i + 1
	case i+6 <= len(b) && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		return i + 6
	}
	return 0
}

// rawLine returns the next physical line without its line ending, and its
// source offset. A line longer than MaxRecord is returned cut and the rest of
// it skipped.
func (s *Scanner) rawLine() ([]byte, int64, bool) {
	for {
		if s.skip {
			if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
				s.start += i + 1
				s.skip = false
			} else {
				s.start = s.end
			}
		}
		if !s.skip {
			if i := bytes.IndexByte(s.buf[s.start:s.end], '\n'); i >= 0 {
				off := s.base + int64(s.start)
				s.lineCut = i > MaxRecord
				if s.lineCut {
					return s.take(MaxRecord, i+1), off, true
				}
				return s.take(i, i+1), off, true
			}
			off := s.base + int64(s.start)
			// Over the cap only past MaxRecord bytes: a line of exactly
			// MaxRecord whose newline has not been read yet (a pipe's
			// reads end anywhere), or that ends the input, is whole.
			if n := s.end - s.start; n > MaxRecord {
				s.lineCut = true
				s.skip = true
				return s.take(MaxRecord, MaxRecord), off, true
			} else if s.eof && n > 0 && s.err == nil {
				s.lineCut = false
				return s.take(n, n), off, true
			}
			// Bytes a read error cut short are no line: the error is
			// the input's end, reported by Err.
		}
		if s.eof || !s.fill() {
			return nil, 0, false
		}
	}
}

// take consumes n bytes as a line (advancing by adv, which includes the
// newline) and counts it.
func (s *Scanner) take(n, adv int) []byte {
	line := s.buf[s.start : s.start+n]
	s.start += adv
	s.lines++
	if n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// fill moves unread bytes to the front of the buffer and reads more.
func (s *Scanner) fill() bool {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:s.end])
		s.base += int64(s.start)
		s.start, s.end = 0, n
	}
	if s.end > len(s.buf)/2 && len(s.buf) < maxBuffer {
		s.buf = append(s.buf[:s.end], make([]byte, len(s.buf))...)
		s.buf = s.buf[:cap(s.buf)]
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		s.bytes += int64(n)
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return n > 0 || s.end > s.start
		}
		if n > 0 {
			return true
		}
	}
}
