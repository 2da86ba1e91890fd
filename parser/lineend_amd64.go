package parser

import "golang.org/x/sys/cpu"

var hasAVX2 = cpu.X86.HasAVX2

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

// lineEnds finds the ends of up to len(ends) lines of b from its start:
// ends[i] is the offset in b of line i's '\n' (len(b) for a last line
// without one) times two, plus one when the line holds c. It returns the
// lines found, fewer than len(ends) only at b's end. SplitCandidates walks
// a block with it: the walk and the search for OpenIDConnectIdP's rarest
// byte are one pass over the bytes instead of two, each of which cost as
// much as the whole walk (README, "Where a scan's time goes").
func lineEnds(b []byte, c byte, ends []uint64) int {
	if hasAVX2 {
		return lineEndsAVX2(b, c, ends)
	}
	return lineEndsGeneric(b, c, ends)
}

// lineEndsAVX2 is lineEnds 64 bytes at a time (lineend_amd64.s). It never
// loads past b's end.
//
//go:noescape
func lineEndsAVX2(b []byte, c byte, ends []uint64) int
