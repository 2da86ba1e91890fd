package parser

import "bytes"

// lineEndGeneric returns the offset of b's first '\n' (len(b) when it has
// none) and whether the line before it holds c: two searches, the second
// only over the line.
func lineEndGeneric(b []byte, c byte) (end int, has bool) {
	end = bytes.IndexByte(b, '\n')
	if end < 0 {
		end = len(b)
	}
	return end, bytes.IndexByte(b[:end], c) >= 0
}

// hasPairGeneric is hasPair without vector instructions.
func hasPairGeneric(b []byte) bool {
	return bytes.Contains(b, []byte("ke")) || bytes.Contains(b, []byte("Au"))
}

// lineEndsGeneric is lineEnds without vector instructions.
func lineEndsGeneric(b []byte, c byte, ends []uint64) int {
	n, pos := 0, 0
	for ; n < len(ends) && pos < len(b); n++ {
		end, has := lineEndGeneric(b[pos:], c)
		ends[n] = uint64(pos+end) << 1
		if has {
			ends[n] |= 1
		}
		pos += end + 1
	}
	return n
}
