// Package attribute finds the real client of each OpenUnison token-endpoint
// request. OpenUnison logs the TCP peer, which behind an ingress controller
// or a mesh is a proxy; the proxy's own access log (parser.KindProxy
// records) names the client and its user agent. This package joins the two
// records of one request, by path, status, upstream address, the proxy's
// identity and the time relation of each format, and learns from the logs
// which OpenUnison log is which upstream and which proxy log is which
// logged peer. It knows the proxies, so that two of them are never compared
// as if they were clients.
//
// It owns the join, the waiting it needs (an event waits a bounded window
// of log time for its proxy record, and for the OpenUnison requests after
// it that compete for the same records, and a record for its event; an
// event whose join depends on a mapping not learned yet waits for it,
// bounded too: learn.go), the learned mappings (or those Kubernetes gives:
// Options.Upstreams, ProxyPeers, PeerOf) and the set of known proxies. It
// must not judge: it sets Event.IP, Peer, Agent, Via, Attribution,
// Candidates and DistinctFromPrev and leaves every verdict to correlate and
// rules. It never guesses: when the candidate records name different
// clients the event is ambiguous and keeps them all.
//
// A join assumes what it is given: every request that went through a proxy
// has its record in the proxy's log. A client can break that where the
// format logs a path the client wrote (Envoy's and Istio's defaults log
// %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%, and an edge Envoy passes a client's
// X-Envoy-Original-Path on): a thief's replay whose record shows /healthz
// leaves OpenUnison one token request more than the proxy's token records,
// and the one record it was beside, the victim's, would join whichever
// request came first, the thief's included, or the replay as the second of
// the victim's own race. So no request is joined while it is outnumbered:
// when it and the open requests that could be the same records (and those
// that could be theirs, and so on) are more than every record any of them
// could be, one of them has no record, which one is unknown, and each is
// unattributed (its client may be anyone's; Stats.Outnumbered counts
// them). A record planted the other way (a request to OpenUnison whose
// record shows the token endpoint) is one more candidate: the requests
// beside it are ambiguous, as with any record no request claims, unless
// its method (GET, say) is none a token request has (methodFits).
//
// DistinctFromPrev is a proof, not a guess (pair.go): on an ambiguous grace
// reuse it says that every way of giving the open requests around it a
// record of their own, in an order the proxy logs allow, gives the reuse
// another client than the refresh that rotated its token (the user's latest
// token_ok before it). It says nothing of which candidate each request was,
// and Candidates then holds the clients some such way gives the reuse. One
// client's race has two records of that client, so it is never marked.
//
// It does no I/O; its memory is capped and what it drops is counted.
package attribute

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// DefaultSkew is Options.Skew's default: NTP keeps nodes of one cluster
// within a few milliseconds, and a wider slack lets more requests of a
// busy proxy match each other's records.
const DefaultSkew = 5 * time.Millisecond

// Options configure an Attributor. Zero values take the defaults.
type Options struct {
	// Window is how much log time a token event waits for the proxy's record
	// of the same request (and a record for its event): the longest token
	// request plus the clock skew between nodes. Default 2s.
	Window time.Duration
	// MaxWait bounds the wait in wall time when a proxy log falls behind.
	// Default Window + 2s.
	MaxWait time.Duration
	// Lag is how long after OpenUnison's line a proxy's record of the same
	// request can still arrive, in wall time: the proxy writes it once the
	// answer has gone, and the follower reads it a poll later. A quiet
	// proxy log's clock (Quiet) vouches only for the events that arrived
	// Lag ago or earlier. Default 500ms.
	Lag time.Duration
	// Skew is the clock slack allowed between a proxy's and OpenUnison's
	// times (pods on different nodes share only NTP). Default DefaultSkew.
	Skew time.Duration
	// MaxPending caps the events and the records waiting; past it the
	// oldest goes at once (counted). Default 100,000 each.
	MaxPending int
	// Proxies are addresses known to be proxies (--proxies); 127.0.0.6,
	// a mesh sidecar's inbound source, always is.
	Proxies []netip.Prefix
	// Expect says proxy logs will be among the inputs (Kubernetes mode
	// with proxy pods), so token events wait for their records from the
	// start, before any proxy's first line has arrived.
	Expect bool
	// Upstreams maps an upstream address (an OpenUnison pod's IP) to the
	// source that holds that pod's log, when known (Kubernetes mode).
	Upstreams map[netip.Addr]string
	// ProxyPeers maps a proxy log's source to the address OpenUnison logs
	// for that proxy (its pod IP), when known (Kubernetes mode).
	ProxyPeers map[string]netip.Addr
	// PeerOf, when set, names the address OpenUnison logs for the proxy
	// whose log is source (its pod IP, in Kubernetes mode, where proxy pods
	// come and go): asked when a proxy log shows itself, and again at most
	// once a second of log time while it has no answer. Called from the
	// Attributor's goroutine.
	PeerOf func(source string) (netip.Addr, bool)
	// CrowdUsers is how many distinct users' token requests through one
	// private address, within CrowdWindow, make it a proxy when no proxy log
	// says so. Default 5 in 10 minutes.
	CrowdUsers  int
	CrowdWindow time.Duration
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 2 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = o.Window + 2*time.Second
	}
	if o.Lag <= 0 {
		o.Lag = 500 * time.Millisecond
	}
	if o.Skew <= 0 {
		o.Skew = DefaultSkew
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100_000
	}
	if o.CrowdUsers <= 0 {
		o.CrowdUsers = 5
	}
	if o.CrowdWindow <= 0 {
		o.CrowdWindow = 10 * time.Minute
	}
}

