package parser

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader hands out at most n bytes a read, as a pipe does.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(b []byte) (int, error) { return c.r.Read(b[:min(len(b), c.n)]) }

// longLine is a log4j2 line of n bytes (no newline) whose text past its
// first bytes is lineA again and again: wherever a reader splits it, its
// tail may open with a refresh.
func longLine(n int) string {
	head := "[2026-11-23 10:00:00,000][main] INFO  X - "
	return (head + strings.Repeat(" "+lineA, n/(len(lineA)+1)+1))[:n]
}

// A line is over the cap only past MaxRecord bytes: cut there once, its
// head kept, one line and one record, and nothing of its tail a record.
// The Scanner called a line of exactly MaxRecord cut when its newline had
// not been read yet (reads of a pipe end anywhere) or when it ended the
// input.
func TestScannerCutsLinesOverTheCapOnly(t *testing.T) {
	for _, tc := range []struct {
		name                string
		in                  string
		lines, records, cut int64
		kept                []int // each record's length
	}{
		{"exactly the cap", longLine(MaxRecord) + "\n" + lineA + "\n", 2, 2, 0, []int{MaxRecord, len(lineA)}},
		{"the cap and one byte", longLine(MaxRecord+1) + "\n" + lineA + "\n", 2, 2, 1, []int{MaxRecord, len(lineA)}},
		{"several times the cap", longLine(5*MaxRecord+17) + "\n" + lineA + "\n", 2, 2, 1, []int{MaxRecord, len(lineA)}},
		{"exactly the cap at the end, no newline", lineA + "\n" + longLine(MaxRecord), 2, 2, 0, []int{len(lineA), MaxRecord}},
		{"a long line at the end, no newline", lineA + "\n" + longLine(3*MaxRecord), 2, 2, 1, []int{len(lineA), MaxRecord}},
	} {
		for _, rd := range []struct {
			name string
			r    func() io.Reader
		}{
			{"whole", func() io.Reader { return strings.NewReader(tc.in) }},
			{"half reads", func() io.Reader { return iotest.HalfReader(strings.NewReader(tc.in)) }},
			{"pipe reads", func() io.Reader { return chunkReader{strings.NewReader(tc.in), 64 << 10} }},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, sc := scanAll(t, rd.r())
				st := sc.Stats()
				var kept []int
				for _, r := range got {
					kept = append(kept, len(r.text))
				}
				if st.Lines != tc.lines || st.Records != tc.records || st.Cut != tc.cut || fmt.Sprint(kept) != fmt.Sprint(tc.kept) {
					t.Errorf("lines %d, records %d, cut %d, kept %v; want %d, %d, %d, %v",
						st.Lines, st.Records, st.Cut, kept, tc.lines, tc.records, tc.cut, tc.kept)
				}
			})
		}
	}
}

// CutRest reads past the rest of a cut record whatever pieces it is handed
// in, counting the lines it passes as SplitCandidates counts the record's
// lines, and stops at the next record start (or, for a proxy's log, at the
// end of the line).
func TestCutRestSkipsToTheNextRecord(t *testing.T) {
	tail := strings.Repeat(lineA, 100) // the rest of a long line: record starts, no newline
	for _, tc := range []struct {
		name       string
		in         string
		midLine    bool
		lines      bool
		skip       int // bytes read past; -1: all
		skipLines  int64
		framingErr int64
	}{
		{"the rest of a line, then a record", tail + "\n" + lineA + "\n", true, false, len(tail) + 1, 0, 0},
		{"the rest of a line, continuation lines, then a record", tail + "\n\tat X\n\n2026-11-23T10:00:00Z x\n" + lineA, true, false, len(tail) + 1 + 6 + 1 + 23, 3, 1},
		{"continuation lines, then a record", "\tat X\n" + lineA + "\n", false, false, 6, 1, 0},
		{"the rest of a line to the input's end", tail, true, false, -1, 0, 0},
		{"a continuation line to the input's end", "\tat X" + tail, false, false, -1, 1, 0},
		{"the rest of a proxy's line", tail + "\nnext line\n", true, true, len(tail) + 1, 0, 0},
	} {
		for _, piece := range []int{1, 7, 64, 4096, len(tc.in)} {
			t.Run(fmt.Sprintf("%s/pieces of %d", tc.name, piece), func(t *testing.T) {
				c := CutRest{Lines: tc.lines, MidLine: tc.midLine}
				var skipped, kept int
				done := false
				for pos := 0; !done && pos < len(tc.in); {
					end := min(pos+piece, len(tc.in))
					k, d := c.Skip([]byte(tc.in[pos-kept:end]), end == len(tc.in))
					skipped += k
					done = d
					kept = end - (pos - kept) - k
					pos = end
				}
				want := tc.skip
				if want < 0 {
					want = len(tc.in)
				}
				if skipped != want || c.Stats.Lines != tc.skipLines || c.Stats.FramingErrors != tc.framingErr {
					t.Errorf("read past %d bytes, %d lines, %d framing errors; want %d, %d, %d",
						skipped, c.Stats.Lines, c.Stats.FramingErrors, want, tc.skipLines, tc.framingErr)
				}
				if tc.skip >= 0 && !done {
					t.Errorf("the next record not found")
				}
			})
		}
	}
}

