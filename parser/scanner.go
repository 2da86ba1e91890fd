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
	Cut           int64 // lines or records longer than MaxRecord, cut there
	FramingErrors int64 // lines that broke the source's wrapper format and were read as plain text
}

// Scanner reads records from one source. It detects the wrapper format from
// the first non-empty line, joins CRI and docker partial lines and Java stack
// traces, and cuts anything longer than MaxRecord. Its memory is fixed: a read
// buffer of at most 2 MiB and two record buffers of at most MaxRecord each.
type Scanner struct {
	r      io.Reader
	buf    []byte
	start  int
	end    int
	base   int64 // source offset of buf[0]
	eof    bool
	err    error
	skip   bool // discarding the rest of a cut physical line
	format Format

	partial    [2][]byte // CRI and docker partial lines, per stream (stdout, stderr)
	partialOff [2]int64
	partialCut [2]bool

	cur, spare []byte
	curOff     int64
	curLine    int64
	curCut     bool
	haveCur    bool
	rec        Record
	stats      Stats
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, buf: make([]byte, initialBuffer)}
}

// Scan advances to the next record; it returns false at the end of input or
// on a read error (see Err).
func (s *Scanner) Scan() bool {
	for {
		line, off, ok := s.payload()
		if !ok {
			break
		}
		if s.haveCur && !IsRecordStart(line) {
			s.appendContinuation(line)
			continue
		}
		if !s.haveCur {
			if len(line) == 0 {
				continue
			}
			s.startRecord(line, off)
			continue
		}
		s.emit()
		s.startRecord(line, off)
		return true
	}
	if s.haveCur {
		s.emit()
		s.haveCur = false
		return true
	}
	return false
}

func (s *Scanner) startRecord(line []byte, off int64) {
	s.cur = append(s.cur[:0], line...)
	s.curOff = off
	s.curLine = s.stats.Lines
	s.curCut = false
	s.haveCur = true
}

func (s *Scanner) appendContinuation(line []byte) {
	if len(s.cur)+1+len(line) > MaxRecord {
		if !s.curCut {
			s.curCut = true
			s.stats.Cut++
		}
		return
	}
	s.cur = append(s.cur, '\n')
	s.cur = append(s.cur, line...)
}

// emit hands the current record out and keeps its buffer aside, so the
// caller's Record stays valid until the next Scan.
func (s *Scanner) emit() {
	s.rec = Record{Text: s.cur, Offset: s.curOff, Line: s.curLine}
	s.cur, s.spare = s.spare, s.cur
	s.stats.Records++
}

// Record returns the record Scan found.
func (s *Scanner) Record() Record { return s.rec }

// Err returns the first read error other than io.EOF.
func (s *Scanner) Err() error { return s.err }

// Stats returns the counts so far.
func (s *Scanner) Stats() Stats { return s.stats }

// Format returns the wrapper format detected, FormatUnknown before the first line.
func (s *Scanner) Format() Format { return s.format }

// payload returns the next line of OpenUnison's own output, unwrapped and
// with partial lines joined, and the source offset where it began.
func (s *Scanner) payload() ([]byte, int64, bool) {
	for {
		line, off, ok := s.rawLine()
		if !ok {
			return s.flushPartials()
		}
		if s.format == FormatUnknown {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			s.format = detectFormat(line)
		}
		switch s.format {
		case FormatCRI:
			if p, poff, done := s.unwrapCRI(line, off); done {
				return p, poff, true
			}
		case FormatDocker:
			if p, poff, done := s.unwrapDocker(line, off); done {
				return p, poff, true
			}
		case FormatKubectl:
			if n := stampPrefixLen(line); n > 0 {
				return line[n:], off, true
			}
			s.stats.FramingErrors++
			return line, off, true
		default:
			return line, off, true
		}
	}
}

// flushPartials returns partial lines left open at the end of the input: a
// line the runtime never finished is still OpenUnison's output.
func (s *Scanner) flushPartials() ([]byte, int64, bool) {
	for i := range s.partial {
		if len(s.partial[i]) > 0 {
			p := s.partial[i]
			s.partial[i] = p[:0]
			return p, s.partialOff[i], true
		}
	}
	return nil, 0, false
}

