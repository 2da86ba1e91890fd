package parser

import "bytes"

// lineEndGeneric is lineEnd without vector instructions: two searches, the
// second only over the line.
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
