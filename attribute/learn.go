package attribute

import (
	"net/netip"
)

// The mappings attribution needs (which OpenUnison log is behind which
// upstream address, which proxy log is which logged peer) are given in
// Kubernetes mode and learned from the logs otherwise. Learning votes: each
// token event spreads one vote over the (source, address) pairs its
// candidate records suggest, so the true pairs, which every request
// confirms, outgrow the chance ones long before any single match is
// unique, even when many requests share a second.

// Learning thresholds: a pair is learned once it has learnVotes votes and
// learnLead times as many as the runner-up for the same source.
const (
	learnVotes = 4.0
	learnLead  = 3.0
	// maxVoteKeys caps the sources voted on; past it the votes start afresh.
	maxVoteKeys = 1024
	// maxVoteValues caps the addresses voted for per source.
	maxVoteValues = 64
)

type votes map[string]map[netip.Addr]float64

// add votes w for value under key and returns the value it has learned,
// if one now leads clearly.
func (v votes) add(key string, value netip.Addr, w float64) (netip.Addr, bool) {
	m := v[key]
	if m == nil {
		if len(v) >= maxVoteKeys {
			clear(v)
		}
		m = map[netip.Addr]float64{}
		v[key] = m
	}
	if _, ok := m[value]; !ok && len(m) >= maxVoteValues {
		clear(m)
	}
	m[value] += w
	var best, second float64
	var bestAddr netip.Addr
	for a, n := range m {
		switch {
		case n > best:
			second, best, bestAddr = best, n, a
		case n > second:
			second = n
		}
	}
	if best >= learnVotes && best >= learnLead*second {
		return bestAddr, true
	}
	return netip.Addr{}, false
}

type learner struct {
	upstream    map[string]netip.Addr // OpenUnison source → its upstream address
	upstreamSrc map[netip.Addr]string
	peer        map[string]netip.Addr // proxy source → the peer OpenUnison logs for it
	peerSrc     map[netip.Addr]string
	sources     map[string]struct{} // the proxy sources seen
	ous         map[string]struct{} // the OpenUnison sources seen
	upVotes     votes
	peerVotes   votes
}

func (l *learner) init() {
	l.upstream, l.upstreamSrc = map[string]netip.Addr{}, map[netip.Addr]string{}
	l.peer, l.peerSrc = map[string]netip.Addr{}, map[netip.Addr]string{}
	l.sources, l.ous = map[string]struct{}{}, map[string]struct{}{}
	l.upVotes, l.peerVotes = votes{}, votes{}
}

func (l *learner) setUpstream(src string, addr netip.Addr) {
	addr = addr.Unmap()
	if old, ok := l.upstream[src]; ok {
		delete(l.upstreamSrc, old)
	}
	if old, ok := l.upstreamSrc[addr]; ok {
		delete(l.upstream, old)
	}
	if len(l.upstream) >= maxVoteKeys {
		clear(l.upstream)
		clear(l.upstreamSrc)
	}
	l.upstream[src], l.upstreamSrc[addr] = addr, src
}

func (l *learner) setPeer(src string, addr netip.Addr) {
	addr = addr.Unmap()
	if old, ok := l.peer[src]; ok {
		delete(l.peerSrc, old)
	}
	if old, ok := l.peerSrc[addr]; ok {
		delete(l.peer, old)
	}
	if len(l.peer) >= maxVoteKeys {
		clear(l.peer)
		clear(l.peerSrc)
	}
	l.peer[src], l.peerSrc[addr] = addr, src
	l.noteSource(src)
}

func (l *learner) noteSource(src string) {
	if _, ok := l.sources[src]; ok {
		return
	}
	if len(l.sources) >= maxVoteKeys {
		clear(l.sources)
	}
	l.sources[src] = struct{}{}
}

func (l *learner) noteOU(src string) {
	if _, ok := l.ous[src]; ok {
		return
	}
	if len(l.ous) >= maxVoteKeys {
		clear(l.ous)
	}
	l.ous[src] = struct{}{}
}