// Stats count what an Attributor did and holds.
type Stats struct {
	Outcomes           [5]int64      // token events by parser.Attribution
	UnattributedReuses int64         // grace reuses through a proxy with no record to join
	NoClientReuses     int64         // of those, the ones whose record was found and names no client ("-")
	WaitingEvents      int           // events waiting for their proxy record
	WaitingRecords     int           // proxy records waiting for their event
	EventsEvicted      int64         // events released early because MaxPending waited
	RecordsEvicted     int64         // records dropped early because MaxPending waited
	RecordsUnmatched   int64         // records no event claimed within the window
	Proxies            int           // proxy addresses known
	Upstreams          int           // OpenUnison sources whose upstream address is known
	ProxyLogs          int           // proxy logs seen (or given in Kubernetes mode)
	Skew               time.Duration // the clock slack the join allowed (Options.Skew)
	// Outnumbered counts the token events left unattributed because the
	// requests around them outnumbered the proxy's token records they
	// could be: a record lost, or a path forged (X-Envoy-Original-Path).
	Outnumbered int64
	// OutnumberedReuses are the grace reuses among them.
	OutnumberedReuses int64
	// Unattributed names the proxies that carried unattributed events, with
	// their counts, so the summary can say which log to add.
	Unattributed map[netip.Addr]int64
	// NamesForgotten counts the times what was learned or voted per log
	// name (upstreams, peers, votes, generations' logs) started afresh at
	// its cap of 1,024 names (or 64 addresses voted for one name).
	NamesForgotten int64
}

// Clock says how far a source's log has been read: every record it will
// still bring is at or after the time returned. The empty source asks for
// the inputs' clock as a whole: how far the newest log has been read, what
// the wait goes by before any proxy log has shown itself. A source that
// has gone quiet (read to its end, nothing new for a while) or gone
// answers Quiet: it will bring no record but those of the requests still
// in flight, which Options.Lag covers.
type Clock func(source string) time.Time

