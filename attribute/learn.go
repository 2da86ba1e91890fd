package attribute

import (
	"net/netip"
	"time"
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
// if one now leads clearly. A value taken (learned for another key: one
// proxy has one address, one OpenUnison pod one log) runs no more: the
// votes it drew were chance meetings.
// Each start afresh at a cap is counted in forgot.
func (v votes) add(key string, value netip.Addr, w float64, taken func(netip.Addr) bool, forgot *int64) (netip.Addr, bool) {
	m := v[key]
	if m == nil {
		if len(v) >= maxVoteKeys {
			clear(v)
			*forgot++
		}
		m = map[netip.Addr]float64{}
		v[key] = m
	}
	if _, ok := m[value]; !ok && len(m) >= maxVoteValues {
		clear(m)
		*forgot++
	}
	m[value] += w
	var best, second float64
	var bestAddr netip.Addr
	for a, n := range m {
		if taken(a) {
			continue
		}
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
	// logs maps a rotated generation's source name to its log's
	// (SameLog): the mappings below are the log's, whichever of its files
	// a line was read from, and are keyed by the log.
	logs        map[string]string
	upstream    map[string]netip.Addr // OpenUnison source → its upstream address
	upstreamSrc map[netip.Addr]string
	peer        map[string]netip.Addr // proxy source → the peer OpenUnison logs for it
	peerSrc     map[netip.Addr]string
	sources     map[string]struct{} // the proxy sources seen
	ous         map[string]struct{} // the OpenUnison sources seen
	// lastOU is in ous, once set: a log's token events come in runs,
	// and comparing its name (one pointer, mostly) is cheaper than hashing it.
	lastOU    string
	lastOUOK  bool
	upVotes   votes
	peerVotes votes
	// direct is the proxy logs' peers OpenUnison logged on token events:
	// proxies that reach it with nothing between, whose requests no other
	// proxy passes on (hop).
	direct map[netip.Addr]struct{}
	// forgotten counts the times a cap above (maxVoteKeys names,
	// maxVoteValues addresses) made one of these maps start afresh.
	forgotten int64
}

func (l *learner) init() {
	l.upstream, l.upstreamSrc = map[string]netip.Addr{}, map[netip.Addr]string{}
	l.peer, l.peerSrc = map[string]netip.Addr{}, map[netip.Addr]string{}
	l.sources, l.ous = map[string]struct{}{}, map[string]struct{}{}
	l.direct = map[netip.Addr]struct{}{}
	l.upVotes, l.peerVotes = votes{}, votes{}
}

// log is the log source src is a file of: itself unless SameLog said.
func (l *learner) log(src string) string {
	if g, ok := l.logs[src]; ok {
		return g
	}
	return src
}

// sameLog notes that src is a file of log, within maxVoteKeys names.
func (l *learner) sameLog(src, log string) {
	if src == log || src == "" || log == "" {
		return
	}
	if l.logs == nil {
		l.logs = map[string]string{}
	} else if len(l.logs) >= maxVoteKeys {
		clear(l.logs)
		l.forgotten++
	}
	l.logs[src] = l.log(log)
}

// upstreamOf is the upstream address learned for src's log.
func (l *learner) upstreamOf(src string) (netip.Addr, bool) {
	addr, ok := l.upstream[l.log(src)]
	return addr, ok
}

// peerOf is the peer learned for src's log.
func (l *learner) peerOf(src string) (netip.Addr, bool) {
	addr, ok := l.peer[l.log(src)]
	return addr, ok
}

// upstreamTaken reports whether addr is learned as another log's
// upstream.
func (l *learner) upstreamTaken(src string) func(netip.Addr) bool {
	log := l.log(src)
	return func(addr netip.Addr) bool {
		s, ok := l.upstreamSrc[addr]
		return ok && s != log
	}
}

// peerTaken reports whether addr is learned as another proxy log's peer.
func (l *learner) peerTaken(src string) func(netip.Addr) bool {
	log := l.log(src)
	return func(addr netip.Addr) bool {
		s, ok := l.peerSrc[addr]
		return ok && s != log
	}
}

func (l *learner) setUpstream(src string, addr netip.Addr) {
	l.forgotten += pair(l.upstream, l.upstreamSrc, l.log(src), addr.Unmap())
}

func (l *learner) setPeer(src string, addr netip.Addr) {
	l.forgotten += pair(l.peer, l.peerSrc, l.log(src), addr.Unmap())
	l.noteSource(src)
}

func (l *learner) noteSource(src string) { l.forgotten += addCapped(l.sources, src) }

// addCapped adds k to set, which starts afresh once it holds maxVoteKeys;
// it returns the times it did (0 or 1), for learner.forgotten.
func addCapped[K comparable](set map[K]struct{}, k K) int64 {
	if _, ok := set[k]; ok {
		return 0
	}
	var forgot int64
	if len(set) >= maxVoteKeys {
		clear(set)
		forgot = 1
	}
	set[k] = struct{}{}
	return forgot
}

// noteDirect notes that OpenUnison logged peer for a token request, when
// peer is a proxy log's: only those are asked (hop), and the clients
// calling OpenUnison's Service directly are many.
func (l *learner) noteDirect(peer netip.Addr) {
	peer = peer.Unmap()
	if _, ok := l.peerSrc[peer]; ok {
		l.forgotten += addCapped(l.direct, peer)
	}
}

func (l *learner) noteOU(src string) {
	if l.lastOUOK && src == l.lastOU {
		return
	}
	// lastOU stays true when the set starts afresh: it is put back.
	l.lastOU, l.lastOUOK = src, true
	l.forgotten += addCapped(l.ous, src)
}

// learnWait bounds, in log time, how long a token event waits for the
// mappings its join depends on (see holdForLearning).
const learnWait = 30 * time.Second

// holdForLearning reports whether the event at a.events[n], due by the
// join's own wait, must wait longer: its peer is a private address that is
// no known proxy and no proxy log's learned peer, and some record it could
// join comes from a proxy log whose peer is not learned yet. That peer may
// be the proxy (then the join is right) or a pod inside the cluster calling
// the Service directly (then the record is another client's, met by
// chance in the same second): only the learned mapping tells, a few
// seconds into the logs, so the event waits for it, bounded by learnWait
// of log time and MaxWait of wall time. Once every proxy log's peer is
// learned (or given, in Kubernetes mode) nothing waits here.
func (a *Attributor) holdForLearning(n int, through, now time.Time) bool {
	p := &a.events[n]
	ev := &p.ev
	if !a.expect || !IsToken(ev.Kind) || len(a.learn.peer) >= len(a.learn.sources) ||
		!through.Before(ev.Time.Add(learnWait)) || now.Sub(p.arrived) >= a.opt.MaxWait {
		return false
	}
	peer := ev.Peer
	if !peer.IsValid() {
		peer = ev.IP
	}
	peer = peer.Unmap()
	if !peer.IsValid() || isMeshPeer(peer) || !isPrivatePeer(peer) || a.known.has(peer) {
		return false
	}
	if _, ok := a.learn.peerSrc[peer]; ok {
		return false
	}
	// The votes of every event due so far, this one's included, say
	// whether another address competes for the same proxy log.
	a.voteFrom = max(a.voteFrom, n)
	a.preVote(through)
	a.scratch = a.candidates(ev, a.scratch[:0])
	for _, i := range a.scratch {
		r := &a.records[i].ev
		if _, ok := a.learn.peerOf(r.Source); !ok && !r.Proxy.UpstreamLocal.IsValid() &&
			(a.learn.contested(r.Source, peer) || a.rivalPeer(&a.records[i], peer, n)) {
			return true
		}
	}
	return false
}

// rivalPeer reports whether a waiting token event other than the one at
// n, logged with another peer than peer, could be record r's request.
func (a *Attributor) rivalPeer(r *record, peer netip.Addr, n int) bool {
	for j := range a.events {
		o := &a.events[j].ev
		if j != n && IsToken(o.Kind) && o.Peer.Unmap() != peer && a.compatible(o, r) {
			return true
		}
	}
	return false
}

// contested reports whether another address than peer has drawn votes to
// be proxy log src's peer: while peer is the only one, there is no other
// explanation to wait for.
func (l *learner) contested(src string, peer netip.Addr) bool {
	for a, n := range l.peerVotes[l.log(src)] {
		if a != peer && n > 0 && !l.peerTaken(src)(a) {
			return true
		}
	}
	return false
}

// preVote lets the events due behind a held one vote for the proxy logs'
// peers, once each, so that the mapping the held one waits for can be
// learned while it waits. Their upstream votes wait for their match
// (voteUpstream says why).
func (a *Attributor) preVote(through time.Time) {
	for j := a.voteFrom; j < len(a.events); j++ {
		q := &a.events[j]
		if through.Before(q.ev.Time.Add(a.opt.Window)) {
			break
		}
		a.voteFrom = j + 1
		if q.voted || !IsToken(q.ev.Kind) {
			continue
		}
		if !q.ev.Peer.IsValid() {
			q.ev.Peer = q.ev.IP
		}
		a.scratch = a.candidates(&q.ev, a.scratch[:0])
		a.votePeer(&q.ev, a.scratch)
		q.voted = true
	}
}

// pair makes src and addr each other's only partner in a one-to-one map
// kept as two maps: a source has one address, an address one source, and
// a re-learned mapping drops both old ones. At maxVoteKeys sources it
// starts over, and says so (1, else 0).
func pair(bySrc map[string]netip.Addr, byAddr map[netip.Addr]string, src string, addr netip.Addr) (forgot int64) {
	if old, ok := bySrc[src]; ok {
		delete(byAddr, old)
	}
	if old, ok := byAddr[addr]; ok {
		delete(bySrc, old)
	}
	if len(bySrc) >= maxVoteKeys {
		clear(bySrc)
		clear(byAddr)
		forgot = 1
	}
	bySrc[src], byAddr[addr] = addr, src
	return forgot
}
