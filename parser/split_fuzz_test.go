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
	for _, l := range damagedLines() {
		f.Add(damagedBlock(l))
	}
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

// indexOIDC and indexMarker look for a rare byte of their needle first;
// bytes.Index is their reference, wherever the needle or its rare byte is.
func FuzzIndexByRare(f *testing.F) {
	f.Add([]byte("x OpenIDConnectIdP - y P OpenIDConnectIdP"))
	f.Add([]byte("GET /auth/idp/k8sIdp/token h /auth/idp/"))
	f.Add([]byte("PPPP hhhh /auth/id OpenIDConnectId"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := indexOIDC(b), bytes.Index(b, []byte(oidcPrefix)); got != want {
			t.Fatalf("indexOIDC(%q) = %d, want %d", b, got, want)
		}
		if got, want := indexMarker(b), bytes.Index(b, []byte(idpMarker)); got != want {
			t.Fatalf("indexMarker(%q) = %d, want %d", b, got, want)
		}
	})
}

// classifyFirst rules lines out before ClassifyLine reads them (by their
// last byte, OpenIDConnectIdP's rarest byte, and the pairs "ke" and "Au");
// it must give ClassifyLine's kind for every line without '\r' at its
// end, which is how SplitCandidates hands it lines.
func FuzzClassifyFirst(f *testing.F) {
	seedLines(f, false)
	for _, l := range classifyEdgeLines {
		f.Add([]byte(l))
	}
	f.Add([]byte(lineA))
	f.Add([]byte(lineC))
	f.Add([]byte("[2026-11-23 10:01:00,100][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/auth - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f1]"))
	for _, l := range damagedLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		line = trimCR(line)
		if len(line) == 0 {
			return
		}
		rare := bytes.IndexByte(line, oidcPrefix[oidcRare]) >= 0
		if got, want := classifyFirst(line, rare), ClassifyLine(line); got != want {
			t.Fatalf("classifyFirst %s, ClassifyLine %s for %q", got, want, line)
		}
	})
}
