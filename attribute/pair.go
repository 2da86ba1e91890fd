package attribute

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Reasoning across a pair. A bot replaying a stolen refresh token a few
// milliseconds after the victim's refresh, through the same proxy pod to
// the same OpenUnison replica, leaves two requests that nginx's whole
// seconds (or Istio's 127.0.0.6 for every pod) cannot tell apart: each is
// ambiguous between the same two records. Which record is which cannot be
// known, but that the two requests are two records can: if every way of
// giving each waiting request one record of its own gives the reuse and
// the refresh that rotated its token different clients, the reuse's client
// is not the refresh's (Event.DistinctFromPrev), whichever is the thief.
// A benign race is one client sending two requests: its two records have
// the same client, so one way of sharing them out gives both sides the same
// client and nothing is claimed.
//
// The proof assumes what the join assumes everywhere: every request that
// went through a proxy is in its log, and a record answers one request.
// Events whose record is settled (joined) are out of the bucket, as are
// records already used; only requests still ambiguous, or still waiting,
// compete for the bucket's records.

// Bounds of the reasoning: a bucket bigger than this is left ambiguous.
const (
	maxPairEvents  = 16
	maxPairRecords = 48
	// maxPairSteps bounds the search through the ways of sharing a
	// bucket's records out.
	maxPairSteps   = 2000
	maxNarrowSteps = 300
	// maxPast caps the released token events remembered.
	maxPast = 8192
)

// pastEvents are released token events, in release (log time) order,
// kept one Window so that a later reuse can find the refresh before it and
// the requests that competed for the same records. Only the fields the
// join reads are kept.
type pastEvents struct {
	evs  []parser.Event
	head int
	// open says, per event of evs, whether it was released without a
	// record of its own (ambiguous, or unattributed with no record taken):
	// one joined to a record that names no client is unattributed but
	// took its record, and wants none of those left.
	open []bool
	// lastOpen is the time of the latest event added without a record of
	// its own (zero: none yet): a join looks for such requests around it
	// (outnumbered) only when one is that recent, as in honest traffic
	// almost none is.
	lastOpen time.Time
}

// add keeps ev, released; open says it has no record of its own.
func (p *pastEvents) add(ev *parser.Event, keep time.Duration, open bool) {
	for p.head < len(p.evs) && (ev.Time.Sub(p.evs[p.head].Time) > keep || len(p.evs)-p.head >= maxPast) {
		p.evs[p.head] = parser.Event{}
		p.head++
	}
	if p.head > 0 && p.head >= len(p.evs)/2 {
		n := copy(p.evs, p.evs[p.head:])
		copy(p.open, p.open[p.head:])
		clear(p.evs[n:])
		p.evs, p.open, p.head = p.evs[:n], p.open[:n], 0
	}
	if open {
		p.lastOpen = ev.Time
	}
	p.open = append(p.open, open)
	p.evs = append(p.evs, parser.Event{
		Kind: ev.Kind, Time: ev.Time, User: ev.User, IdP: ev.IdP, URL: ev.URL, Source: ev.Source,
		Thread: ev.Thread, Session: ev.Session, Peer: ev.Peer, Attribution: ev.Attribution,
	})
}

func (p *pastEvents) all() []parser.Event { return p.evs[p.head:] }

// openAt says whether all()[i] was released without a record of its own.
func (p *pastEvents) openAt(i int) bool { return p.open[p.head+i] }

// distinctFromPrev reports whether the ambiguous grace reuse g, at
// a.events[idx], provably came from another client than the refresh that
// rotated its token; if so it returns the clients g can have in some
// consistent way of sharing the records out (nil when the search gave up
// on that), which may be fewer than its candidates.
func (a *Attributor) distinctFromPrev(g *parser.Event, idx int) ([]netip.Addr, bool) {
	// Let go by MaxWait or the cap before an OpenUnison log was read as
	// far as the wait (ouReadPast), g may have a request still to come
	// that competes for the same records.
	if !a.ouOK || a.ouClock.Before(g.Time.Add(a.opt.Window)) {
		return nil, false
	}
	refresh, twin := a.refreshOf(g)
	if refresh == nil || refresh.Attribution != parser.AttrAmbiguous {
		return nil, false // no refresh, or one whose client is known: the rules compare them
	}
	req := g // the reuse's request: its AzSuccess when logged
	if twin != nil {
		req = twin
	}
	b := a.bucket(refresh, req, idx)
	if b == nil || !b.alwaysDistinct(0, 1) {
		return nil, false
	}
	return b.clientsOf(1), true
}