// Quiet is the clock of a source read to its end and quiet, or gone.
var Quiet = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Attributor joins token events to proxy records. It takes every event of
// every source, in each source's log order, and gives them back, in log
// time order, once attributed. Not safe for concurrent use.
type Attributor struct {
	opt     Options
	events  []pending // waiting token events and the events behind them
	records []record  // waiting proxy records, in arrival order
	// bySource is, per proxy log, the places in records of its records, in
	// arrival order, which is that log's own order: watch catches up on a
	// backlog a file at a time, so one log's records arrive before
	// another's as old or older and records as a whole keep no time order,
	// while each log's do. Valid while bySourceOK; records moving (expiry,
	// eviction, Restore) makes it be rebuilt at the next search.
	bySource   map[string][]int
	bySourceOK bool
	known      proxySet
	learn      learner
	twins      twinCache
	past       pastEvents // released token events, for the pair reasoning
	ouClock    time.Time  // how far every OpenUnison log was read at this Release
	ouOK       bool
	// voteFrom: every due event before it has voted (learn.go's preVote).
	voteFrom int
	scratch  []int
	open     []*parser.Event      // outnumbered's open requests, kept for the next join
	asked    map[string]time.Time // proxy logs whose peer PeerOf was asked for, and when
	crowd    crowd
	expect   bool // proxy records have been seen or mappings given: token events wait for them
	// catchingUp: a proxy log has lines written and not read yet
	// (SetCatchingUp), so MaxWait does not apply.
	catchingUp bool
	// awaiting: a proxy log the user named is not being read yet
	// (SetAwaiting), so no proxy log has been read past anything.
	awaiting bool
	// heldBy counts the events held per source (SourceKey), so that
	// HeldBefore answers at once for a source with none, rather than
	// walking a backlog held for another log's records.
	heldBy  map[string]int
	expired time.Time // the clock at the last expiry of records
	stats   Stats
	via     struct { // viaProxy's last answer
		peer netip.Addr
		s    string
	}
}

// expireEvery is how often, in log time, old records are dropped.
const expireEvery = 100 * time.Millisecond

type pending struct {
	ev      parser.Event
	arrived time.Time
	voted   bool // its vote for the proxy logs' peers is cast (preVote)
}

type record struct {
	ev   parser.Event // KindProxy, Proxy set
	used bool
	// contested: an event already released as ambiguous may be this
	// record's, so counting rivals for it can no longer be exact.
	contested bool
	arrived   time.Time
}

// New returns an Attributor.
func New(opt Options) *Attributor {
	opt.defaults()
	a := &Attributor{opt: opt, heldBy: map[string]int{}}
	a.known.init(opt.Proxies)
	a.learn.init()
	a.crowd.init()
	for addr, src := range opt.Upstreams {
		a.learn.setUpstream(src, addr)
	}
	for src, peer := range opt.ProxyPeers {
		a.learn.setPeer(src, peer)
		a.known.add(peer)
	}
	a.expect = opt.Expect || len(opt.Upstreams) > 0 || len(opt.ProxyPeers) > 0
	a.stats.Unattributed = map[netip.Addr]int64{}
	return a
}

// ExpectProxies says proxy logs are among the inputs, so token events wait
// for their records from the start.
func (a *Attributor) ExpectProxies() { a.expect = true }

// SetUpstream says addr is the upstream address (an OpenUnison pod's IP)
// under which proxies reach the pod whose log is src: known in Kubernetes
// mode from the pod, as Options.Upstreams, but only once the pod is seen.
func (a *Attributor) SetUpstream(addr netip.Addr, src string) {
	a.learn.setUpstream(src, addr.Unmap())
}

// SameLog says the events of source src are the log log's: src is a
// generation of it, rotated away and read under the name it has now. The
// mappings learned (which upstream address an OpenUnison log is reached
// under, which peer a proxy log's proxy is) are the log's, and hold for
// each of its files: learned under one name only, they refused every
// record to a generation read under another.
func (a *Attributor) SameLog(src, log string) { a.learn.sameLog(src, log) }

// ExpectSource says src is a proxy's log (its first bytes told), so token
// events wait for it from its first line on.
func (a *Attributor) ExpectSource(src string) {
	a.expect = true
	a.learn.noteSource(src)
	a.askPeer(src, time.Time{})
}

// askPeer asks Options.PeerOf for the peer of proxy log src while it is
// not known, at most once a second of log time.
func (a *Attributor) askPeer(src string, at time.Time) {
	if a.opt.PeerOf == nil {
		return
	}
	if _, ok := a.learn.peerOf(src); ok {
		return
	}
	if last, ok := a.asked[src]; ok && !at.IsZero() && at.Sub(last) < time.Second && !at.Before(last) {
		return
	}
	if a.asked == nil {
		a.asked = map[string]time.Time{}
	} else if len(a.asked) >= maxVoteKeys {
		clear(a.asked)
		a.learn.forgotten++
	}
	a.asked[src] = at
	if addr, ok := a.opt.PeerOf(src); ok && addr.IsValid() {
		a.learn.setPeer(src, addr.Unmap())
		a.known.add(addr)
	}
}

// Expecting reports whether token events wait for proxy records.
func (a *Attributor) Expecting() bool { return a.expect }