// CutRest reads past the same bytes, counting the same lines, whatever
// pieces the input comes in, and stops only at a record start (or, for a
// proxy's log, at a line's end).
func FuzzCutRest(f *testing.F) {
	f.Add([]byte("rest of a line\n\tat X\n"+lineA+"\n"), uint8(7), true, false)
	f.Add([]byte("\n2026-11-23T10:00:00Z x\n[2026-"), uint8(1), false, false)
	f.Add([]byte("tail\nnext\n"), uint8(3), true, true)
	f.Fuzz(func(t *testing.T, in []byte, piece uint8, midLine, lines bool) {
		whole := CutRest{Lines: lines, MidLine: midLine}
		wn, wdone := whole.Skip(in, true)
		if wn < 0 || wn > len(in) {
			t.Fatalf("read past %d of %d bytes", wn, len(in))
		}
		if wdone && !lines && !IsRecordStart(in[wn:]) {
			t.Fatalf("stopped at %q, no record start", in[wn:])
		}
		step := max(1, int(piece))
		c := CutRest{Lines: lines, MidLine: midLine}
		n, done, start := 0, false, 0
		for end := min(step, len(in)); !done; end = min(end+step, len(in)) {
			k, d := c.Skip(in[start:end], end == len(in))
			start += k
			n, done = start, d
			if end == len(in) {
				break
			}
		}
		if n != wn || done != wdone || c.Stats != whole.Stats {
			t.Fatalf("in pieces of %d: %d bytes, done %v, %+v; whole: %d, %v, %+v", step, n, done, c.Stats, wn, wdone, whole.Stats)
		}
	})
}

// CutLong hands on a long record's block whole, unless it ends in an
// unfinished line too short to tell from a record's start: that is read
// past first, so that the next record's "[20" at a block's end is not
// taken for the rest of the long line.
func TestCutLongLeavesAnUntoldLineEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		block   string
		lines   bool
		keep    int
		midLine bool
	}{
		{"ends a line", "[2026-x\n\tat y\n", false, 14, false},
		{"inside the long line", "[2026-" + strings.Repeat("a", 20), false, 26, true},
		{"a record's first bytes after a line end", "[2026-x\n[20", false, 8, false},
		{"five bytes of a continuation line", "[2026-x\n\tat c", false, 8, false},
		{"a continuation line's head, long enough to tell", "[2026-x\n\tat co", false, 14, true},
		{"the same in a log of lines", "a\nb", true, 3, true},
		{"no line end at all, few bytes", "[20", false, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep, rest := CutLong([]byte(tc.block), tc.lines)
			if keep != tc.keep || rest.MidLine != tc.midLine || rest.Lines != tc.lines {
				t.Errorf("CutLong(%q) = %d, MidLine %v, Lines %v; want %d, %v, %v", tc.block, keep, rest.MidLine, rest.Lines, tc.keep, tc.midLine, tc.lines)
			}
		})
	}
}
