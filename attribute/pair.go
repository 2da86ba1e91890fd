package attribute

import (
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
	maxPairEvents  = 6
	maxPairRecords = 8
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
}

func (p *pastEvents) add(ev *parser.Event, keep time.Duration) {
	for p.head < len(p.evs) && (ev.Time.Sub(p.evs[p.head].Time) > keep || len(p.evs)-p.head >= maxPast) {
		p.evs[p.head] = parser.Event{}
		p.head++
	}
	if p.head > 0 && p.head >= len(p.evs)/2 {
		n := copy(p.evs, p.evs[p.head:])
		clear(p.evs[n:])
		p.evs, p.head = p.evs[:n], 0
	}
	p.evs = append(p.evs, parser.Event{
		Kind: ev.Kind, Time: ev.Time, User: ev.User, IdP: ev.IdP, URL: ev.URL, Source: ev.Source,
		Thread: ev.Thread, Session: ev.Session, Peer: ev.Peer, Attribution: ev.Attribution,
	})
}

func (p *pastEvents) all() []parser.Event { return p.evs[p.head:] }

// distinctFromPrev reports whether the ambiguous grace reuse g, at
// a.events[idx], provably came from another client than the refresh that
// rotated its token.
func (a *Attributor) distinctFromPrev(g *parser.Event, idx int) bool {
	// An OpenUnison log read less far than the wait could still bring a
	// request that competes for the same records.
	if !a.ouOK || a.ouClock.Before(g.Time.Add(a.opt.Window)) {
		return false
	}
	past := a.past.all()
	var refresh, twin *parser.Event
	for i := len(past) - 1; i >= 0 && refresh == nil; i-- {
		o := &past[i]
		if g.Time.Sub(o.Time) > a.opt.Window {
			break
		}
		if o.Kind != parser.KindTokenOK || o.User != g.User || o.IdP != g.IdP || o.Time.After(g.Time) {
			continue
		}
		if sameRequest(o, g) {
			if twin == nil {
				twin = o
			}
			continue
		}
		refresh = o
	}
	if refresh == nil || refresh.Attribution != parser.AttrAmbiguous {
		return false // no refresh, or one whose client is known: the rules compare them
	}
	req := g // the reuse's request: its AzSuccess when logged
	if twin != nil {
		req = twin
	}
	b := a.bucket(refresh, req, idx)
	if b == nil {
		return false
	}
	return b.alwaysDistinct(0, 1)
}

// bucket is a closed set of requests and records: every record any of the
// requests could be, and every request still open that could be one of
// those records.
type bucket struct {
	events  []*parser.Event
	records []int   // indexes into Attributor.records
	fit     [][]int // per event, the positions in records it can be
	clients []netip.Addr
}

// bucket gathers the requests competing with x and y for their records;
// nil when it grows past the bounds.
func (a *Attributor) bucket(x, y *parser.Event, idx int) *bucket {
	b := &bucket{events: []*parser.Event{x, y}}
	open := a.openRivals(idx)
	for done := 0; done < len(b.events); done++ {
		for _, r := range a.candidates(b.events[done], nil) {
			if slices.Contains(b.records, r) {
				continue
			}
			if len(b.records) == maxPairRecords {
				return nil
			}
			b.records = append(b.records, r)
			for _, o := range open {
				if !slices.Contains(b.events, o) && a.compatible(o, &a.records[r]) {
					if len(b.events) == maxPairEvents {
						return nil
					}
					b.events = append(b.events, o)
				}
			}
		}
	}
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
	return b
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
// bucket a record of its own gives events x and y different clients, and
// there is at least one such way.
func (b *bucket) alwaysDistinct(x, y int) bool {
	used := make([]bool, len(b.records))
	at := make([]int, len(b.events))
	found, same := false, false
	var walk func(e int)
	walk = func(e int) {
		if same {
			return
		}
		if e == len(b.events) {
			found = true
			same = b.clients[at[x]] == b.clients[at[y]]
			return
		}
		for _, k := range b.fit[e] {
			if !used[k] {
				used[k], at[e] = true, k
				walk(e + 1)
				used[k] = false
			}
		}
	}
	walk(0)
	return found && !same
}