// IsToken reports whether an event is a token-endpoint event attribution
// judges.
func IsToken(k parser.Kind) bool {
	return k == parser.KindTokenOK || k == parser.KindGraceReuse || k == parser.KindTokenFail
}

// Push takes the next event of a source. A proxy record is kept for the
// join and never given back.
func (a *Attributor) Push(ev parser.Event, arrived time.Time) {
	if ev.Kind == parser.KindProxy {
		if ev.Proxy == nil {
			return
		}
		a.expect = true
		a.learn.noteSource(ev.Source)
		a.askPeer(ev.Source, ev.Time)
		a.noteRecord(&ev)
		a.records = append(a.records, record{ev: ev, arrived: arrived})
		if a.bySourceOK {
			a.bySource[ev.Source] = append(a.bySource[ev.Source], len(a.records)-1)
		}
		if len(a.records) > a.opt.MaxPending {
			a.bySourceOK = false
			// The oldest go in chunks: one at a time would move the whole
			// slice on every record pushed at the cap.
			n := min(len(a.records), max(1, a.opt.MaxPending/64))
			clear(a.records[:n])
			a.records = slices.Delete(a.records, 0, n)
			a.stats.RecordsEvicted += int64(n)
		}
		return
	}
	if IsToken(ev.Kind) {
		if !ev.Peer.IsValid() {
			ev.Peer = ev.IP
		}
		a.learn.noteOU(ev.Source)
		a.learn.noteDirect(ev.Peer)
	}
	// Kept in log time order, after the events of the same time: sources
	// arrive interleaved and nearly in order, but a log read after
	// another's backlog goes back across all of it.
	i := len(a.events)
	if i > 0 && ev.Time.Before(a.events[i-1].ev.Time) {
		i = sort.Search(i, func(k int) bool { return ev.Time.Before(a.events[k].ev.Time) })
	}
	a.events = slices.Insert(a.events, i, pending{ev: ev, arrived: arrived})
	a.heldBy[ev.SourceKey()]++
	a.voteFrom = min(a.voteFrom, i)
}

// noteRecord learns what a record says by itself: a proxy's own address
// towards its upstream is a proxy.
func (a *Attributor) noteRecord(ev *parser.Event) {
	p := ev.Proxy
	if p.UpstreamLocal.IsValid() {
		a.known.add(p.UpstreamLocal)
		a.learn.setPeer(ev.Source, p.UpstreamLocal)
	}
}

// SetCatchingUp says whether a proxy log has lines written and not read
// yet: a backlog, or a batch on its way. Meanwhile MaxWait does not apply,
// as the records events wait for are coming (MaxPending still bounds
// them). A watcher reading a backlog whose proxy log is many times
// OpenUnison's (an ingress logs all of a cluster's traffic, OpenUnison
// only its own) reads OpenUnison's to the end seconds before the proxy's
// records of the same time: by wall time alone, those events went on
// unjoined, most of a backlog's alerts lost or named after the proxy.
func (a *Attributor) SetCatchingUp(on bool) { a.catchingUp = on }

// SetAwaiting says whether a proxy log the user named is not being read
// yet (a watch --proxy-logs pattern that matches no file so far: a
// controller just started, a log just rotated away). Until it is, the
// proxy logs count as read past nothing, so token events wait for its
// records, each for MaxWait at most, rather than going on as soon as the
// other logs have been read past them.
func (a *Attributor) SetAwaiting(on bool) { a.awaiting = on }