// refreshOf finds, among the released events one Window back, the refresh
// that rotated g's token (the user's latest token_ok before it that is
// another request) and g's own AzSuccess (twin), either nil when not there.
// The twin is the newest line of g's source, thread and session only: a
// thread serves one request at a time, so an older line of the same key is
// another request. With the OIDC session's id in the brackets a thief's
// replay logs its victim's id, and served on the thread its victim's refresh
// just freed, that refresh is such a line: taken for the twin too, it was
// never compared, and the bot's replay went unproved.
func (a *Attributor) refreshOf(g *parser.Event) (refresh, twin *parser.Event) {
	past := a.past.all()
	for i := len(past) - 1; i >= 0 && refresh == nil; i-- {
		o := &past[i]
		if g.Time.Sub(o.Time) > a.opt.Window {
			break
		}
		if o.Kind != parser.KindTokenOK || o.User != g.User || o.IdP != g.IdP || o.Time.After(g.Time) {
			continue
		}
		if twin == nil && sameRequest(o, g) {
			twin = o
			continue
		}
		refresh = o
	}
	return refresh, twin
}

// bucket is the requests a proof is about (the reuse's and its
// refresh's, then rivals for their records) and every record any of them
// could be: a request's true record is among its candidates, so every way
// of giving each request a record of its own among them, in an order the
// proxy's log allows, includes the true one.
type bucket struct {
	events  []*parser.Event
	records []int   // indexes into Attributor.records, in arrival order
	fit     [][]int // per event, the positions in records it can be
	clients []netip.Addr
	byTime  []int // the events, in time order
	recSrc  []int // per record, its log (numbered)
	evSrc   []int // per event, the one log all its records are in, or -1
	a       *Attributor
}

// number numbers the records' logs, and notes each event's one log.
func (b *bucket) number() {
	var logs []string
	for _, r := range b.records {
		src := b.a.records[r].ev.Source
		i := slices.Index(logs, src)
		if i < 0 {
			i, logs = len(logs), append(logs, src)
		}
		b.recSrc = append(b.recSrc, i)
	}
	for _, fit := range b.fit {
		one := -1
		for n, k := range fit {
			if n == 0 {
				one = b.recSrc[k]
			} else if b.recSrc[k] != one {
				one = -1
				break
			}
		}
		b.evSrc = append(b.evSrc, one)
	}
}

// bucket gathers x's and y's candidate records, and the open requests that
// compete for them whose own candidates stay within the bounds (a rival
// left out only leaves the proof fewer constraints); nil when x's and y's
// own records exceed the bounds.
func (a *Attributor) bucket(x, y *parser.Event, idx int) *bucket {
	b := &bucket{events: []*parser.Event{x, y}, a: a}
	for _, ev := range b.events {
		if !b.addRecords(a.candidates(ev, nil)) {
			return nil
		}
	}
	// The nearest rivals first: they compete for the same records most.
	rivals := a.openRivals(idx)
	slices.SortStableFunc(rivals, func(p, q *parser.Event) int {
		return cmp.Compare(p.Time.Sub(x.Time).Abs(), q.Time.Sub(x.Time).Abs())
	})
	for _, o := range rivals {
		if len(b.events) == maxPairEvents {
			break
		}
		if slices.Contains(b.events, o) || !slices.ContainsFunc(b.records, func(r int) bool { return a.compatible(o, &a.records[r]) }) {
			continue
		}
		before := len(b.records)
		if !b.addRecords(a.candidates(o, nil)) {
			b.records = b.records[:before]
			continue
		}
		b.events = append(b.events, o)
	}
	slices.Sort(b.records)
	b.fit = make([][]int, len(b.events))
	for e, ev := range b.events {
		for k, r := range b.records {
			if a.compatible(ev, &a.records[r]) {
				b.fit[e] = append(b.fit[e], k)
			}
		}
	}
	for _, r := range b.records {
		b.clients = append(b.clients, a.records[r].ev.Proxy.Client)
	}
	b.byTime = make([]int, len(b.events))
	for i := range b.byTime {
		b.byTime[i] = i
	}
	slices.SortStableFunc(b.byTime, func(i, j int) int { return b.events[i].Time.Compare(b.events[j].Time) })
	b.number()
	return b
}

