package parser

import (
	"net/netip"
	"strings"
)

// X-Forwarded-For is read two ways, because the two proxies graceguard
// imitates or reads disagree on it, and graceguard must name the client
// each of them believed:
//
//   - LastForwarded reads one header as nginx's realip module does
//     (ngx_http_get_forwarded_addr_internal and ngx_parse_addr_port,
//     nginx 1.22): entries end at commas and spaces, an entry that starts
//     the header keeps any separators before it, and addresses are nginx's
//     own syntax (leading zeros, empty IPv4 octets, "[a.b.c.d]:port").
//     Package idp's stand-in proxy and bundled IdP, which play
//     ingress-nginx, walk it; idp's tests hold both to a real nginx.
//   - lastForwardedEnvoy reads the whole list as Envoy does
//     (Http::Utility::getLastAddressFromXFF): the text after the last
//     comma, trimmed of whitespace, must be a bare address. The lines of
//     Envoy and Envoy Gateway that log no peer take their client from it:
//     that is the address Envoy itself took as the client (its
//     %DOWNSTREAM_REMOTE_ADDRESS%), where nginx's reading would name one
//     Envoy refused ("203.0.113.9:51234") or refuse one Envoy took
//     (",\t203.0.113.9").

// LastForwarded reads the right-most entry of one X-Forwarded-For header
// as nginx's realip module reads it, and returns its address and the
// header before it, for a caller that walks on past trusted hops. before
// is "" when the entry began the header: nginx then goes on to the last
// entry of the header before, if the request has several. ok is false
// when the entry is no address: nginx believes nothing from there on, and
// when it is the first it reads, keeps the peer.
//
// As nginx, it never takes the first byte of a header for a separator
// (",203.0.113.9" is one entry, and none), trims only separators after an
// entry, takes an empty header for none, and reads an address as
// ngx_parse_addr_port does (see ngxParseAddrPort). An IPv4-mapped address
// is the IPv4 address it carries, as Java prints it for OpenUnison (nginx
// matches it so against its trusted ranges too).
func LastForwarded(header string) (a netip.Addr, before string, ok bool) {
	if header == "" {
		// nginx reads the byte before an empty value (the header line's
		// ':' or space): never an address.
		return netip.Addr{}, "", false
	}
	end := len(header)
	p := end - 1
	for p > 0 && isForwardedSep(header[p]) {
		p--
		end--
	}
	for p > 0 {
		if isForwardedSep(header[p]) {
			p++
			break
		}
		p--
	}
	a, ok = ngxParseAddrPort(header[p:end])
	if !ok {
		return netip.Addr{}, "", false
	}
	if p > 0 {
		// nginx drops the one separator before the entry; the rest is
		// trimmed when it is read.
		before = header[:p-1]
	}
	return a.Unmap(), before, true
}

func isForwardedSep(c byte) bool { return c == ' ' || c == ',' }

// ngxParseAddrPort is nginx's ngx_parse_addr_port: an address, or one with
// a port from 1 to 65535 after the first colon ("a.b.c.d:p") or after
// brackets ("[addr]:p", where addr may be IPv4 too).
func ngxParseAddrPort(s string) (netip.Addr, bool) {
	if a, ok := ngxParseAddr(s); ok {
		return a, true
	}
	var host, port string
	if len(s) > 0 && s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 || j == len(s)-1 || s[j+1] != ':' {
			return netip.Addr{}, false
		}
		host, port = s[1:j], s[j+2:]
	} else {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return netip.Addr{}, false
		}
		host, port = s[:j], s[j+1:]
	}
	if !ngxPort(port) {
		return netip.Addr{}, false
	}
	return ngxParseAddr(host)
}

// ngxPort reports whether s is a port ngx_atoi reads as 1 to 65535:
// decimal digits only, leading zeros allowed.
func ngxPort(s string) bool {
	if s == "" {
		return false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		if v = v*10 + int(c-'0'); v > 65535 {
			return false
		}
	}
	return v >= 1
}