// Release appends to dst, in log time order, the events whose wait is
// over: every proxy source and every OpenUnison log has read Window past
// them (clock), or they waited MaxWait (now) while no proxy log is being
// caught up (SetCatchingUp), or too many wait. Before any proxy record is
// seen nothing waits.
func (a *Attributor) Release(dst []parser.Event, clock Clock, now time.Time) []parser.Event {
	through := a.through(clock)
	a.ouClock, a.ouOK = a.ouThrough(clock)
	n := 0
	for n < len(a.events) {
		p := &a.events[n]
		due := !a.expect || !IsToken(p.ev.Kind) || a.readPast(p, through, now) && a.ouReadPast(&p.ev) ||
			!a.catchingUp && now.Sub(p.arrived) >= a.opt.MaxWait
		evicted := false
		if !due && len(a.events)-n > a.opt.MaxPending {
			due, evicted = true, true
			a.stats.EventsEvicted++
		}
		if !due {
			break
		}
		if !evicted && a.holdForLearning(n, through, now) {
			a.voteFrom = max(a.voteFrom, n)
			a.preVote(through)
			break
		}
		a.resolve(&p.ev, n)
		dst = append(dst, p.ev)
		a.unhold(&p.ev)
		n++
	}
	clear(a.events[:n])
	// Re-sliced, not moved: a watcher catching up on a proxy's log holds
	// all of OpenUnison's read ahead of it, and moving them down at every
	// release was quadratic in the backlog. The array's front is taken
	// back when append next grows it.
	a.events = a.events[n:]
	a.voteFrom = max(0, a.voteFrom-n)
	// Records expire by the hundred milliseconds: checking all of them on
	// every event would cost more than the join.
	a.expireTo(a.horizon(clock, through))
	return dst
}

// horizon is how far records may be expired: a record waits for its event
// as long as an event waits for it, until every OpenUnison log, not only
// the proxies' (read through), is Window past it.
func (a *Attributor) horizon(clock Clock, through time.Time) time.Time {
	ou, ok := a.ouThrough(clock)
	return horizonOf(through, ou, ok)
}

// horizonOf is horizon with the OpenUnison logs' clock asked already.
func horizonOf(through, ou time.Time, ok bool) time.Time {
	if !ok {
		return time.Time{} // no OpenUnison log yet: records wait (capped)
	}
	if ou.Before(through) {
		return ou
	}
	return through
}

// expireTo expires the records at horizon once it moved expireEvery (or
// back). A scan of OpenUnison's logs alone comes here for every event
// (Pass) with no record held, and its events are often expireEvery apart:
// the clock still moves, but expire would walk nothing.
func (a *Attributor) expireTo(horizon time.Time) {
	if movedPast(horizon, a.expired, expireEvery) {
		a.expired = horizon
		if len(a.records) > 0 {
			a.expire(horizon)
		}
	}
}

// movedPast reports whether t is before u or at least d after it, d under
// a second: t.Sub(u) < 0 || t.Sub(u) >= d for times read from logs (with
// no monotonic reading, which Sub would go by). Sub and Add check their
// own overflow, and expireTo asks this of nearly every event of a plain
// scan (the bench log's are 0.8 s apart on average): the difference in
// whole seconds, clamped where it decides alone, and nanoseconds is exact
// and all inlined.
func movedPast(t, u time.Time, d time.Duration) bool {
	s := min(max(t.Unix()-u.Unix(), -2), 2)
	diff := time.Duration(s)*time.Second + time.Duration(t.Nanosecond()-u.Nanosecond())
	return diff < 0 || diff >= d
}

// readPast reports whether every proxy log has been read Window past the
// event p. A quiet log's clock (Quiet) says so only once p has waited Lag:
// the proxy writes its record after OpenUnison's line, so the record of a
// request just logged may be unwritten or unread while its log looks quiet
// (an ingress idle through a pause, then the replay).
func (a *Attributor) readPast(p *pending, through, now time.Time) bool {
	if through.Before(p.ev.Time.Add(a.opt.Window)) {
		return false
	}
	if through.Before(Quiet) || now.Sub(p.arrived) >= a.opt.Lag {
		return true
	}
	// A grace reuse's [AzSuccess] twin, the same request, has its record
	// already: the reuse goes with it, or the correlator would meet the
	// refresh without its reuse (their lines may be read a poll apart).
	_, twin := a.twins.get(&p.ev)
	return twin
}

// ouReadPast reports whether every OpenUnison log has been read Window
// past ev (as of this Release). A join weighs the requests that compete
// for ev's records, those logged after ev among them: inOrder counts them,
// the pair proof shares the records out among them. A proxy log read
// ahead of OpenUnison's (a backlog read a file at a time) vouches for none
// of them: judged without them, ev's records were left contested, every
// later request that could be one of them ambiguous, and no pair proved.
// A scan's one clock never lets that happen; this makes a watch's clocks
// wait as it does.
func (a *Attributor) ouReadPast(ev *parser.Event) bool {
	return !a.ouOK || !a.ouClock.Before(ev.Time.Add(a.opt.Window))
}

