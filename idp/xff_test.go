package idp

import (
	"net/netip"
	"testing"
)

// xffCases are X-Forwarded-For headers as clients and proxies send them,
// and the client nginx's realip module (real_ip_header X-Forwarded-For,
// real_ip_recursive on, set_real_ip_from 127.0.0.0/8) takes from a loopback
// peer: what a real nginx 1.22 logged as $remote_addr for each (see
// TestProxyReadsXForwardedForAsNginx, which asks one). The stand-in and the
// IdP's --trusted-proxies read the header the same way. Where the stand-in
// departs on purpose, the case says so.
var xffCases = []struct {
	name string
	hdrs []string
	want string
}{
	{"one address", []string{"203.0.113.9"}, "203.0.113.9"},
	{"a trusted hop after the client", []string{"203.0.113.9, 127.0.0.5"}, "203.0.113.9"},
	{"the right-most untrusted wins", []string{"garbage, 198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
	{"every hop trusted: the left-most", []string{"127.0.0.5, 127.0.0.6"}, "127.0.0.5"},
	{"a port, as some balancers append", []string{"203.0.113.9:51234"}, "203.0.113.9"},
	{"a trusted hop with a port", []string{"203.0.113.9,127.0.0.5:80"}, "203.0.113.9"},
	{"a bracketed IPv6 address with a port", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
	{"a bare IPv6 address", []string{"2001:db8::1"}, "2001:db8::1"},
	{"a bare IPv6 address ending in a group like a port", []string{"2001:db8::1:443"}, "2001:db8::1:443"},
	{"a trailing comma", []string{"203.0.113.9,"}, "203.0.113.9"},
	{"a trailing comma and space", []string{"203.0.113.9, "}, "203.0.113.9"},
	{"empty entries", []string{"198.51.100.1 ,  ,203.0.113.9 , "}, "203.0.113.9"},
	{"two commas", []string{"203.0.113.9,,"}, "203.0.113.9"},
	{"spaces separate entries too", []string{"198.51.100.1 203.0.113.9"}, "203.0.113.9"},
	{"two headers are one list", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
	{"garbage after the client: nothing believed", []string{"203.0.113.9, garbage"}, "127.0.0.1"},
	{"garbage in a later header", []string{"203.0.113.9", "garbage"}, "127.0.0.1"},
	{"garbage in an earlier header", []string{"garbage", "203.0.113.9"}, "203.0.113.9"},
	{"unknown", []string{"unknown"}, "127.0.0.1"},
	{"a semicolon", []string{"203.0.113.9;x"}, "127.0.0.1"},
	{"brackets without a port", []string{"[2001:db8::1]"}, "127.0.0.1"},
	{"an empty port", []string{"203.0.113.9:"}, "127.0.0.1"},
	{"port 0", []string{"203.0.113.9:0"}, "127.0.0.1"},
	{"a port out of range", []string{"203.0.113.9:99999"}, "127.0.0.1"},
	{"a port that is no number", []string{"203.0.113.9:abc"}, "127.0.0.1"},
	{"two ports", []string{"203.0.113.9:80:90"}, "127.0.0.1"},
	{"an IPv6 zone", []string{"fe80::1%eth0"}, "127.0.0.1"},
	{"an IPv6 zone with a port", []string{"[fe80::1%eth0]:5"}, "127.0.0.1"},
	{"no header", nil, "127.0.0.1"},
	{"an empty header", []string{""}, "127.0.0.1"},
	// nginx logs ::ffff:203.0.113.9; the stand-in and the IdP log the
	// IPv4 address it carries, as OpenUnison's Java does for a mapped peer.
	{"an IPv4-mapped address", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	{"an IPv4-mapped address with a port", []string{"[::ffff:203.0.113.9]:1"}, "203.0.113.9"},
	{"a trusted IPv4-mapped hop", []string{"203.0.113.9, ::ffff:127.0.0.5"}, "203.0.113.9"},
	// nginx never looks at an entry's first byte for a separator: an
	// entry that starts the header keeps a leading comma, and is none.
	{"a leading comma", []string{",203.0.113.9"}, "127.0.0.1"},
	{"a leading comma and a space", []string{", 203.0.113.9"}, "203.0.113.9"},
	{"a leading comma before a trusted hop", []string{",127.0.0.5"}, "127.0.0.1"},
	{"only separators", []string{" , ,"}, "127.0.0.1"},
	// A tab is part of an entry, not a separator.
	{"a tab after the comma", []string{"198.51.100.1,\t203.0.113.9"}, "127.0.0.1"},
	{"a tab alone", []string{"198.51.100.1\t203.0.113.9"}, "127.0.0.1"},
	// Several headers are read from the last, each as a list of its own:
	// the last that is none is believed of nothing, an earlier one ends
	// the walk with what was believed.
	{"an empty header after another", []string{"203.0.113.9", ""}, "127.0.0.1"},
	{"a comma header after another", []string{"203.0.113.9", ","}, "127.0.0.1"},
	{"a leading comma in a later header", []string{"203.0.113.9", ",198.51.100.7"}, "127.0.0.1"},
	{"a leading comma in an earlier header", []string{",198.51.100.7", "203.0.113.9"}, "203.0.113.9"},
	{"an empty header before another", []string{"", "203.0.113.9"}, "203.0.113.9"},
	{"an empty header before a trusted hop", []string{"", "127.0.0.5"}, "127.0.0.5"},
	{"every hop trusted, across headers", []string{"127.0.0.5", "127.0.0.6"}, "127.0.0.5"},
	{"a trusted hop, then the client in an earlier header", []string{"203.0.113.9", "127.0.0.5"}, "203.0.113.9"},
	// nginx's own address syntax (ngx_parse_addr_port), not Go's.
	{"an IPv4 octet with a leading zero", []string{"203.0.113.09"}, "203.0.113.9"},
	{"IPv4 in brackets with a port", []string{"[203.0.113.9]:80"}, "203.0.113.9"},
	{"leading zeros and a port", []string{"0203.000.0113.009:080"}, "203.0.113.9"},
	{"an empty IPv4 octet", []string{"203.0..9"}, "203.0.0.9"},
	{"an empty first IPv4 octet", []string{".1.2.3"}, "0.1.2.3"},
	{"the broadcast address is nginx's none", []string{"255.255.255.255"}, "127.0.0.1"},
	{"an IPv4-mapped address with a leading-zero octet", []string{"::ffff:203.0.113.09"}, "203.0.113.9"},
	{"an IPv6 address after a lone colon", []string{":2001:db8:0:0:0:0:0:1"}, "2001:db8::1"},
	{"a trailing :: for one group", []string{"2001:db8:1:2:3:4:5::"}, "127.0.0.1"},
	{"a leading :: for one group", []string{"::db8:1:2:3:4:5:6"}, "0:db8:1:2:3:4:5:6"},
}

func TestForwardedClientReadsLikeNginx(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	peer := netip.MustParseAddr("127.0.0.1")
	for _, tc := range xffCases {
		if got := forwardedClient(peer, tc.hdrs, trusted); got.String() != tc.want {
			t.Errorf("%s: X-Forwarded-For %q from %s: %s, want %s", tc.name, tc.hdrs, peer, got, tc.want)
		}
	}
	// From a peer not trusted the header is never read.
	untrusted := netip.MustParseAddr("192.0.2.1")
	for _, tc := range xffCases {
		if got := forwardedClient(untrusted, tc.hdrs, trusted); got != untrusted {
			t.Errorf("%s: X-Forwarded-For %q from untrusted %s: %s", tc.name, tc.hdrs, untrusted, got)
		}
	}
}

// XFFCasesForTest hands the table to the external tests, which compare a
// real nginx with it.
func XFFCasesForTest() []struct {
	Name string
	Hdrs []string
	Want string
} {
	out := make([]struct {
		Name string
		Hdrs []string
		Want string
	}, len(xffCases))
	for i, c := range xffCases {
		out[i].Name, out[i].Hdrs, out[i].Want = c.name, c.hdrs, c.want
	}
	return out
}
