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
// Every token request of a plain scan notes its peer here, so an address's
// users are kept in a slice the map points into: a note looks its address
// up once and changes its users in place, where a map of values was read
// and written back on every request.
type crowd struct {
	at    map[netip.Addr]int32 // a watched address's place in peers
	peers []crowdPeer
	free  []int32 // places let go (their address became a proxy), taken first
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

func (c *crowd) init() { c.at = map[netip.Addr]int32{} }

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
	i, ok := c.at[peer]
	if !ok {
		if len(c.at) >= maxCrowd {
			c.reset()
		}
		if opt.CrowdUsers <= 1 {
			return true // its one user is a crowd: nothing to keep
		}
		c.watch(peer, crowdPeer{first: k, at: ev.Time})
		return false
	}
	p := &c.peers[i]
	switch {
	case p.more != nil:
		p.more[k] = ev.Time
	case p.first == k:
		p.at = ev.Time
		return false // still one user, and CrowdUsers > 1 (else not kept)
	default:
		p.more = map[crowdKey]time.Time{p.first: p.at, k: ev.Time}
	}
	if len(p.more) >= opt.CrowdUsers {
		for u, t := range p.more {
			if ev.Time.Sub(t) > opt.CrowdWindow {
				delete(p.more, u)
			}
		}
	}
	if len(p.more) < opt.CrowdUsers {
		return false
	}
	c.unwatch(peer, i)
	return true
}

// watch starts watching peer, in a place let go if there is one: peers
// never holds more than the most addresses watched at once, maxCrowd.
func (c *crowd) watch(peer netip.Addr, p crowdPeer) {
	if n := len(c.free); n > 0 {
		i := c.free[n-1]
		c.free = c.free[:n-1]
		c.peers[i], c.at[peer] = p, i
		return
	}
	c.at[peer] = int32(len(c.peers))
	c.peers = append(c.peers, p)
}

// unwatch lets go of peer, at place i, and of the users it held.
func (c *crowd) unwatch(peer netip.Addr, i int32) {
	delete(c.at, peer)
	c.peers[i] = crowdPeer{}
	c.free = append(c.free, i)
}

// reset forgets every address watched.
func (c *crowd) reset() {
	clear(c.at)
	clear(c.peers)
	c.peers, c.free = c.peers[:0], c.free[:0]
}

func isPrivatePeer(a netip.Addr) bool { return geo.IsPrivate(a) }
