package parser

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// forwardedCases are X-Forwarded-For values as a proxy logs them, with the
// client a line naming no peer must take from them: the right-most entry
// as nginx's realip module reads it (package idp's stand-in proxy and
// bundled IdP read it so too, held to a real nginx by idp's
// TestProxyReadsXForwardedForAsNginx; these are the inputs of its table,
// several headers logged as one list). "" is no client. A proxy's log has
// no trusted addresses: the entry the proxy in front appended is the
// client, trusted or not.
var forwardedCases = []struct {
	name, xff, want string
}{
	{"one address", "203.0.113.9", "203.0.113.9"},
	{"the last hop, whatever it is", "203.0.113.9, 127.0.0.5", "127.0.0.5"},
	{"garbage before", "garbage, 198.51.100.1, 203.0.113.9", "203.0.113.9"},
	{"a port, as some balancers append", "203.0.113.9:51234", "203.0.113.9"},
	{"a hop with a port", "203.0.113.9,127.0.0.5:80", "127.0.0.5"},
	{"a bracketed IPv6 address with a port", "[2001:db8::1]:443", "2001:db8::1"},
	{"a bare IPv6 address", "2001:db8::1", "2001:db8::1"},
	{"a bare IPv6 address ending in a group like a port", "2001:db8::1:443", "2001:db8::1:443"},
	{"a trailing comma", "203.0.113.9,", "203.0.113.9"},
	{"a trailing comma and space", "203.0.113.9, ", "203.0.113.9"},
	{"empty entries", "198.51.100.1 ,  ,203.0.113.9 , ", "203.0.113.9"},
	{"two commas", "203.0.113.9,,", "203.0.113.9"},
	{"spaces separate entries too", "198.51.100.1 203.0.113.9", "203.0.113.9"},
	{"two headers as Envoy joins them", "203.0.113.9,198.51.100.7", "198.51.100.7"},
	{"two headers as nginx joins them", "203.0.113.9, 198.51.100.7", "198.51.100.7"},
	{"garbage last", "203.0.113.9, garbage", ""},
	{"unknown", "unknown", ""},
	{"a semicolon", "203.0.113.9;x", ""},
	{"brackets without a port", "[2001:db8::1]", ""},
	{"an empty port", "203.0.113.9:", ""},
	{"port 0", "203.0.113.9:0", ""},
	{"a port out of range", "203.0.113.9:99999", ""},
	{"a port that is no number", "203.0.113.9:abc", ""},
	{"two ports", "203.0.113.9:80:90", ""},
	{"an IPv6 zone", "fe80::1%eth0", ""},
	{"an IPv6 zone with a port", "[fe80::1%eth0]:5", ""},
	{"an IPv6 zone after a client", "203.0.113.9, fe80::1%eth0", ""},
	// A real nginx 1.22 takes its peer for these: a tab is part of an
	// entry, not a separator.
	{"a tab after the comma", "198.51.100.1,\t203.0.113.9", ""},
	{"a tab alone", "198.51.100.1\t203.0.113.9", ""},
	{"empty", "", ""},
	{"only separators", " , ,", ""},
	{"Envoy's none", "-", ""},
	{"an IPv4-mapped address", "::ffff:203.0.113.9", "203.0.113.9"},
	{"an IPv4-mapped address with a port", "[::ffff:203.0.113.9]:1", "203.0.113.9"},
}

