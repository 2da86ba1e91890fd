package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// longLineUnit is a refresh record of exactly size bytes, no newline: a
// long line made of them holds a record start every size bytes, so
// wherever a reader splits it (blocks, reads and batches are all
// multiples of 512 bytes) its tail opens with what looks like a refresh.
func longLineUnit(t testing.TB, at, ip string, size int) string {
	t.Helper()
	u := strings.TrimSuffix(refreshLine(at, ip, "f"), "\n")
	pad := size - len(u)
	if pad < 0 {
		t.Fatalf("a unit of %d bytes cannot hold %q", size, u)
	}
	u = strings.TrimSuffix(refreshLine(at, ip, "f"+strings.Repeat("0", pad)), "\n")
	if len(u) != size {
		t.Fatalf("unit of %d bytes, want %d", len(u), size)
	}
	return u
}

// longLineCase is a log holding lines around parser.MaxRecord and what
// every reader must make of it.
type longLineCase struct {
	name                string
	data                string
	lines, records, cut int64
	tokens              int64 // refreshes: the real ones, none from a long line's tail
}

func longLineCases(t testing.TB) []longLineCase {
	const unit = 512
	// A real refresh, a line of 512 bytes with its newline, and refreshes
	// hidden in long lines, from another address.
	tok := longLineUnit(t, "10:00:01,000", "203.0.113.7", unit-1) + "\n"
	tok2 := longLineUnit(t, "10:00:02,000", "203.0.113.7", unit-1) + "\n"
	hidden := longLineUnit(t, "10:00:03,000", "198.51.100.99", unit)
	// long is a log4j2 line of n bytes (no newline) whose text past its
	// first 512 bytes is hidden refreshes.
	long := func(n int) string {
		head := "[2026-11-23 10:00:00,000][main] INFO  X - "
		s := head + strings.Repeat("a", unit-len(head)) + strings.Repeat(hidden, n/unit)
		return (s + strings.Repeat("b", n))[:n]
	}
	cont := "\tat io.openunison.X(X.java:1) " + strings.Repeat("c", unit-31)
	// A long line that ends just before the largest block does (scan's,
	// 2*blockSize; the least, minMaxSize), so that the next record's first
	// k bytes end the block: too few to be told from the long line's rest,
	// they and the refresh they began were read past with it.
	var atBlockEnd []longLineCase
	for _, largest := range []int{2 * blockSize, minMaxSize} {
		for _, k := range []int{1, parser.RecordStartLen - 1, parser.RecordStartLen} {
			n := largest - k - 1 // the line's bytes before its newline
			cut := int64(0)
			if n > parser.MaxRecord {
				cut = 1
			}
			atBlockEnd = append(atBlockEnd, longLineCase{name: fmt.Sprintf("a refresh's first %d bytes end a block of %d", k, largest),
				data: long(n) + "\n" + tok, lines: 2, records: 2, cut: cut, tokens: 1})
		}
	}
	return append(atBlockEnd, []longLineCase{
		{name: "a line of exactly the cap", data: long(parser.MaxRecord) + "\n" + tok, lines: 2, records: 2, cut: 0, tokens: 1},
		{name: "a line of the cap and one byte", data: long(parser.MaxRecord+1) + "\n" + tok, lines: 2, records: 2, cut: 1, tokens: 1},
		{name: "a line of five times the cap then a refresh", data: long(5*parser.MaxRecord) + "\n" + tok, lines: 2, records: 2, cut: 1, tokens: 1},
		{name: "two long lines", data: long(3*parser.MaxRecord) + "\n" + tok + long(2*parser.MaxRecord+unit) + "\n" + tok2, lines: 4, records: 4, cut: 2, tokens: 2},
		{name: "a long line at the end without a newline", data: tok + long(3*parser.MaxRecord), lines: 2, records: 2, cut: 1, tokens: 1},
		{name: "a line of exactly the cap at the end without a newline", data: tok + long(parser.MaxRecord), lines: 2, records: 2, cut: 0, tokens: 1},
		{name: "a refresh continued by a long line", data: tok + cont + strings.Repeat(hidden, 4*parser.MaxRecord/unit) + "\n" + tok2, lines: 3, records: 2, cut: 1, tokens: 2},
	}...)
}

// pipeReader hands out at most 64 KiB a read, as a pipe does.
type pipeReader struct{ r io.Reader }

func (p pipeReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), 64<<10)]) }