// ngxParseAddr is nginx's ngx_parse_addr: IPv4 as ngx_inet_addr reads
// it, else IPv6 as ngx_inet6_addr does.
func ngxParseAddr(s string) (netip.Addr, bool) {
	if v, ok := ngxInetAddr(s); ok {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
	}
	if b, ok := ngxInet6Addr(s); ok {
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// ngxInetAddr is nginx's ngx_inet_addr: four dot-separated decimal
// octets, each up to 255 with any number of leading zeros and possibly
// empty (0). 255.255.255.255 is its INADDR_NONE, which callers take for a
// failure.
func ngxInetAddr(s string) (uint32, bool) {
	var addr, octet uint32
	dots := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if octet = octet*10 + uint32(c-'0'); octet > 255 {
				return 0, false
			}
		case c == '.':
			addr = addr<<8 + octet
			octet = 0
			dots++
		default:
			return 0, false
		}
	}
	if dots != 3 {
		return 0, false
	}
	addr = addr<<8 + octet
	return addr, addr != 0xffffffff
}

// ngxInet6Addr is nginx's ngx_inet6_addr, step for step, quirks and all:
// one leading colon is skipped (":1:2:3:4:5:6:7:8" is an address), "::"
// at the end stands for at least two groups ("1:2:3:4:5:6:7::" is none),
// and a trailing IPv4 part is read by ngx_inet_addr. No zone.
func ngxInet6Addr(s string) (addr [16]byte, ok bool) {
	if s == "" {
		return addr, false
	}
	zero, digit := -1, -1 // where "::" stands in addr; where the group after the last colon starts in s
	w, n := 0, 8          // bytes written; groups left
	nibbles, word := 0, 0
	i := 0
	if s[0] == ':' {
		i++
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			if nibbles > 0 {
				digit = i + 1
				addr[w], addr[w+1] = byte(word>>8), byte(word)
				w += 2
				if n--; n > 0 {
					nibbles, word = 0, 0
					continue
				}
			} else if zero < 0 {
				digit = i + 1
				zero = w
				continue
			}
			return addr, false
		}
		if c == '.' && nibbles > 0 {
			if n < 2 || digit < 0 {
				return addr, false
			}
			v4, ok := ngxInetAddr(s[digit:])
			if !ok {
				return addr, false
			}
			addr[w], addr[w+1] = byte(v4>>24), byte(v4>>16)
			w += 2
			n--
			word = int(v4)
			break
		}
		if nibbles++; nibbles > 4 {
			return addr, false
		}
		switch lc := c | 0x20; {
		case c >= '0' && c <= '9':
			word = word*16 + int(c-'0')
		case lc >= 'a' && lc <= 'f':
			word = word*16 + int(lc-'a') + 10
		default:
			return addr, false
		}
	}
	if nibbles == 0 && zero < 0 {
		return addr, false
	}
	addr[w], addr[w+1] = byte(word>>8), byte(word)
	w += 2
	if n--; n > 0 {
		if zero < 0 {
			return addr, false
		}
		gap := 2 * n
		copy(addr[zero+gap:], addr[zero:w])
		clear(addr[zero : zero+gap])
		return addr, true
	}
	return addr, zero < 0
}

// envoySpace is Envoy's StringUtil::WhitespaceChars, which
// getLastAddressFromXFF trims from the entry.
const envoySpace = " \t\f\v\n\r"

// lastForwardedEnvoy is the client Envoy takes from X-Forwarded-For with
// no trusted hops (Http::Utility::getLastAddressFromXFF): the text after
// the last comma, or the whole list when there is none or the comma ends
// it (so "203.0.113.9," is none, as Envoy's tests have ","), trimmed of
// whitespace, read as an IPv4 address (inet_pton) or an IPv6 one
// (getaddrinfo with AI_NUMERICHOST): strict dotted quads, no port, no
// brackets. Envoy joins several headers with commas before it reads them,
// and logs the joined list, so the logged text is what it read.
//
// Unlike Envoy it takes no zone: getaddrinfo resolves one against the
// Envoy host's interfaces, which a log reader cannot know, and a
// link-local client names no one beyond that host anyway. An IPv4-mapped
// address is the IPv4 address it carries, as for every logged peer.
func lastForwardedEnvoy(xff string) netip.Addr {
	if i := strings.LastIndexByte(xff, ','); i >= 0 && i+1 < len(xff) {
		xff = xff[i+1:]
	}
	a, err := netip.ParseAddr(strings.Trim(xff, envoySpace))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}
