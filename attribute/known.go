package attribute

import (
	"net/netip"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// maxKnown caps the proxy addresses learned; past it the set starts afresh
// from the configured prefixes (a cluster has tens of proxy pods, not
// thousands, so only churn over a very long run gets there).
const maxKnown = 4096

// meshInbound is the source a mesh sidecar uses for inbound passthrough:
// what OpenUnison logs for every request behind Istio.
var meshInbound = netip.AddrFrom4([4]byte{127, 0, 0, 6})

// proxySet is what is known to be a proxy, never a client.
type proxySet struct {
	prefixes []netip.Prefix
	addrs    map[netip.Addr]struct{}
}

func (s *proxySet) init(prefixes []netip.Prefix) {
	s.prefixes = append([]netip.Prefix{netip.PrefixFrom(meshInbound, 32)}, prefixes...)
	s.addrs = map[netip.Addr]struct{}{}
}

func (s *proxySet) has(a netip.Addr) bool {
	a = a.Unmap()
	if _, ok := s.addrs[a]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *proxySet) add(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	if len(s.addrs) >= maxKnown {
		clear(s.addrs)
	}
	s.addrs[a.Unmap()] = struct{}{}
}

func (s *proxySet) size() int { return len(s.addrs) + len(s.prefixes) }

// isMeshPeer reports whether OpenUnison logged a loopback address: behind
// a mesh sidecar every request comes from 127.0.0.6 (or 127.0.0.1 with
// older sidecars), so the peer says nothing of which proxy sent it.
func isMeshPeer(a netip.Addr) bool {
	a = a.Unmap()
	return a == meshInbound || a == netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// crowd finds proxies no log names: a private address that carries the
// token requests of many users is an ingress, not a machine of one user.
type crowd struct {
	users map[netip.Addr]crowdPeer
}

// crowdPeer is a private address's users. Most addresses are one user's
// machine: that user is kept in place, and a map is made only when a
// second user comes (a map per address was ~550 bytes each, 2 MB for the
// maxCrowd addresses a flood of users from distinct addresses fills).
type crowdPeer struct {
	first crowdKey
	at    time.Time
	more  map[crowdKey]time.Time // every user, once there are two
}

// crowdKey is a user; a struct, not IdP+"|"+DN, so noting one allocates
// nothing.
type crowdKey struct{ idp, user string }

// maxCrowd caps the private addresses watched; past it they start afresh.
const maxCrowd = 4096

func (c *crowd) init() { c.users = map[netip.Addr]crowdPeer{} }

// note counts ev's user for its peer and reports whether the peer now
// carries enough users to be a proxy. Users older than the window are
// forgotten only when the count could reach CrowdUsers: forgetting them
// sooner changes no answer (events come in log time order, so a user too
// old now is too old then), and walking the peer's users on every token
// request was most of this heuristic's cost. A peer keeps fewer than
// CrowdUsers users either way.
func (c *crowd) note(ev *parser.Event, opt *Options) bool {
	peer := ev.Peer
	if !geo.IsPrivate(peer) {
		return false
	}
	k := crowdKey{ev.IdP, ev.User}
	p, ok := c.users[peer]
	if !ok && len(c.users) >= maxCrowd {
		clear(c.users)
	}
	switch {
	case p.more != nil:
		p.more[k] = ev.Time
	case !ok || p.first == k:
		p.first, p.at = k, ev.Time
	default:
		p.more = map[crowdKey]time.Time{p.first: p.at, k: ev.Time}
	}
	if p.count() >= opt.CrowdUsers && p.more != nil {
		for u, t := range p.more {
			if ev.Time.Sub(t) > opt.CrowdWindow {
				delete(p.more, u)
			}
		}
	}
	if p.count() < opt.CrowdUsers {
		c.users[peer] = p
		return false
	}
	delete(c.users, peer)
	return true
}

func (p *crowdPeer) count() int {
	if p.more != nil {
		return len(p.more)
	}
	return 1
}

func isPrivatePeer(a netip.Addr) bool { return geo.IsPrivate(a) }
