package parser

import (
	"strings"
	"testing"
)

// A containerd (CRI) line split by the runtime into P pieces, whose
// physical line was cut by its reader at MaxRecord (PushCut), is one
// record cut once: PushCut counts the partial piece, then joinPartial
// counts the joined line again when the next piece overflows MaxRecord
// (its partialCut was never set), or startRecord counts the record after
// joinPartial did.
func TestReview3PushCutOfAPartialCRILineCountsOnce(t *testing.T) {
	t.Parallel()
	const stamp = "2026-11-23T10:00:00.123456789Z stdout "
	msg := "2026-11-23 10:00:00,000 INFO  [x] - refresh "
	long := func(flag string) []byte { // a physical line cut at MaxRecord by its reader
		return []byte((stamp + flag + " " + msg + strings.Repeat("a", MaxRecord))[:MaxRecord])
	}
	short := func(flag string) []byte { return []byte(stamp + flag + " " + strings.Repeat("b", 200)) }
	for _, tc := range []struct {
		name  string
		lines [][]byte
		cut   []bool
	}{
		{"cut P then F", [][]byte{long("P"), short("F")}, []bool{true, false}},
		{"P then cut F", [][]byte{[]byte(stamp + "P " + msg + strings.Repeat("b", 200)), long("F")}, []bool{false, true}},
		{"cut P at the end", [][]byte{long("P")}, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Assembler
			records := 0
			for i, l := range tc.lines {
				push := a.Push
				if tc.cut[i] {
					push = a.PushCut
				}
				if _, ok := push(l, int64(i), int64(i+1)); ok {
					records++
				}
			}
			for {
				if _, ok := a.Flush(true); !ok {
					break
				}
				records++
			}
			if st := a.Stats(); records != 1 || st.Cut != 1 {
				t.Errorf("%d records, %d cut; want 1 record cut once", records, st.Cut)
			}
		})
	}
}
