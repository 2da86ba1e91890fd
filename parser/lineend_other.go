//go:build !amd64

package parser

// lineEnd returns the offset of b's first '\n' (len(b) when it has none)
// and whether the line before it holds c (see lineend_amd64.go).
func lineEnd(b []byte, c byte) (end int, has bool) { return lineEndGeneric(b, c) }

// hasPair reports whether b holds "ke" or "Au" (see classifyFirst).
func hasPair(b []byte) bool { return hasPairGeneric(b) }

// noiseLines skips nothing where there is no vector kernel (see
// lineend_amd64.go): SplitCandidates walks every line.
func noiseLines([]byte) (skipped, lines, last int) { return 0, 0, 0 }

// hasAVX2 says whether the vector kernels run: never off amd64.
const hasAVX2 = false
