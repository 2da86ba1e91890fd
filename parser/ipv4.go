package parser

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// parseIPv4 is netip.ParseAddr(s[i:j]) for the dotted IPv4 address most
// records carry, where ok is true; ok is false for any other text (IPv6,
// a zone, an error), which the caller hands to netip. netip reads a byte
// at a time and branches on each, and the lengths of the fields, which
// vary from address to address, made those branches mispredict; here
// each field is read from one 4-byte load. It reads up to three bytes
// past j, which s must hold.
func parseIPv4(s string, i, j int) (addr netip.Addr, ok bool) {
	if j-i < len("0.0.0.0") || j-i > len("255.255.255.255") || j+3 >= len(s) {
		return netip.Addr{}, false
	}
	var u uint32
	p := i
	for k := range 4 {
		// The field of 1-3 digits at p, read as netip does: no leading
		// zero, at most 255.
		b := s[p : p+4]
		w := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		n, v := digits3(w)
		if n == 0 || v > 255 {
			return netip.Addr{}, false
		}
		u = u<<8 | v
		p += n
		if k < 3 {
			if p >= j || s[p] != '.' {
				return netip.Addr{}, false
			}
			p++
		}
	}
	// One 4-byte store, which the 4-byte load inside AddrFrom4 can take
	// from the store buffer; four byte stores could not be forwarded.
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], u)
	return netip.AddrFrom4(a), p == j
}

// digits3 reads the decimal number that opens w's bytes (first byte
// lowest) and returns how many digits it has and its value; n is 0 when
// that is not 1-3 digits without a leading zero.
func digits3(w uint32) (n int, v uint32) {
	d := w - 0x30303030
	// A byte's high bit is set in nd if it is below '0' (d borrowed),
	// above '9' (the addition reached 0x80) or not ASCII. Borrows and
	// carries only move up, so the lowest byte set is the first that is
	// no digit, and the bytes below it are exact in d.
	nd := (d | (w + 0x46464646) | w) & 0x80808080
	n = bits.TrailingZeros32(nd) >> 3
	if n == 0 || n == 4 || (n > 1 && w&0xff == '0') {
		return 0, 0
	}
	// The n digits, right-aligned in the low three bytes: hundreds in
	// byte 0, units in byte 2.
	d = d << (24 - 8*n) & 0xffffff
	return n, (d&0xff)*100 + (d>>8&0xff)*10 + d>>16
}
