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
