package parser

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/nginxtest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// nginxForwardedCases are X-Forwarded-For headers and the address
// LastForwarded reads from the last entry of each ("" none): nginx's
// realip module's reading, which TestLastForwardedAsNginx holds to a real
// nginx 1.22 case by case. Package idp's table (TestProxyReadsXForwardedForAsNginx)
// has several headers in one request and the walk past trusted hops.
// nginx strips spaces, not tabs, around a header's value; none here
// depends on a leading space.
var nginxForwardedCases = []struct {
	name, header, want string
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
	{"two headers as nginx logs them", "203.0.113.9, 198.51.100.7", "198.51.100.7"},
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
	{"a tab after the comma", "198.51.100.1,\t203.0.113.9", ""},
	{"a tab alone", "198.51.100.1\t203.0.113.9", ""},
	{"empty", "", ""},
	{"only separators", ",  ,", ""},
	{"an IPv4-mapped address", "::ffff:203.0.113.9", "203.0.113.9"},
	{"an IPv4-mapped address with a port", "[::ffff:203.0.113.9]:1", "203.0.113.9"},
	// nginx never takes a header's first byte for a separator.
	{"a leading comma", ",203.0.113.9", ""},
	{"a leading comma and a space", ", 203.0.113.9", "203.0.113.9"},
	{"a comma alone", ",", ""},
	// nginx's address syntax (ngx_parse_addr_port), not Go's.
	{"an IPv4 octet with a leading zero", "203.0.113.09", "203.0.113.9"},
	{"IPv4 in brackets with a port", "[203.0.113.9]:80", "203.0.113.9"},
	{"leading zeros and a port", "0203.000.0113.009:080", "203.0.113.9"},
	{"a long run of zeros", "0000000000203.0.113.9", "203.0.113.9"},
	{"an empty IPv4 octet", "203.0..9", "203.0.0.9"},
	{"an empty first IPv4 octet", ".1.2.3", "0.1.2.3"},
	{"an octet past 255", "203.0.113.256", ""},
	{"five octets", "203.0.113.9.1", ""},
	{"the broadcast address is nginx's none", "255.255.255.255", ""},
	{"the broadcast address with a port", "255.255.255.255:80", ""},
	{"an IPv4-mapped address with a leading-zero octet", "::ffff:203.0.113.09", "203.0.113.9"},
	{"an IPv4-mapped broadcast address", "::ffff:255.255.255.255", ""},
	{"an IPv4 part with four digits", "::0203.0.113.9", "::cb00:7109"},
	{"an IPv6 address after a lone colon", ":2001:db8:0:0:0:0:0:1", "2001:db8::1"},
	{"a trailing :: for one group", "2001:db8:1:2:3:4:5::", ""},
	{"a trailing :: for two groups", "2001:db8:1:2:3:4::", "2001:db8:1:2:3:4::"},
	{"a leading :: for one group", "::db8:1:2:3:4:5:6", "0:db8:1:2:3:4:5:6"},
	{"a colon after the last group, past a ::", "2001:db8::1:", "2001:db8::1:0"},
	{"a colon after eight groups", "1:2:3:4:5:6:7:8:", ""},
	{"three colons", "2001:db8:::1", ""},
	{"an IPv6 group of five digits", "2001:db8::00001", ""},
	{"a bracketed port with leading zeros", "[2001:db8::1]:00443", "2001:db8::1"},
	{"text between the bracket and the port", "[2001:db8::1]x:443", ""},
}

func TestLastForwarded(t *testing.T) {
	t.Parallel()
	for _, tc := range nginxForwardedCases {
		var want netip.Addr
		if tc.want != "" {
			want = netip.MustParseAddr(tc.want)
		}
		if ref := nginxWalkRef(tc.header); ref[0] != want {
			t.Fatalf("%s: the table says %v for %q, the plain reading %v", tc.name, want, tc.header, ref)
		}
		if a, _, ok := LastForwarded(tc.header); a != want || ok != want.IsValid() {
			t.Errorf("%s: LastForwarded(%q) = %v, %v; want %v", tc.name, tc.header, a, ok, want)
		}
	}
}