// addRecords adds rs to the bucket's records; false past the bound.
func (b *bucket) addRecords(rs []int) bool {
	for _, r := range rs {
		if slices.Contains(b.records, r) {
			continue
		}
		if len(b.records) == maxPairRecords {
			return false
		}
		b.records = append(b.records, r)
	}
	return true
}

// openRivals are the requests that may still claim a record: the released
// ones left ambiguous and the token events waiting at or after idx. A
// reuse whose AzSuccess is among them is that request already.
func (a *Attributor) openRivals(idx int) []*parser.Event {
	var out []*parser.Event
	past := a.past.all()
	for i := range past {
		o := &past[i]
		if o.Attribution == parser.AttrAmbiguous && (o.Kind != parser.KindGraceReuse || !twinIn(past, i)) {
			out = append(out, o)
		}
	}
	for j := idx + 1; j < len(a.events); j++ {
		o := &a.events[j].ev
		if IsToken(o.Kind) && (o.Kind != parser.KindGraceReuse || !a.hasTwin(j)) {
			out = append(out, o)
		}
	}
	return out
}

// twinIn reports whether the grace reuse past[i] has its AzSuccess among
// the released events before it.
func twinIn(past []parser.Event, i int) bool {
	ev := &past[i]
	for j := i - 1; j >= 0 && ev.Time.Sub(past[j].Time) <= twinGap; j-- {
		if past[j].Kind == parser.KindTokenOK && sameRequest(&past[j], ev) {
			return true
		}
	}
	return false
}

// alwaysDistinct reports whether every way of giving each event of the
// bucket a record of its own, in an order the proxy logs allow, gives
// events x and y different clients, and there is at least one such way.
// It tries the ways x and y could share a client first: most buckets
// have none, and then one complete way proves the rest consistent. Past
// maxPairSteps it gives up (false). A record naming no client may be
// anyone's, the other event's client included.
func (b *bucket) alwaysDistinct(x, y int) bool {
	s := search{b: b, at: make([]int, len(b.events)), used: make([]bool, len(b.records))}
	for i := range s.at {
		s.at[i] = -1
	}
	for _, kx := range b.fit[x] {
		for _, ky := range b.fit[y] {
			cx, cy := b.clients[kx], b.clients[ky]
			if kx == ky || cx != cy && cx.IsValid() && cy.IsValid() {
				continue
			}
			if s.completes(map[int]int{x: kx, y: ky}) || s.steps > maxPairSteps {
				return false
			}
		}
	}
	return s.completes(nil) && s.steps <= maxPairSteps
}

