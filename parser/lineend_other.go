//go:build !amd64

package parser

// hasPair reports whether b holds "ke" or "Au" (see classifyFirst).
func hasPair(b []byte) bool { return hasPairGeneric(b) }

// lineEnds: see lineend_amd64.go.
func lineEnds(b []byte, c byte, ends []uint64) int { return lineEndsGeneric(b, c, ends) }