// TestLastForwardedAsNginx sends every header of nginxForwardedCases, as
// written, through a real nginx configured as ingress-nginx (realip,
// recursive, loopback trusted) from 127.0.0.1, and holds the client it
// logs to LastForwarded walked past loopback hops as nginx walks them.
func TestLastForwardedAsNginx(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(upstream.Close)
	ng := nginxtest.Start(t, nginxtest.Options{Upstream: strings.TrimPrefix(upstream.URL, "http://")})
	for i, tc := range nginxForwardedCases {
		if strings.ContainsAny(tc.header, "\r\n\x00") || strings.HasPrefix(tc.header, " ") {
			t.Fatalf("%s: %q cannot reach nginx as written", tc.name, tc.header)
		}
		// Go's client trims a header's tabs: the request is written raw.
		req := fmt.Sprintf("GET /case/%d HTTP/1.1\r\nHost: nginxtest\r\nX-Forwarded-For: %s\r\nConnection: close\r\n\r\n", i, tc.header)
		if err := roundTripRaw(ng.Addr, req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	logged := map[string]string{}
	testsync.WaitFor(t, "nginx's line for every case", func() bool {
		return strings.Count(ng.Log(), "\n") >= len(nginxForwardedCases)
	})
	for _, s := range strings.Split(strings.TrimSpace(ng.Log()), "\n") {
		l, err := nginxtest.ParseLine(s)
		if err != nil {
			t.Fatal(err)
		}
		logged[l.Path()] = l.RemoteAddr
	}
	peer := netip.MustParseAddr("127.0.0.1")
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	for i, tc := range nginxForwardedCases {
		got, ok := logged["/case/"+strconv.Itoa(i)]
		if !ok {
			t.Errorf("%s: nginx logged no line", tc.name)
			continue
		}
		// nginx logs an IPv4-mapped address as written; LastForwarded
		// reads the IPv4 address it carries.
		if a, err := netip.ParseAddr(got); err == nil {
			got = a.Unmap().String()
		}
		want := peer
		for list := tc.header; loopback.Contains(want); {
			a, before, ok := LastForwarded(list)
			if !ok {
				break
			}
			want = a
			if before == "" {
				break
			}
			list = before
		}
		if got != want.String() {
			t.Errorf("%s: nginx took %s from X-Forwarded-For %q, LastForwarded walked %s", tc.name, got, tc.header, want)
		}
	}
}

// roundTripRaw writes one HTTP/1.1 request as given and reads the answer
// to its end.
func roundTripRaw(addr, req string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	answer, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 200 ") {
		return fmt.Errorf("nginx answered %q", answer)
	}
	return nil
}

// envoyForwardedCases are X-Forwarded-For values as Envoy logs them, with
// the client a line naming no peer must take from them: the address
// Envoy's getLastAddressFromXFF takes. Those marked "Envoy's own test" are
// cases of Envoy's test/common/http/utility_test.cc.
var envoyForwardedCases = []struct {
	name, xff, want string
}{
	{"one address", "203.0.113.9", "203.0.113.9"},
	{"the last hop, whatever it is", "203.0.113.9, 127.0.0.5", "127.0.0.5"},
	{"garbage before", "garbage, 198.51.100.1, 203.0.113.9", "203.0.113.9"},
	{"Envoy's own test: spaces around commas", "192.0.2.10, 192.0.2.1 ,10.0.0.1,10.0.0.2", "10.0.0.2"},
	{"two headers as Envoy joins them", "203.0.113.9,198.51.100.7", "198.51.100.7"},
	{"two headers as nginx joins them", "203.0.113.9, 198.51.100.7", "198.51.100.7"},
	{"a bare IPv6 address", "2001:db8::1", "2001:db8::1"},
	{"a bare IPv6 address ending in a group like a port", "2001:db8::1:443", "2001:db8::1:443"},
	{"an IPv4-mapped address", "::ffff:203.0.113.9", "203.0.113.9"},
	{"whitespace is trimmed, a tab too", "198.51.100.1,\t203.0.113.9 ", "203.0.113.9"},
	{"a leading comma", ",203.0.113.9", "203.0.113.9"},
	{"the broadcast address", "255.255.255.255", "255.255.255.255"},
	{"a trailing :: for one group", "2001:db8:1:2:3:4:5::", "2001:db8:1:2:3:4:5:0"},
	{"Envoy's own test: a comma", ",", ""},
	{"Envoy's own test: a comma and a space", ", ", ""},
	{"Envoy's own test: garbage after a comma", ", bad", ""},
	{"a trailing comma: the whole list, which is none", "203.0.113.9,", ""},
	{"a trailing comma and a space", "203.0.113.9, ", ""},
	{"two commas", "203.0.113.9,,", ""},
	{"spaces do not separate", "198.51.100.1 203.0.113.9", ""},
	{"a tab does not separate", "198.51.100.1\t203.0.113.9", ""},
	{"a port", "203.0.113.9:51234", ""},
	{"a hop with a port", "203.0.113.9,127.0.0.5:80", ""},
	{"a bracketed IPv6 address with a port", "[2001:db8::1]:443", ""},
	{"brackets without a port", "[2001:db8::1]", ""},
	{"an IPv4 octet with a leading zero", "203.0.113.09", ""},
	{"IPv4 in brackets with a port", "[203.0.113.9]:80", ""},
	{"an empty IPv4 octet", "203.0..9", ""},
	{"a lone leading colon", ":2001:db8:0:0:0:0:0:1", ""},
	{"garbage last", "203.0.113.9, garbage", ""},
	{"unknown", "unknown", ""},
	// Envoy takes a zone its host's getaddrinfo resolves; a log reader
	// cannot know which, and takes none.
	{"an IPv6 zone", "fe80::1%eth0", ""},
	{"empty", "", ""},
	{"Envoy's none", "-", ""},
}

// xffLines are access lines of the formats that log no peer, whose client
// is X-Forwarded-For's last entry as Envoy reads it: Envoy's default text
// format, and Envoy Gateway's JSON without downstream_remote_address.
func xffLines(xff string) map[string]string {
	return map[string]string{
		"envoy": `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 "` + xff +
			`" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		"envoy-gateway": `{"start_time":"2026-11-26T09:00:01.216Z","method":"POST","x-envoy-origin-path":"/auth/idp/k8sIdp/token",` +
			`"response_code":200,"duration":15,"upstream_host":"10.1.80.10:80","x-forwarded-for":` + mustJSON(xff) + `}`,
	}
}

// The client of a line that logs no peer is X-Forwarded-For's last entry
// read as Envoy reads it: the line parses whatever the header holds (it is
// the client's to write), and names the address Envoy took, or none.
func TestProxyClientFromForwardedFor(t *testing.T) {
	t.Parallel()
	for _, tc := range envoyForwardedCases {
		var want netip.Addr
		if tc.want != "" {
			want = netip.MustParseAddr(tc.want)
		}
		if ref := envoyRef(tc.xff); ref != want {
			t.Fatalf("%s: the table says %v for %q, the plain reading %v", tc.name, want, tc.xff, ref)
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

// FuzzForwardedFor holds LastForwarded, walked as idp walks one header
// past trusted hops, to nginx's reading written plainly, and the client of
// the lines that log no peer to Envoy's.
func FuzzForwardedFor(f *testing.F) {
	for _, tc := range nginxForwardedCases {
		f.Add(tc.header)
	}
	for _, tc := range envoyForwardedCases {
		f.Add(tc.xff)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		// Every hop trusted: the entries from the right, up to the first
		// that is no address.
		want := nginxWalkRef(xff)
		list := xff
		for i := 0; ; i++ {
			a, before, ok := LastForwarded(list)
			if a != want[i] || ok != want[i].IsValid() {
				t.Fatalf("LastForwarded(%q) of %q = %v, %q, %v; want %v", list, xff, a, before, ok, want[i])
			}
			if !ok {
				break
			}
			if last := i == len(want)-1; (before == "") != last || !strings.HasPrefix(xff, before) || len(before) >= len(list) {
				t.Fatalf("LastForwarded(%q) of %q left %q; the walk ends there: %v", list, xff, before, last)
			}
			if before == "" {
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
			if want := envoyRef(logged); ev.IP != want {
				t.Fatalf("%s line with X-Forwarded-For %q names %v, want %v", format, logged, ev.IP, want)
			}
		}
	})
}

// nginxWalkRef is nginx's reading of one header written plainly: the
// addresses of its entries from the right, every hop trusted, up to and
// with the first that is none (the zero Addr), or all of them. An entry
// is a run between spaces and commas, except that the first byte of the
// header always belongs to the first entry, separator or not.
func nginxWalkRef(header string) []netip.Addr {
	entries := []string{header}
	if len(header) > 1 {
		sep := func(r rune) bool { return r == ' ' || r == ',' }
		rest := strings.FieldsFunc(header[1:], sep)
		if sep(rune(header[1])) {
			entries = append([]string{header[:1]}, rest...)
		} else {
			rest[0] = header[:1] + rest[0]
			entries = rest
		}
	}
	var out []netip.Addr
	for i := len(entries) - 1; i >= 0; i-- {
		a := nginxAddrRef(entries[i])
		out = append(out, a)
		if !a.IsValid() {
			break
		}
	}
	return out
}

// nginxAddrRef reads an entry as ngx_parse_addr_port does, written
// plainly: an address; or one with a port of digits from 1 to 65535
// after the first colon, or after brackets round an address.
func nginxAddrRef(s string) netip.Addr {
	if a := nginxHostRef(s); a.IsValid() {
		return a
	}
	host, port, found := strings.Cut(s, ":")
	if strings.HasPrefix(s, "[") {
		var rest string
		var closed bool
		host, rest, closed = strings.Cut(s[1:], "]")
		port, found = strings.CutPrefix(rest, ":")
		found = found && closed
	}
	if !found || port == "" || strings.Trim(port, "0123456789") != "" {
		return netip.Addr{}
	}
	if p := strings.TrimLeft(port, "0"); p == "" || len(p) > 5 {
		return netip.Addr{}
	} else if n, _ := strconv.Atoi(p); n > 65535 {
		return netip.Addr{}
	}
	return nginxHostRef(host)
}

// nginxHostRef reads an address as ngx_parse_addr does, unmapped.
func nginxHostRef(s string) netip.Addr {
	if v4, ok := nginxIPv4Ref(s); ok {
		return netip.AddrFrom4(v4)
	}
	// ngx_inet6_addr skips one leading colon; then each colon ends a
	// group, an empty group before the last is the one "::", and an empty
	// last group is a zero one, which only a "::" allows.
	toks := strings.Split(strings.TrimPrefix(s, ":"), ":")
	var groups []uint16
	zeroAt := -1
	for i, tok := range toks {
		last := i == len(toks)-1
		switch {
		case last && strings.Contains(tok, "."):
			first, _, _ := strings.Cut(tok, ".")
			v4, ok := nginxIPv4Ref(tok)
			if i == 0 || first == "" || len(first) > 4 || !ok {
				return netip.Addr{}
			}
			groups = append(groups, uint16(v4[0])<<8|uint16(v4[1]), uint16(v4[2])<<8|uint16(v4[3]))
		case tok == "" && !last:
			if zeroAt >= 0 {
				return netip.Addr{}
			}
			zeroAt = len(groups)
		case tok == "" && last:
			if zeroAt < 0 {
				return netip.Addr{}
			}
			groups = append(groups, 0)
		default:
			v, err := strconv.ParseUint(tok, 16, 16)
			if err != nil || len(tok) > 4 {
				return netip.Addr{}
			}
			groups = append(groups, uint16(v))
		}
	}
	return groupsAddr(groups, zeroAt)
}

// nginxIPv4Ref reads IPv4 as ngx_inet_addr does: four dot-separated runs
// of digits, each at most 255 whatever its leading zeros, and maybe empty;
// 255.255.255.255 is its INADDR_NONE.
func nginxIPv4Ref(s string) ([4]byte, bool) {
	var v [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return v, false
	}
	for i, p := range parts {
		digits := strings.TrimLeft(p, "0")
		n, err := strconv.Atoi(digits)
		if strings.Trim(p, "0123456789") != "" || len(digits) > 3 || digits != "" && err != nil || n > 255 {
			return v, false
		}
		v[i] = byte(n)
	}
	return v, v != [4]byte{255, 255, 255, 255}
}

// envoyRef is Envoy's getLastAddressFromXFF written plainly: a list that
// ends in a comma is read whole, and is none; else the text after the
// last comma, trimmed of Envoy's whitespace, is a strict IPv4 address
// (inet_pton) or IPv6 one (glibc's inet_pton6, which getaddrinfo uses),
// without a zone. Unmapped.
func envoyRef(xff string) netip.Addr {
	if strings.HasSuffix(xff, ",") {
		return netip.Addr{}
	}
	entry := strings.Trim(xff[strings.LastIndex(xff, ",")+1:], " \t\f\v\n\r")
	if v4, ok := strictIPv4Ref(entry); ok {
		return netip.AddrFrom4(v4)
	}
	halves := strings.Split(entry, "::")
	if len(halves) > 2 {
		return netip.Addr{}
	}
	var groups []uint16
	zeroAt := -1
	for h, half := range halves {
		if h == 1 {
			zeroAt = len(groups) // the "::"
		}
		if half == "" {
			continue
		}
		toks := strings.Split(half, ":")
		for i, tok := range toks {
			if h == len(halves)-1 && i == len(toks)-1 && strings.Contains(tok, ".") {
				v4, ok := strictIPv4Ref(tok)
				if !ok {
					return netip.Addr{}
				}
				groups = append(groups, uint16(v4[0])<<8|uint16(v4[1]), uint16(v4[2])<<8|uint16(v4[3]))
				continue
			}
			v, err := strconv.ParseUint(tok, 16, 16)
			if err != nil || len(tok) > 4 {
				return netip.Addr{}
			}
			groups = append(groups, uint16(v))
		}
	}
	return groupsAddr(groups, zeroAt)
}

// strictIPv4Ref reads IPv4 as inet_pton does: four dot-separated
// decimal octets of one to three digits, no leading zero, at most 255.
func strictIPv4Ref(s string) ([4]byte, bool) {
	var v [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" || len(p) > 1 && p[0] == '0' || err != nil || n > 255 {
			return v, false
		}
		v[i] = byte(n)
	}
	return v, true
}

// groupsAddr makes an address of eight groups, or of at most seven with
// a "::" before group zeroAt standing for one or more zero groups.
func groupsAddr(groups []uint16, zeroAt int) netip.Addr {
	if zeroAt < 0 && len(groups) != 8 || zeroAt >= 0 && len(groups) > 7 {
		return netip.Addr{}
	}
	if zeroAt >= 0 {
		full := append(append(append([]uint16{}, groups[:zeroAt]...), make([]uint16, 8-len(groups))...), groups[zeroAt:]...)
		groups = full
	}
	var b [16]byte
	for i, g := range groups {
		b[2*i], b[2*i+1] = byte(g>>8), byte(g)
	}
	return netip.AddrFrom16(b).Unmap()
}

func mustJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