// unwrapCRI reads "2026-11-23T10:00:00.123456789Z stdout F line". done is
// false while a partial (P) line waits for the rest of it.
func (s *Scanner) unwrapCRI(line []byte, off int64) (payload []byte, payloadOff int64, done bool) {
	n := stampPrefixLen(line)
	rest := line[n:]
	var stream int
	switch {
	case n == 0:
		s.stats.FramingErrors++
		return line, off, true
	case bytes.HasPrefix(rest, []byte("stdout ")):
		rest = rest[len("stdout "):]
	case bytes.HasPrefix(rest, []byte("stderr ")):
		rest, stream = rest[len("stderr "):], 1
	default:
		s.stats.FramingErrors++
		return line, off, true
	}
	if len(rest) < 1 || (len(rest) > 1 && rest[1] != ' ') || (rest[0] != 'F' && rest[0] != 'P') {
		s.stats.FramingErrors++
		return line, off, true
	}
	flag := rest[0]
	if len(rest) > 1 {
		rest = rest[2:]
	} else {
		rest = rest[1:]
	}
	return s.joinPartial(stream, rest, off, flag == 'F')
}

// joinPartial collects the pieces of a line split by the runtime. Pieces
// beyond MaxRecord are dropped and the line counted as cut.
func (s *Scanner) joinPartial(stream int, piece []byte, off int64, final bool) ([]byte, int64, bool) {
	if len(s.partial[stream]) == 0 && !s.partialCut[stream] {
		if final {
			return piece, off, true
		}
		s.partialOff[stream] = off
	}
	if len(s.partial[stream])+len(piece) > MaxRecord {
		piece = piece[:max(0, MaxRecord-len(s.partial[stream]))]
		if !s.partialCut[stream] {
			s.partialCut[stream] = true
			s.stats.Cut++
		}
	}
	s.partial[stream] = append(s.partial[stream], piece...)
	if !final {
		return nil, 0, false
	}
	line := s.partial[stream]
	s.partial[stream] = line[:0]
	s.partialCut[stream] = false
	return line, s.partialOff[stream], true
}

// dockerLine is docker's json-file record.
type dockerLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
}

// unwrapDocker reads {"log":"line\n","stream":"stdout","time":"…"}. Docker
// splits lines longer than 16 KiB into records whose log lacks the final
// newline; those are joined.
func (s *Scanner) unwrapDocker(line []byte, off int64) ([]byte, int64, bool) {
	var d dockerLine
	if err := json.Unmarshal(line, &d); err != nil || !bytes.Contains(line, []byte(`"log"`)) {
		s.stats.FramingErrors++
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
	return s.joinPartial(stream, []byte(text), off, final)
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
	const base = len("2006-01-02T15:04:05")
	if len(b) < base+2 {
		return 0
	}
	for i, c := range b[:base] {
		switch i {
		case 4, 7:
			if c != '-' {
				return 0
			}
		case 10:
			if c != 'T' {
				return 0
			}
		case 13, 16:
			if c != ':' {
				return 0
			}
		default:
			if !isDigit(c) {
				return 0
			}
		}
	}
	i := base
	if b[i] == '.' {
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	switch {
	case i < len(b) && b[i] == 'Z':
		i++
	case i+6 <= len(b) && (b[i] == '+' || b[i] == '-') && b[i+3] == ':':
		i += 6
	default:
		return 0
	}
	if i >= len(b) || b[i] != ' ' {
		return 0
	}
	return i + 1
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
				if i > MaxRecord {
					s.stats.Cut++
					return s.take(MaxRecord, i+1), off, true
				}
				return s.take(i, i+1), off, true
			}
			off := s.base + int64(s.start)
			if n := s.end - s.start; n >= MaxRecord {
				s.stats.Cut++
				s.skip = true
				return s.take(MaxRecord, MaxRecord), off, true
			} else if s.eof && n > 0 {
				return s.take(n, n), off, true
			}
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
	s.stats.Lines++
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
		s.stats.Bytes += int64(n)
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
