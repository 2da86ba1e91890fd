package parser

import (
	"net/netip"
	"strconv"
	"testing"
)

// parseIPv4 takes exactly the addresses netip.ParseAddr reads as IPv4, to
// the same address, and leaves everything else to netip.
func checkIPv4(t *testing.T, ip string) {
	t.Helper()
	// As in a record: the address between "[" and "] - [SESSION]".
	s := " [" + ip + "] - [s]"
	got, ok := parseIPv4(s, 2, 2+len(ip))
	want, err := netip.ParseAddr(ip)
	if wantOK := err == nil && want.Is4(); ok != wantOK || ok && got != want {
		t.Fatalf("parseIPv4(%q) = %v, %v; netip says %v, %v", ip, got, ok, want, err)
	}
}

var ipv4Edges = []string{
	"0.0.0.0", "255.255.255.255", "192.0.2.1", "10.11.66.173", "1.22.133.4",
	"256.0.0.0", "0.0.0.256", "1.2.3.999", "300.1.1.1",
	"01.2.3.4", "1.02.3.4", "1.2.3.04", "1.2.3.00", "00.0.0.0",
	"1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4.", "1234.1.1.1", "1.1.1.1234",
	"1.2.3.4%eth0", "::1", "::ffff:192.0.2.1", "1.2.3.a", "a.2.3.4", "1.2.3.4 ", " 1.2.3.4",
	"1.2.3/4", "1.2:3.4", "1.2.3.\xff", "1.2.3.\x80", "1.2.3.:", "1.2.3./", "", "1", "1.2.3.4\x00",
	"12.345.6.7", "99.99.99.99", "100.200.250.255",
}

func TestParseIPv4(t *testing.T) {
	for _, ip := range ipv4Edges {
		checkIPv4(t, ip)
	}
	// Every octet value in every position, with its neighbours of 1-3 digits.
	for v := range 1000 {
		for _, o := range []string{"0", "7", "42", "199"} {
			f := strconv.Itoa(v)
			checkIPv4(t, f+"."+o+"."+o+"."+o)
			checkIPv4(t, o+"."+f+"."+o+"."+o)
			checkIPv4(t, o+"."+o+"."+o+"."+f)
		}
	}
	// Too close to the end of s: netip's turn, though the address is good.
	if _, ok := parseIPv4("[1.2.3.4]", 1, 8); ok {
		t.Fatal("parseIPv4 read past s")
	}
}

func FuzzParseIPv4(f *testing.F) {
	for _, ip := range ipv4Edges {
		f.Add(ip)
	}
	f.Fuzz(checkIPv4)
}
