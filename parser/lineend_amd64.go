package parser

import "golang.org/x/sys/cpu"

// lineEnd returns the offset of b's first '\n' (len(b) when it has none)
// and whether the line before it holds c. SplitCandidates walks a block a
// line at a time with it: the walk and the search for OpenIDConnectIdP's
// rarest byte are one pass over the bytes instead of two, each of which
// cost as much as the whole walk (README, "Where a scan's time goes").
func lineEnd(b []byte, c byte) (end int, has bool) {
	if hasAVX2 {
		return lineEndAVX2(b, c)
	}
	return lineEndGeneric(b, c)
}

var hasAVX2 = cpu.X86.HasAVX2

// lineEndAVX2 is lineEnd 32 bytes at a time (lineend_amd64.s). It never
// loads past b's end: a block may end at the end of a mapped file.
//
//go:noescape
func lineEndAVX2(b []byte, c byte) (end int, has bool)

// hasPair reports whether b holds "ke" or "Au" (see classifyFirst).
func hasPair(b []byte) bool {
	if hasAVX2 {
		return pairsAVX2(b)
	}
	return hasPairGeneric(b)
}

// pairsAVX2 is hasPair 32 pairs at a time (lineend_amd64.s). It never
// loads past b's end.
//
//go:noescape
func pairsAVX2(b []byte) bool

// noiseLines skips the lines at the start of b, which starts a line, that
// SplitCandidates would find noise by classifyFirst's first tests alone: a
// log4j2 line opening a record that either does not end in ']' and holds
// neither "OpenIDConnectIdP" nor a '[' besides those opening its stamp and
// its thread (an access line cut short holds its tag), or ends in ']' and
// holds neither a 'P' nor, past its stamp, "Au" or "ke". It returns how
// many bytes that is (a line start), how many lines, and the offset of the last one skipped. It may
// stop early (a line it cannot rule out, one of 4 KB or more, one within
// 32 bytes of b's end), never late. Nine lines in ten of OpenUnison's log
// are such noise, and walking them here, one vector pass a line and
// nothing else, is what spares the walk its per-line work (README, "Where
// a scan's time goes").
func noiseLines(b []byte) (skipped, lines, last int) {
	if hasAVX2 {
		return noiseLinesAVX2(b)
	}
	return 0, 0, 0
}

// noiseLinesAVX2 is noiseLines (lineend_amd64.s).
//
//go:noescape
func noiseLinesAVX2(b []byte) (skipped, lines, last int)
