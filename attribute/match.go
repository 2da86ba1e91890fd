package attribute

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// result is what attribution found for one request.
type result struct {
	attr       parser.Attribution
	client     netip.Addr
	agent, via string
	candidates []netip.Addr
	distinct   bool // a grace reuse's client is provably not its refresh's (pair.go)
	noClient   bool // unattributed: its record names no client
	// took: the request took its record (used), though it may name no
	// client: it is no open request for the joins after it (outnumbered)
	took bool

	// outnumbered: unattributed, as it and the requests around it are
	// more than the records they could be
	outnumbered bool
}

func (r *result) apply(ev *parser.Event) {
	ev.Attribution, ev.Agent, ev.Via = r.attr, r.agent, r.via
	ev.Candidates = slices.Clone(r.candidates)
	ev.DistinctFromPrev = r.distinct
	if r.client.IsValid() {
		ev.IP = r.client
	}
}

// resolve attributes the token event at a.events[idx], whose wait is over.
func (a *Attributor) resolve(ev *parser.Event, idx int) {
	if !IsToken(ev.Kind) {
		return
	}
	if !ev.Peer.IsValid() {
		ev.Peer = ev.IP
	}
	// Asked once: nothing between here and match's answer for a request
	// no record can be changes what is known of the peer.
	proxy := a.known.has(ev.Peer)
	if !proxy && a.crowd.note(ev, &a.opt) {
		a.known.add(ev.Peer)
		proxy = true
	}
	var res result
	twin := false
	if ev.Kind == parser.KindGraceReuse { // 2% of token events: the call and its result{} spared for the rest
		res, twin = a.twins.get(ev) // the AzSuccess of the same request was matched already
	}
	if !twin {
		res = a.match(ev, idx, proxy)
	}
	if res.attr == parser.AttrAmbiguous && ev.Kind == parser.KindGraceReuse {
		var narrowed []netip.Addr
		if narrowed, res.distinct = a.distinctFromPrev(ev, idx); len(narrowed) > 1 {
			res.candidates = narrowed
		}
	}
	res.apply(ev)
	if a.expect {
		open := res.attr == parser.AttrAmbiguous || res.attr == parser.AttrUnattributed && !res.took
		a.past.add(ev, a.opt.Window, open)
	}
	if ev.Kind == parser.KindTokenOK {
		a.twins.put(ev, res)
	}
	a.stats.Outcomes[res.attr]++
	if res.attr == parser.AttrUnattributed {
		if ev.Kind == parser.KindGraceReuse {
			a.stats.UnattributedReuses++
			if res.noClient {
				a.stats.NoClientReuses++
			}
			if res.outnumbered {
				a.stats.OutnumberedReuses++
			}
		}
		if res.outnumbered {
			a.stats.Outnumbered++
		}
		if _, ok := a.stats.Unattributed[ev.Peer]; ok || len(a.stats.Unattributed) < 64 {
			a.stats.Unattributed[ev.Peer]++
		}
	}
}

// match joins ev to its record, if one can be told; proxy says whether
// ev's peer is a known proxy.
func (a *Attributor) match(ev *parser.Event, idx int, proxy bool) result {
	if len(a.records) == 0 {
		// A scan of OpenUnison's logs alone passes every token event
		// here: no record to find, none to vote for.
		return a.unjoined(ev.Peer, proxy)
	}
	peer := ev.Peer
	cands := a.candidates(ev, nil)
	a.vote(ev, cands, idx >= 0 && a.events[idx].voted) // idx < 0: Pass, nothing queued to have voted
	if len(cands) == 0 {
		return a.unjoined(peer, proxy) // vote learned nothing from no candidate
	}
	clients := a.clients(cands)
	pick := -1
	if len(clients) == 1 {
		pick = cands[0] // the same client: the first in log order
	} else {
		pick = a.inOrder(ev, idx, cands)
	}
	if pick < 0 {
		for _, i := range cands {
			a.records[i].contested = true
		}
		r := &a.records[cands[0]].ev
		via := r.Proxy.Format.String() + " " + a.proxyName(r, peer)
		if !clients[0].IsValid() { // sorted: a record naming no client sorts first
			// One record it may be names no client ("-"): "one of" the
			// others would be a claim, and "invalid IP" among them no
			// address. Its client is unknown, as with that record alone.
			return result{attr: parser.AttrUnattributed, agent: a.sharedAgent(cands), via: via, noClient: true}
		}
		return result{attr: parser.AttrAmbiguous, candidates: clients, via: via, agent: a.sharedAgent(cands)}
	}
	if a.outnumbered(ev, idx, cands) {
		// A request around ev has no record in the proxy's log (a path
		// forged through X-Envoy-Original-Path, a line lost), and any of
		// them may be it: the record picked may be another's, ev's client
		// anyone's. Its records stay open for the requests around it.
		for _, i := range cands {
			a.records[i].contested = true
		}
		r := &a.records[cands[0]].ev
		return result{attr: parser.AttrUnattributed, agent: a.sharedAgent(cands),
			via: r.Proxy.Format.String() + " " + a.proxyName(r, peer), outnumbered: true}
	}
	rec := &a.records[pick]
	rec.used = true
	p := rec.ev.Proxy
	via := p.Format.String() + " " + a.proxyName(&rec.ev, peer)
	if !p.Client.IsValid() {
		// The record is this request's but names no client ("-"): the
		// client is as unknown as with no log, and "joined" would keep
		// the proxy's address as the client, which a replay through it
		// shares with every other request.
		return result{attr: parser.AttrUnattributed, agent: p.Agent, via: via, noClient: true, took: true}
	}
	// One join does not make the peer a proxy for good: before the
	// mappings are learned it may be a coincidence (a pod inside the
	// cluster meeting another client's record in the same second). The
	// peer becomes known once learned as the proxy log's peer (vote).
	return result{attr: parser.AttrJoined, client: p.Client, agent: p.Agent, via: via}
}

