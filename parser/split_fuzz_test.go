package parser

import (
	"bytes"
	"testing"
)

// SplitCandidates classifies each record as it opens and counts records
// as they close; whatever the bytes, it must agree with the reference walk
// and ClassifyLine on records, kinds, offsets, line numbers and counts.
func FuzzSplitCandidates(f *testing.F) {
	seedLines(f, true)
	f.Add([]byte("\n \t\n" + lineA + "\r\n" + trace + "\n\n" + lineB))
	f.Add([]byte("[2026-\n[2026-1\n" + lineC + "\n"))
	f.Add([]byte("x\n" + lineA + "\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sameCandidates(t, in)
	})
}

// indexSep stops only at spaces; bytes.Index is its reference.
func FuzzIndexSep(f *testing.F) {
	f.Add([]byte("k8sidp - https://x/auth/idp/k/token - uid=a - m"))
	f.Add([]byte("a -b  - -  -"))
	f.Add([]byte("12345678 - "))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := indexSep(b), bytes.Index(b, sepField); got != want {
			t.Fatalf("indexSep(%q) = %d, want %d", b, got, want)
		}
	})
}