// clientsOf returns the clients event e can have in some complete way of
// sharing the records out, or nil when the search gives up.
func (b *bucket) clientsOf(e int) []netip.Addr {
	// Narrowing is a nicety: a smaller budget, the candidates kept whole
	// past it.
	s := search{b: b, at: make([]int, len(b.events)), used: make([]bool, len(b.records)), steps: maxPairSteps - maxNarrowSteps}
	for i := range s.at {
		s.at[i] = -1
	}
	var out []netip.Addr
	for _, k := range b.fit[e] {
		if slices.Contains(out, b.clients[k]) {
			continue
		}
		if s.completes(map[int]int{e: k}) {
			out = append(out, b.clients[k])
		}
		if s.steps > maxPairSteps {
			return nil
		}
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out
}

// search looks for one complete way of giving every event of a bucket a
// record of its own, counting its steps against maxPairSteps.
type search struct {
	b     *bucket
	at    []int // per event, its record's position, -1 while unset
	used  []bool
	steps int
	// relaxed's buffers
	owner, match []int
	seen         []bool
}

// completes reports whether the events can all have records with the
// given ones fixed.
func (s *search) completes(fixed map[int]int) bool {
	for e, k := range fixed {
		if s.used[k] || !s.b.ordered(e, k, s.at) {
			s.reset(fixed)
			return false
		}
		s.at[e], s.used[k] = k, true
	}
	ok := s.walk()
	s.reset(fixed)
	return ok
}

func (s *search) reset(fixed map[int]int) {
	for e, k := range fixed {
		if s.at[e] == k {
			s.at[e], s.used[k] = -1, false
		}
	}
}

// relaxed reports whether every unset event can still have a record of its
// own, order aside (augmenting paths): a necessary condition, cheap to
// check before searching in order; and whether the way it found keeps the
// proxy logs' order, which ends the search at once.
func (s *search) relaxed() (feasible, done bool) {
	if s.owner == nil {
		s.owner, s.match, s.seen = make([]int, len(s.b.records)), make([]int, len(s.at)), make([]bool, len(s.b.records))
	}
	owner, match, seen := s.owner, s.match, s.seen
	for k := range owner {
		owner[k] = -1
	}
	for e, k := range s.at {
		if k >= 0 {
			owner[k] = e
		}
	}
	copy(match, s.at)
	for e := range s.b.events {
		if s.at[e] >= 0 {
			continue
		}
		clear(seen)
		if !s.augment(e, owner, match, seen) {
			return false, false
		}
	}
	for e, k := range match {
		if !s.b.ordered(e, k, match) {
			return true, false
		}
	}
	return true, true
}

// augment finds event e a record, moving events the search has not set.
// It takes only records that keep the proxy logs' order with the events
// the search has set, as any complete way must: so a pair fixed at two
// records that leave the requests after them too few is refuted here, in
// a step, where the walk found it out only once every earlier request had
// been tried at every record (past maxPairSteps on a busy second: the
// proof gave up on replays it could make).
func (s *search) augment(e int, owner, match []int, seen []bool) bool {
	for _, k := range s.b.fit[e] {
		if seen[k] || !s.b.ordered(e, k, s.at) {
			continue
		}
		seen[k] = true
		o := owner[k]
		if o >= 0 && s.at[o] >= 0 {
			continue // set by the search
		}
		if o < 0 || s.augment(o, owner, match, seen) {
			owner[k], match[e] = e, k
			return true
		}
	}
	return false
}

// roomAfter reports whether, with event e at the record at position k,
// the open events that must be logged after it in that record's log (all
// their records are in it, and e was over before they came) still have as
// many free records after k.
func (s *search) roomAfter(e, k int) bool {
	rec, src := &s.b.a.records[s.b.records[k]], s.b.recSrc[k]
	need := 0
	for o, ko := range s.at {
		if ko < 0 && o != e && s.b.evSrc[o] == src && before(s.b.events[e], rec, s.b.events[o], s.b.a.opt.Skew) {
			need++
		}
	}
	if need == 0 {
		return true
	}
	free := 0
	for j := k + 1; j < len(s.b.records) && free < need; j++ {
		if !s.used[j] && s.b.recSrc[j] == src {
			free++
		}
	}
	return free >= need
}

// walk gives the next unset event in time order a record, and goes on.
func (s *search) walk() bool {
	s.steps++
	if s.steps > maxPairSteps {
		return false
	}
	if feasible, done := s.relaxed(); !feasible || done {
		return feasible
	}
	e := -1
	for _, i := range s.b.byTime {
		if s.at[i] < 0 {
			e = i
			break
		}
	}
	if e < 0 {
		return true
	}
	for _, k := range s.b.fit[e] {
		if s.used[k] || !s.b.ordered(e, k, s.at) || !s.roomAfter(e, k) {
			continue
		}
		s.at[e], s.used[k] = k, true
		ok := s.walk()
		s.at[e], s.used[k] = -1, false
		if ok {
			return true
		}
	}
	return false
}

// ordered reports whether giving event e the record at position k keeps
// the order of one proxy log with the events given records before it: a
// proxy writes a request's record when it ends, so of two requests of one
// log, one over (by its record's duration and the skew) before the other
// reached OpenUnison was logged first.
func (b *bucket) ordered(e, k int, at []int) bool {
	ev, rec := b.events[e], &b.a.records[b.records[k]]
	for d, kd := range at {
		if kd < 0 || d == e {
			continue
		}
		o, orec := b.events[d], &b.a.records[b.records[kd]]
		if orec.ev.Source != rec.ev.Source {
			continue
		}
		if before(o, orec, ev, b.a.opt.Skew) && kd > k || before(ev, rec, o, b.a.opt.Skew) && k > kd {
			return false
		}
	}
	return true
}

// before reports whether the request of event x, as record rx, was over
// before event y reached OpenUnison.
func before(x *parser.Event, rx *record, y *parser.Event, skew time.Duration) bool {
	return y.Time.Sub(x.Time) > rx.ev.Proxy.Duration+2*skew+time.Millisecond
}