// forwardedRef is the reading of forwardedCases written plainly, as idp's
// fuzz test reads the header: the last field between commas and spaces,
// an address or one with a port from 1 to 65535, never a zone, unmapped.
func forwardedRef(xff string) netip.Addr {
	fields := strings.FieldsFunc(xff, func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return netip.Addr{}
	}
	last := fields[len(fields)-1]
	if a, err := netip.ParseAddr(last); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	ap, err := netip.ParseAddrPort(last)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// xffLines are access lines of the formats that log no peer, whose client
// is X-Forwarded-For's last entry: Envoy's default text format, and Envoy
// Gateway's JSON without downstream_remote_address.
func xffLines(xff string) map[string]string {
	return map[string]string{
		"envoy": `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 "` + xff +
			`" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		"envoy-gateway": `{"start_time":"2026-11-26T09:00:01.216Z","method":"POST","x-envoy-origin-path":"/auth/idp/k8sIdp/token",` +
			`"response_code":200,"duration":15,"upstream_host":"10.1.80.10:80","x-forwarded-for":` + mustJSON(xff) + `}`,
	}
}

// The client of a line that logs no peer is X-Forwarded-For's last entry
// read as nginx reads it: the line parses whatever the header holds (it is
// the client's to write), and names the address nginx would take, or none.
func TestProxyClientFromForwardedFor(t *testing.T) {
	t.Parallel()
	for _, tc := range forwardedCases {
		var want netip.Addr
		if tc.want != "" {
			want = netip.MustParseAddr(tc.want)
		}
		if ref := forwardedRef(tc.xff); ref != want {
			t.Fatalf("%s: the table says %v for %q, the plain reading %v", tc.name, want, tc.xff, ref)
		}
		if a, _, ok := LastForwarded(tc.xff); a != want || ok != want.IsValid() {
			t.Errorf("%s: LastForwarded(%q) = %v, %v; want %v", tc.name, tc.xff, a, ok, want)
		}
		for format, line := range xffLines(tc.xff) {
			ev, err := Parse([]byte(line), nil)
			if err != nil || ev.Kind != KindProxy {
				t.Errorf("%s: %s line with X-Forwarded-For %q: %s, %v", tc.name, format, tc.xff, ev.Kind, err)
				continue
			}
			if ev.IP != want || ev.Proxy.Client != want {
				t.Errorf("%s: %s line with X-Forwarded-For %q names %v (record %v), want %v", tc.name, format, tc.xff, ev.IP, ev.Proxy.Client, want)
			}
		}
	}
}

// FuzzForwardedFor holds LastForwarded, walked as idp walks it past
// trusted hops, and the client of the lines that log no peer to the plain
// reading of any X-Forwarded-For value.
func FuzzForwardedFor(f *testing.F) {
	for _, tc := range forwardedCases {
		f.Add(tc.xff)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		// Every hop trusted: the entries from the right, up to the first
		// that is no address.
		fields := strings.FieldsFunc(xff, func(r rune) bool { return r == ',' || r == ' ' })
		list := xff
		for i := len(fields) - 1; ; i-- {
			a, before, ok := LastForwarded(list)
			want := netip.Addr{}
			if i >= 0 {
				want = forwardedRef(fields[i])
			}
			if a != want || ok != want.IsValid() || !strings.HasPrefix(xff, before) || len(before) >= len(list) && ok {
				t.Fatalf("LastForwarded(%q) of %q = %v, %q, %v; want %v", list, xff, a, before, ok, want)
			}
			if !ok {
				break
			}
			list = before
		}
		for format, line := range xffLines(xff) {
			if format == "envoy" && strings.ContainsAny(xff, "\"\\\n\r") {
				continue // no value Envoy's text format can hold whole
			}
			ev, err := Parse([]byte(line), nil)
			if err != nil || ev.Kind != KindProxy {
				t.Fatalf("%s line with X-Forwarded-For %q: %s, %v", format, xff, ev.Kind, err)
			}
			// JSON carries invalid UTF-8 as U+FFFD: the value read is
			// the record's.
			logged := xff
			if format == "envoy-gateway" {
				_ = json.Unmarshal([]byte(mustJSON(xff)), &logged)
			}
			if want := forwardedRef(logged); ev.IP != want {
				t.Fatalf("%s line with X-Forwarded-For %q names %v, want %v", format, logged, ev.IP, want)
			}
		}
	})
}

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
