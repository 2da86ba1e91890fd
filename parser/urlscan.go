package parser

import (
	"math/bits"
	"strings"
)

// scanURL reads "URL - …" (s is a message from its URL on) in one pass,
// eight bytes a step: it returns the index of the " - " that ends the
// URL, or -1, and within the URL the IdP name of "…/auth/idp/<name>/…"
// as s[name:nameEnd], with ok false when the URL holds no "/auth/idp/".
// indexSepString then idpName read the URL twice, through calls into the
// vector search, which cost more to start than a URL takes to read.
func scanURL(s string) (u, name, nameEnd int, ok bool) {
	idp := -1 // the first marker
	for i := 0; i < len(s); i += 8 {
		// w, and the word one byte on: bytes past the end of s read as
		// 0, which bytesEqual never matches for a printable byte.
		var w, w1 uint64
		if i+9 <= len(s) {
			w, w1 = le64(s[i:]), le64(s[i+1:])
		} else {
			w, w1 = loadTail(s, i), loadTail(s, i+1)
		}
		if idp < 0 {
			// Look for the marker's "dp", which URLs rarely hold
			// elsewhere ('/' is in every URL several times, and a loop
			// over its matches mispredicted): the pairs of a 'd' in w
			// and a 'p' in w1.
			for m := bytesEqual(w, 'd') & bytesEqual(w1, 'p'); m != 0; m &= m - 1 {
				k := i + bits.TrailingZeros64(m)>>3 - len("/auth/i") // the marker's 'd'
				if k >= 0 && k+len(idpMarker) <= len(s) && s[k:k+len(idpMarker)] == idpMarker {
					idp = k
					break
				}
			}
		}
		for m := bytesEqual(w, ' '); m != 0; m &= m - 1 {
			k := i + bits.TrailingZeros64(m)>>3
			if s[k] == ' ' && k+3 <= len(s) && s[k+1] == '-' && s[k+2] == ' ' {
				name, nameEnd, ok = urlName(s[:k], idp)
				return k, name, nameEnd, ok
			}
		}
	}
	return -1, 0, 0, false
}

// urlName returns the bounds of the IdP name in url given the first
// marker scanURL found, which may lie past the URL's end (it reads a
// word at a time). The marker holds no space, so one that starts in the
// URL ends in it too.
func urlName(url string, idp int) (name, nameEnd int, ok bool) {
	if idp < 0 || idp >= len(url) {
		return 0, 0, false
	}
	name = idp + len(idpMarker)
	// Names are short: most end within a word, whose first match is a
	// true one (bytesEqual errs only on a byte after a match).
	if name+8 <= len(url) {
		if m := bytesEqual(le64(url[name:]), '/'); m != 0 {
			return name, name + bits.TrailingZeros64(m)>>3, true
		}
	}
	if j := strings.IndexByte(url[name:], '/'); j >= 0 {
		return name, name + j, true
	}
	return name, len(url), true
}

// le64 is binary.LittleEndian.Uint64 for a string (of 8 bytes or more).
func le64(b string) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// loadTail is le64 for the last, short word of s from i, padded with 0.
func loadTail(s string, i int) uint64 {
	var w uint64
	for k := len(s) - 1; k >= i; k-- {
		w = w<<8 | uint64(s[k])
	}
	return w
}