// unjoined is the result of a request no record can be: the peer is its
// client, or a proxy whose log has no record of it.
func (a *Attributor) unjoined(peer netip.Addr, proxy bool) result {
	if proxy {
		return result{attr: parser.AttrUnattributed, via: a.viaProxy(peer)}
	}
	return result{attr: parser.AttrDirect}
}

// viaProxy is "proxy PEER", the Via of a request through a proxy no log
// of which was given. It is kept for the last peer: behind an ingress whose
// log graceguard does not read (--proxies, or the crowd heuristic), every
// token event names the same few proxies, and building the string was an
// allocation an event.
func (a *Attributor) viaProxy(peer netip.Addr) string {
	if a.via.s == "" || a.via.peer != peer {
		a.via.peer, a.via.s = peer, "proxy "+peer.String()
	}
	return a.via.s
}

// proxyName is the proxy as OpenUnison would know it: its address towards
// the upstream when logged, else the peer.
func (a *Attributor) proxyName(r *parser.Event, peer netip.Addr) string {
	if l := r.Proxy.UpstreamLocal; l.IsValid() {
		return l.String()
	}
	if w, ok := a.learn.peerOf(r.Source); ok {
		return w.String()
	}
	return peer.String()
}

func (a *Attributor) clients(cands []int) []netip.Addr {
	var out []netip.Addr
	for _, i := range cands {
		c := a.records[i].ev.Proxy.Client
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out
}

func (a *Attributor) sharedAgent(cands []int) string {
	agent := a.records[cands[0]].ev.Proxy.Agent
	for _, i := range cands[1:] {
		if a.records[i].ev.Proxy.Agent != agent {
			return ""
		}
	}
	return agent
}

// inOrder pairs the events waiting for the same records with those
// records in order, which is exact when as many events as records compete
// and each request was over before the next one reached OpenUnison: a proxy
// logs requests as they end, so its log then keeps OpenUnison's order. It
// returns the record for ev, or -1 when order cannot decide.
func (a *Attributor) inOrder(ev *parser.Event, idx int, cands []int) int {
	for _, i := range cands {
		if a.records[i].contested {
			return -1
		}
	}
	// No event logged after the last of cands ended (its precision and
	// the skew allowed) can be one of their requests: the events are in
	// log time order, and a watcher catching up on a proxy's log holds all
	// of OpenUnison's read ahead of it, which a walk to the end went
	// through for every event released, quadratic in the backlog.
	var last time.Time
	for _, i := range cands {
		p := a.records[i].ev.Proxy
		if e := p.End.Add(p.Precision + a.opt.Skew); e.After(last) {
			last = e
		}
	}
	var rivals []int // events competing for cands, in time order, ev among them
	for j := idx; j < len(a.events); j++ {
		o := &a.events[j].ev
		if o.Time.After(last) {
			break
		}
		if !IsToken(o.Kind) || (o.Kind == parser.KindGraceReuse && a.hasTwin(j)) {
			continue
		}
		path := wantPath(o)
		for _, i := range cands {
			if a.fits(o, path, &a.records[i]) {
				rivals = append(rivals, j)
				break
			}
		}
	}
	if len(rivals) != len(cands) {
		return -1
	}
	var longest time.Duration
	for n, i := range cands {
		longest = max(longest, a.records[i].ev.Proxy.Duration)
		if n > 0 && !endedBefore(&a.records[cands[n-1]], &a.records[i]) {
			return -1
		}
	}
	gap := longest + 2*a.opt.Skew + time.Millisecond
	k := -1
	for n, j := range rivals {
		o := &a.events[j].ev
		if !a.compatible(o, &a.records[cands[n]]) {
			return -1
		}
		if n > 0 && o.Time.Sub(a.events[rivals[n-1]].ev.Time) <= gap {
			return -1
		}
		if j == idx {
			k = n
		}
	}
	if k < 0 {
		return -1
	}
	return cands[k]
}

// endedBefore reports whether the logs prove that r's request ended before
// s's: one proxy log is written as requests end, but two pods' logs keep no
// order between them, so across logs only the logged times can tell, and
// only when they are further apart than r's precision.
func endedBefore(r, s *record) bool {
	if r.ev.Source == s.ev.Source {
		return true
	}
	p, q := r.ev.Proxy, s.ev.Proxy
	return !p.End.Add(p.Precision).After(q.End)
}

// hasTwin reports whether the grace reuse at a.events[j] has its AzSuccess
// waiting or matched: the two are one request and one record.
func (a *Attributor) hasTwin(j int) bool {
	ev := &a.events[j].ev
	if _, ok := a.twins.get(ev); ok {
		return true
	}
	for i := j - 1; i >= 0; i-- {
		o := &a.events[i].ev
		if ev.Time.Sub(o.Time) > twinGap {
			break
		}
		if o.Kind == parser.KindTokenOK && sameRequest(o, ev) {
			return true
		}
	}
	return false
}

// candidates appends to dst the waiting records that can be ev's request.
func (a *Attributor) candidates(ev *parser.Event, dst []int) []int {
	if len(a.records) == 0 {
		// No proxy record held (a scan of OpenUnison's logs alone passes
		// every token event here): the search below would find none after
		// working out the window and the endpoint's path.
		return dst
	}
	// A record can only be ev's if it ended at most its precision (1 s at
	// most) before ev and started before it. Each proxy log's records
	// arrive nearly in time order; a margin of 64 records and a second
	// covers what does not.
	lo := ev.Time.Add(-time.Second - a.opt.Skew)
	hi := ev.Time.Add(time.Second + a.opt.Skew)
	path := wantPath(ev)
	a.indexBySource()
	if len(a.bySource) == 1 {
		// One proxy log: records are its order, searched in place.
		start, _ := slices.BinarySearchFunc(a.records, lo, func(r record, t time.Time) int { return r.ev.Proxy.End.Compare(t) })
		for i := max(0, start-64); i < len(a.records); i++ {
			p := a.records[i].ev.Proxy
			if p.End.Add(-p.Duration).After(hi) {
				break
			}
			if a.fits(ev, path, &a.records[i]) {
				dst = append(dst, i)
			}
		}
		return dst
	}
	// Several logs: each is searched in its own order, and the candidates
	// given back in arrival order, as from one log.
	n := len(dst)
	for _, run := range a.bySource {
		start, _ := slices.BinarySearchFunc(run, lo, func(i int, t time.Time) int { return a.records[i].ev.Proxy.End.Compare(t) })
		for _, i := range run[max(0, start-64):] {
			p := a.records[i].ev.Proxy
			if p.End.Add(-p.Duration).After(hi) {
				break
			}
			if a.fits(ev, path, &a.records[i]) {
				dst = append(dst, i)
			}
		}
	}
	slices.Sort(dst[n:])
	return dst
}

// compatible reports whether r can be the proxy's record of ev's request.
func (a *Attributor) compatible(ev *parser.Event, r *record) bool {
	return a.fits(ev, wantPath(ev), r)
}

// fits is compatible with ev's token endpoint path worked out once.
func (a *Attributor) fits(ev *parser.Event, path string, r *record) bool {
	p := r.ev.Proxy
	if r.used || !statusFits(ev.Kind, p.Status) || !methodFits(p.Method) {
		return false
	}
	start, end := r.span()
	if ev.Time.Before(start.Add(-a.opt.Skew)) || ev.Time.After(end.Add(a.opt.Skew)) || p.Path != path || a.hop(r) {
		return false
	}
	if n := len(p.Upstreams); n > 0 {
		u := p.Upstreams[n-1].Addr().Unmap()
		if a.learn.upstreamTaken(ev.Source)(u) {
			return false
		}
		if w, ok := a.learn.upstreamOf(ev.Source); ok && w != u {
			return false
		}
	}
	peer := ev.Peer
	if isMeshPeer(peer) {
		return true
	}
	if p.UpstreamLocal.IsValid() && p.UpstreamLocal.Unmap() != peer.Unmap() {
		return false
	}
	if w, ok := a.learn.peerOf(r.ev.Source); ok {
		return w == peer.Unmap()
	}
	if a.learn.peerTaken(r.ev.Source)(peer.Unmap()) {
		return false
	}
	// A public address is a client unless configured as a proxy.
	return a.known.has(peer) || isPrivatePeer(peer)
}

// hop reports whether r is a proxy's record of a request another proxy
// passed on: its client is the address another proxy log's proxy is known
// by towards its upstream (Istio's UPSTREAM_LOCAL_ADDRESS, or the peer
// learned or given). OpenUnison's own mesh sidecar logs each request the
// gateway sends it so, naming the gateway pod; the gateway's record of the
// same request names the client. Taken for a candidate, the hop made every
// request through the gateway ambiguous between its client and the
// gateway, so a replay there was compared with nothing. A proxy whose own
// address OpenUnison logs reaches it directly, with no proxy after it: a
// record naming that address is a client's at it (ingress-nginx on the
// hosts' network, whose addresses are the nodes', and a kubectl on a node
// whose request another node's controller passed on).
func (a *Attributor) hop(r *record) bool {
	c := r.ev.Proxy.Client
	if !c.IsValid() {
		return false
	}
	c = c.Unmap()
	src, ok := a.learn.peerSrc[c]
	if !ok || src == a.learn.log(r.ev.Source) {
		return false
	}
	_, direct := a.learn.direct[c]
	return !direct
}

func statusFits(k parser.Kind, status int) bool {
	if k == parser.KindTokenFail {
		return status >= 400 && status < 500
	}
	return status >= 200 && status < 300
}

// methodFits reports whether a record of method can be a token request:
// a client MUST use POST (RFC 6749 §3.2). A format that logs no method
// ("") leaves it open. Where the path logged is one a client wrote
// (X-Envoy-Original-Path), a GET whose record shows the token endpoint is
// a record planted beside another's request, not a token request.
func methodFits(method string) bool {
	return method == "" || strings.EqualFold(method, "POST")
}

// wantPath is the token endpoint OpenUnison logged, as a proxy logs its
// path: from the URL, or /auth/idp/<IdP>/token when the URL is not known.
func wantPath(ev *parser.Event) string {
	if i := strings.Index(ev.URL, "/auth/idp/"); i >= 0 {
		return ev.URL[i:]
	}
	return "/auth/idp/" + ev.IdP + "/token"
}

// vote spreads one vote of ev over the pairs its candidates suggest, and
// learns the pairs that lead: the upstream of ev's log, and, unless
// peerVoted (preVote cast it), the peer of each candidate's proxy log.
func (a *Attributor) vote(ev *parser.Event, cands []int, peerVoted bool) {
	a.voteUpstream(ev, cands)
	if !peerVoted {
		a.votePeer(ev, cands)
	}
}

// voteUpstream votes for the upstream address ev's log is reached under.
// It is cast only when ev is matched, after the requests before it took
// their records: cast ahead (preVote), with their records among its
// candidates, it spread over every OpenUnison pod, and a watcher reading
// a proxy's backlog, whose clock jumps a batch of seconds at a time, let
// a whole batch vote so before any was matched and learned no upstream
// at all (scan, whose clock moves a record at a time, learned both).
func (a *Attributor) voteUpstream(ev *parser.Event, cands []int) {
	if _, known := a.learn.upstreamOf(ev.Source); known || len(cands) == 0 {
		return
	}
	log := a.learn.log(ev.Source)
	w := 1 / float64(len(cands))
	for _, i := range cands {
		r := &a.records[i].ev
		if n := len(r.Proxy.Upstreams); n > 0 {
			if u, ok := a.learn.upVotes.add(log, r.Proxy.Upstreams[n-1].Addr().Unmap(), w, a.learn.upstreamTaken(log), &a.learn.forgotten); ok {
				a.learn.setUpstream(log, u)
				return
			}
		}
	}
}

// votePeer votes for ev's peer as the logged peer of each candidate's
// proxy log.
func (a *Attributor) votePeer(ev *parser.Event, cands []int) {
	if len(cands) == 0 || isMeshPeer(ev.Peer) {
		return
	}
	w := 1 / float64(len(cands))
	for _, i := range cands {
		r := &a.records[i].ev
		if _, known := a.learn.peerOf(r.Source); !known {
			if p, ok := a.learn.peerVotes.add(a.learn.log(r.Source), ev.Peer.Unmap(), w, a.learn.peerTaken(r.Source), &a.learn.forgotten); ok {
				a.learn.setPeer(r.Source, p)
				a.known.add(p)
			}
		}
	}
}

// Bounds of outnumbered's search: past them it has proved nothing.
const (
	maxOutnumberedEvents  = 64
	maxOutnumberedRecords = 192
)

// outnumbered reports whether ev, about to be joined to one of cands, is
// among open token requests that outnumber the records they could be.
// It grows a set of requests from ev: those that could be one of the
// records any request of the set could be, until the set stops growing;
// once every record a set's requests could be is known, a set with more
// requests than those records proves that one of them, at least, has no
// record in the proxy's log (Hall's condition), and which one cannot be
// told. Open requests are those waiting (from idx on) and those released
// without a record of their own (ambiguous, or unattributed by this rule);
// a joined request took its record, which no longer counts. Past the
// bounds, or with a set that stops growing, it proves nothing.
func (a *Attributor) outnumbered(ev *parser.Event, idx int, cands []int) bool {
	a.open = a.openAround(ev, idx, a.open[:0])
	open := a.open
	defer clear(open) // no event kept past the join
	if len(open) == 0 {
		return false // cands has a record, ev is alone: nothing to count
	}
	recs := slices.Clone(cands)
	in := make([]bool, len(open))
	n := 1 // ev and the open requests taken in
	var added []int
	for {
		added = added[:0]
		// A request outside every record's time (what fits checks first)
		// fits none: honest traffic's open requests nearly all are, and
		// weighing each was most of a join's cost.
		lo, hi := a.recordsSpan(recs)
		for i, o := range open {
			if in[i] || o.Time.Before(lo) || o.Time.After(hi) {
				continue
			}
			path := wantPath(o)
			if slices.ContainsFunc(recs, func(r int) bool { return a.fits(o, path, &a.records[r]) }) {
				in[i] = true
				added = append(added, i)
			}
		}
		n += len(added)
		if len(added) == 0 || n > maxOutnumberedEvents {
			return false
		}
		for _, i := range added {
			for _, r := range a.candidates(open[i], nil) {
				if !slices.Contains(recs, r) {
					recs = append(recs, r)
				}
			}
		}
		if len(recs) > maxOutnumberedRecords {
			return false
		}
		if n > len(recs) {
			return true
		}
	}
}

// span is when the record's request can have been logged by OpenUnison,
// the nodes' clock skew aside: from its start (its end less its duration
// where the format logs no start) to its end plus its precision.
func (r *record) span() (start, end time.Time) {
	p := r.ev.Proxy
	start = p.Start
	if start.IsZero() {
		start = p.End.Add(-p.Duration)
	}
	return start, p.End.Add(p.Precision)
}

// recordsSpan bounds the times a request fitting one of recs can have
// (fits): from the earliest start less the skew to the latest end plus
// its precision and the skew.
func (a *Attributor) recordsSpan(recs []int) (lo, hi time.Time) {
	for k, r := range recs {
		start, end := a.records[r].span()
		if k == 0 || start.Before(lo) {
			lo = start
		}
		if k == 0 || end.After(hi) {
			hi = end
		}
	}
	return lo.Add(-a.opt.Skew), hi.Add(a.opt.Skew)
}

// openAround appends to out the open token requests one Window either side of ev,
// ev aside: those waiting after idx and those released with no record of
// their own. A reuse whose AzSuccess is logged is that request already.
func (a *Attributor) openAround(ev *parser.Event, idx int, out []*parser.Event) []*parser.Event {
	past := a.past.all() // in log time order
	if a.past.lastOpen.IsZero() || ev.Time.Sub(a.past.lastOpen) > a.opt.Window {
		past = nil
	}
	for i := len(past) - 1; i >= 0 && ev.Time.Sub(past[i].Time) <= a.opt.Window; i-- {
		o := &past[i]
		if a.past.openAt(i) && (o.Kind != parser.KindGraceReuse || !twinIn(past, i)) {
			out = append(out, o)
		}
	}
	if idx < 0 {
		return out
	}
	for j := idx + 1; j < len(a.events); j++ {
		o := &a.events[j].ev
		if o.Time.Sub(ev.Time) > a.opt.Window {
			break
		}
		if IsToken(o.Kind) && (o.Kind != parser.KindGraceReuse || !a.hasTwin(j)) {
			out = append(out, o)
		}
	}
	return out
}