// Flush releases everything: the end of the input.
func (a *Attributor) Flush(dst []parser.Event) []parser.Event {
	return a.Release(dst, func(string) time.Time { return Quiet }, Quiet)
}

// through is the time every proxy source has read to.
func (a *Attributor) through(clock Clock) time.Time {
	if a.awaiting {
		return time.Time{}
	}
	if len(a.learn.sources) == 0 {
		return clock("")
	}
	t := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for src := range a.learn.sources {
		if c := clock(src); c.Before(t) {
			t = c
		}
	}
	return t
}

// ouThrough is the time every OpenUnison log has been read to; false
// before any token event came.
func (a *Attributor) ouThrough(clock Clock) (time.Time, bool) {
	if len(a.learn.ous) == 0 {
		return time.Time{}, false
	}
	t := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	for src := range a.learn.ous {
		if c := clock(src); c.Before(t) {
			t = c
		}
	}
	return t, true
}

// expire drops the records too old for any event still to come.
func (a *Attributor) expire(through time.Time) {
	oldest := through.Add(-a.opt.Window)
	if len(a.events) > 0 && a.events[0].ev.Time.Before(oldest) {
		oldest = a.events[0].ev.Time
	}
	keep := a.records[:0]
	for _, r := range a.records {
		if r.ev.Proxy.End.Add(r.ev.Proxy.Precision + a.opt.Skew + a.opt.Window).Before(oldest) {
			if !r.used && !a.hop(&r) {
				a.stats.RecordsUnmatched++
			}
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) < len(a.records) {
		a.bySourceOK = false
	}
	clear(a.records[len(keep):])
	a.records = keep
}

// indexBySource makes bySource valid.
func (a *Attributor) indexBySource() {
	if a.bySourceOK {
		return
	}
	if a.bySource == nil {
		a.bySource = map[string][]int{}
	}
	for src, run := range a.bySource {
		a.bySource[src] = run[:0]
	}
	for i := range a.records {
		src := a.records[i].ev.Source
		a.bySource[src] = append(a.bySource[src], i)
	}
	for src, run := range a.bySource {
		if len(run) == 0 {
			delete(a.bySource, src) // a log gone keeps no slice
		}
	}
	a.bySourceOK = true
}

// Stats returns the counts so far.
func (a *Attributor) Stats() Stats {
	s := a.stats
	s.WaitingEvents, s.WaitingRecords = len(a.events), len(a.records)
	s.Proxies = a.known.size()
	s.Upstreams = len(a.learn.upstream)
	s.ProxyLogs = len(a.learn.sources)
	s.Skew = a.opt.Skew
	s.NamesForgotten = a.learn.forgotten
	return s
}

// IsProxy reports whether addr is a known proxy.
func (a *Attributor) IsProxy(addr netip.Addr) bool { return a.known.has(addr) }

// Waiting reports whether events or proxy records wait for their match:
// their wait is bounded in wall time too, so the caller keeps calling
// Release while they do.
func (a *Attributor) Waiting() bool { return len(a.events) > 0 || len(a.records) > 0 }

// HeldBefore reports the log time of the earliest event of source src (its
// SourceKey) still held here, if one was
// logged before until. A caller that tells how far a source's events have
// gone on past attribution must not count these: a grace reuse held here
// while its [AzSuccess] twin, a millisecond earlier, has gone on is still
// to come. Events are held in log-time order, so the walk ends at until.
func (a *Attributor) HeldBefore(src string, until time.Time) (time.Time, bool) {
	if a.heldBy[src] == 0 {
		return time.Time{}, false
	}
	for i := range a.events {
		ev := &a.events[i].ev
		if !ev.Time.Before(until) {
			break
		}
		if ev.SourceKey() == src {
			return ev.Time, true
		}
	}
	return time.Time{}, false
}

// unhold counts ev, released, out of heldBy; a source with none left goes.
func (a *Attributor) unhold(ev *parser.Event) {
	src := ev.SourceKey()
	if n := a.heldBy[src] - 1; n > 0 {
		a.heldBy[src] = n
	} else {
		delete(a.heldBy, src)
	}
}

// Idle is told that the inputs have gone quiet with everything read and
// released: what is kept only for lines still to come from a busy log is
// let go (the AzSuccess twins but the last twinGap's, twins.go).
func (a *Attributor) Idle() { a.twins.trim() }
