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