// A line longer than parser.MaxRecord is one line and one record, cut once
// (its first MaxRecord bytes kept, as the README says), on every path a
// log is read by: the Scanner, scan's block reader over reads and over a
// mapping, whatever the block size, and watch's follower and assembler.
// Nothing in its tail becomes a record: a refresh written past the cut is
// no event. The block reader once cut a line longer than its largest block
// into pieces, each a line and a record of its own (a 5 MiB line read as
// "lines 3, records 3"), and the follower handed a long line on in pieces
// the watcher read as lines; a piece that began with a record start became
// an event.
func TestLongLinesCountedOnceOnEveryPath(t *testing.T) {
	t.Parallel()
	for _, tc := range longLineCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := []byte(tc.data)
			path := writeTemp(t, data)
			check := func(how string, lines, records, cut int64, events map[parser.Kind]int64) {
				t.Helper()
				if lines != tc.lines || records != tc.records || cut != tc.cut || events[parser.KindTokenOK] != tc.tokens {
					t.Errorf("%s: lines %d, records %d, cut %d, refreshes %d; want %d, %d, %d, %d",
						how, lines, records, cut, events[parser.KindTokenOK], tc.lines, tc.records, tc.cut, tc.tokens)
				}
			}
			run := func(src eventSource) Summary { return summarize(t, src) }
			sources := []struct {
				name string
				src  func() eventSource
			}{
				{"scanner, half reads", func() eventSource {
					return &scannerSource{readerCounts: readerCounts{name: "x"}, sc: parser.NewScanner(iotest.HalfReader(bytes.NewReader(data)))}
				}},
				{"scanner, pipe reads", func() eventSource {
					return &scannerSource{readerCounts: readerCounts{name: "x"}, sc: parser.NewScanner(pipeReader{bytes.NewReader(data)})}
				}},
			}
			for _, size := range []int{4 << 10, 64 << 10, blockSize} {
				sources = append(sources,
					struct {
						name string
						src  func() eventSource
					}{fmt.Sprintf("blocks of %d, pipe reads", size), func() eventSource {
						return readBlocks(context.Background(), readerCounts{name: "x"}, pipeReader{bytes.NewReader(data)}, nil, heapBuffers(size), nil, false)
					}},
					struct {
						name string
						src  func() eventSource
					}{fmt.Sprintf("blocks of %d, mapped", size), func() eventSource {
						return mappedBlocks(t, readerCounts{name: "x"}, path, size, false)
					}})
			}
			for _, s := range sources {
				sum := run(s.src())
				check(s.name, sum.Lines, sum.Records, sum.Cut, sum.Events)
				if sum.Bytes != int64(len(data)) || sum.ParseErrors != 0 {
					t.Errorf("%s: %d bytes, %d parse errors; want %d, none", s.name, sum.Bytes, sum.ParseErrors, len(data))
				}
			}
			for _, prep := range []int{len(data) + 1, 1} {
				lines, st := watchLongLines(t, writeTemp(t, data), data, tc.records, prep)
				check(fmt.Sprintf("watch, batches parsed ahead from %d bytes", prep), lines, st.Records, st.Cut, map[parser.Kind]int64{parser.KindTokenOK: st.Events[parser.KindTokenOK]})
			}
		})
	}
}

// watchLongLines follows the file at path, holding data, with a Watcher
// until it has read records records and the file's every byte, and
// returns the lines it counted and its stats. A last line without a
// newline is finished, as its writer would, once the watcher has read
// something: the follower waits for a line's end.
func watchLongLines(t *testing.T, path string, data []byte, records int64, prepareMin int) (int64, WatchStats) {
	t.Helper()
	opt := WatchOptions{Rules: rules.Builtin(), Metrics: NewMetrics(prom.NewRegistry(), nil), prepareMin: prepareMin}
	collectAlertKeys(&opt)
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := follow(ctx, source.Options{Patterns: []string{path}, Poll: 20 * time.Millisecond}, 64)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.WithoutCancel(ctx), batches) }()
	size := float64(len(data))
	read := func() float64 { return opt.Metrics.Bytes.WithLabelValues(path).Value() }
	if !bytes.HasSuffix(data, []byte("\n")) {
		testsync.WaitFor(t, "the first lines read", func() bool { return read() > 0 })
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		size++
	}
	testsync.WaitFor(t, "every record and byte read", func() bool {
		return opt.Metrics.Records.Value() >= float64(records) && read() >= size
	})
	lines := int64(opt.Metrics.Lines.WithLabelValues(path).Value())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return lines, w.stats
}

// A checkpoint taken while a long line's rest has not come yet (its head
// handed on and cut, then flushed when the file went quiet) resumes at the
// line's start, not inside it: from there a restart would read the rest as
// a line, and a record start in it as a record.
func TestCheckpointInsideALongLineResumesAtItsStart(t *testing.T) {
	t.Parallel()
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{path: "x"}
	head := "[2026-11-23 10:00:00,000][main] INFO  X - " + strings.Repeat("a", 2*parser.MaxRecord)
	const at = 1000 // the lines before it were read and made records
	if _, err := w.pushLines(context.Background(), s, []byte(head), at); err != nil {
		t.Fatal(err)
	}
	s.end = at + int64(len(head))
	if _, ok := s.asm.Flush(false); !ok {
		t.Fatal("no record flushed")
	}
	if pos := s.resumePosition(); pos.Offset != at {
		t.Errorf("resumes at %d, want the long line's start %d (read up to %d)", pos.Offset, at, s.end)
	}
	// Its rest, with a record start in it, is no line; the record after it is.
	rest := "[2026-11-23 10:00:00,500][XNIO-1 task-9] INFO  AccessLog - " + strings.Repeat("b", 100) + "\n" + refreshLine("10:00:01,000", "203.0.113.7", "fa")
	n, err := w.pushLines(context.Background(), s, []byte(rest), s.end)
	if err != nil || n != 1 {
		t.Errorf("%d lines pushed (err %v), want the refresh's alone", n, err)
	}
}
