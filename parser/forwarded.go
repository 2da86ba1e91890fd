package parser

import (
	"net/netip"
	"strings"
)

// LastForwarded reads the right-most entry of an X-Forwarded-For list as
// nginx's realip module reads it, and returns its address and the list
// before it, for a caller that walks on past trusted hops. Entries are
// separated by commas or spaces (a tab is part of an entry), empty ones are
// skipped, and an entry is an address or one with a port from 1 to 65535
// ("a:p", "[v6]:p", as ngx_parse_addr_port takes it), never with a zone;
// an IPv4-mapped address is the IPv4 address it carries, as Java prints it
// for OpenUnison. ok is false when no entry is left or the right-most is
// no address: nginx believes nothing from there on.
//
// It is the one reading of the header: the access-log lines that log no
// peer take their client from it, and package idp's stand-in proxy and
// bundled IdP (held to a real nginx by its tests) walk it, so the client
// graceguard reads from a proxy's line is the one nginx would have logged.
func LastForwarded(list string) (a netip.Addr, before string, ok bool) {
	list = strings.TrimRight(list, " ,")
	if list == "" {
		return netip.Addr{}, "", false
	}
	i := strings.LastIndexAny(list, " ,")
	a, ok = forwardedAddr(list[i+1:])
	if !ok {
		return netip.Addr{}, "", false
	}
	return a, list[:i+1], true
}

// forwardedAddr reads one X-Forwarded-For entry.
func forwardedAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
