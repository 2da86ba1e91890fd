package correlate

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// DefaultPairWindow is how long (in log time) a token_ok waits for the
// grace-reuse line of the same request. OpenUnison writes the two lines
// microseconds apart; the window only has to outlast other threads' lines.
const DefaultPairWindow = 2 * time.Second

// maxPending bounds the token_ok lines waiting for their thread to move on;
// past it the oldest is learned at once (counted in CorrelatorStats).
const maxPending = 4096

// Correlator feeds events to a Store in the order a human would read them,
// holding each token_ok back until it is known not to be half of a grace
// reuse. It is not safe for concurrent use: one pipeline owns one.
type Correlator struct {
	// Judged says which kinds of event will be judged; the others are only
	// learned, and judge is not called for them. Nil judges every kind.
	Judged func(parser.Kind) bool
	// Geo places addresses; nil leaves every Context without geo.
	Geo GeoLookup
	// SourceClock, when set, says how far a source has been read (in log
	// time; ok false when unknown). A waiting token_ok then expires by its
	// own source's clock: when sources are read at different speeds (a
	// watcher catching up on several replicas, pods streamed line by line),
	// another source being ahead says nothing about whether this one's
	// grace-reuse line is still to come. Nil uses the time of the newest
	// event, right when sources are merged by time (scan). It is asked by
	// the event's SourceID (its file's identity), or its Source when that
	// is empty: after a rename rotation the old file and the new one share
	// a name, and only the old one's clock may end its lines' wait.
	SourceClock func(source string) (t time.Time, ok bool)

	// Defer, above zero with a BatchStore, applies observations in batches
	// of up to Defer, one round trip each, and judges them when their batch
	// is applied: a full batch is sent at once, and with a store that takes
	// several at a time (batchStarter) up to maxFlying are on their way
	// while the caller reads on; Drain, which the caller must call before it
	// waits for more input, sends the rest and judges every one. Unset, each
	// is applied at once.
	Defer int

	store      Store
	mem        *Memory // store, when it is the memory store: see commit
	pairWindow time.Duration
	deferred   []deferredObs   // observations waiting for their batch, in order
	flying     []flyingBatch   // batches sent and not yet judged, oldest first
	spare      [][]deferredObs // buffers of batches judged, so batching does not allocate
	pending    pendingQueue    // token_ok lines waiting, in log order
	reuses     []reuseMark     // recent grace reuses, for a twin logged in the other order
	stats      CorrelatorStats
	attributed parser.Event    // a refused refresh judged as its users', see takeoverContext
	parked     []parkedRefusal // refused refreshes a scan judges once the lines before them are (parked.go)
	chains     chains          // moved chains and refusals waiting for their AzFail, see takeover.go
	places     placePairs      // the pairs of places users refresh from, see places.go
}

// CorrelatorStats counts what the Correlator decided.
type CorrelatorStats struct {
	PairedTokenOK  int64 // token_ok lines recognised as half of a grace reuse and not learned
	PendingEvicted int64 // token_ok lines learned early because maxPending were waiting
	// RefusalsPaired counts refusal WARNs whose AzFail was found; the
	// others were dropped past maxRefusals (RefusalsEvicted).
	RefusalsPaired, RefusalsEvicted int64
	ChainUsersEvicted               int64 // users whose last refresh was forgotten past maxChainUsers
	MovesEvicted                    int64 // moved chains forgotten past maxMoves
	PlaceUsersEvicted               int64 // users whose place pairs were forgotten past maxPlaceUsers
	PlacePairsEvicted               int64 // a user's least recently travelled pair, forgotten past maxPairsPerUser
	RefusalsJudgedEarly             int64 // parked refusals judged before the lines before them, past maxParked
}

type reuseMark struct {
	// key is the pending queue's key of source and thread (threadOf):
	// every token_ok looks through the marks for its reuse, and comparing
	// a number first spares it three string comparisons a mark.
	key                     uint64
	source, thread, session string
	time                    time.Time
}

// NewCorrelator returns a Correlator over store. pairWindow <= 0 takes
// DefaultPairWindow.
func NewCorrelator(store Store, pairWindow time.Duration) *Correlator {
	if pairWindow <= 0 {
		pairWindow = DefaultPairWindow
	}
	c := &Correlator{store: store, pairWindow: pairWindow, pending: newPendingQueue(), chains: newChains(), places: newPlacePairs()}
	c.mem, _ = store.(*Memory)
	return c
}

// Judge receives an event with the facts it is judged by, and the context
// of the call that judged it (Observe, Flush, Tick or Drain) for what it
// sends. The Context and its event are valid only during the call.
type Judge func(context.Context, *Context) error

// Stats returns the counts so far.
func (c *Correlator) Stats() CorrelatorStats { return c.stats }

// PairWindow is how long, in log time, a token_ok waits for its twin.
func (c *Correlator) PairWindow() time.Duration { return c.pairWindow }

// Observe takes the next event in log order and calls judge with the Context
// of every event that is ready to be judged: this one, or earlier token_ok
// lines it released. Events of kind other are ignored.
func (c *Correlator) Observe(ctx context.Context, ev *parser.Event, judge Judge) error {
	return c.observe(ctx, ev, judge, false)
}

// ObservePaired is Observe for an event whose grace-reuse twin was settled
// already (Pair): a later line of the same thread and session, which a
// browser's OIDC session can log, is not taken for its twin again.
func (c *Correlator) ObservePaired(ctx context.Context, ev *parser.Event, judge Judge) error {
	return c.observe(ctx, ev, judge, true)
}

func (c *Correlator) observe(ctx context.Context, ev *parser.Event, judge Judge, pairedBefore bool) error {
	if ev.Kind == parser.KindOther || ev.Kind == parser.KindProxy {
		// A proxy's record is no client's action: attribution joins it to
		// OpenUnison's record of the same request before correlation.
		return nil
	}
	k := c.pending.threadOf(ev)
	paired, err := c.release(ctx, ev, k, judge, pairedBefore)
	if err != nil {
		return err
	}
	switch ev.Kind {
	case parser.KindTokenOK:
		if c.isTwinOfReuse(ev, k) {
			c.stats.PairedTokenOK++
			return nil
		}
		if c.pending.n >= maxPending {
			c.stats.PendingEvicted++
			if err := c.commitAt(ctx, c.pending.front(), judge); err != nil {
				return err
			}
		}
		c.pending.push(ev, k)
		return nil
	case parser.KindGraceReuse:
		if !paired && !pairedBefore {
			c.markReuse(ev, k)
		}
		return c.judge(ctx, ev, Reuse, judge)
	case parser.KindLogin:
		return c.judge(ctx, ev, Login, judge)
	case parser.KindRefusal:
		// Half of a refused refresh: the AzFail on its thread is the other
		// half and carries the client; the WARN is only its reason.
		c.markRefusal(ev)
		return nil
	case parser.KindTokenFail:
		if ev.Reason == "" {
			ev.Reason = c.refusalReason(ev)
		}
		return c.judge(ctx, ev, Look, judge)
	default:
		return c.judge(ctx, ev, Look, judge)
	}
}

// Flush judges every token_ok still waiting: the input has ended.
func (c *Correlator) Flush(ctx context.Context, judge Judge) error {
	for i := c.pending.front(); i >= 0; i = c.pending.front() {
		if err := c.commitAt(ctx, i, judge); err != nil {
			return err
		}
	}
	return c.landParked(ctx, true)
}

// Tick judges the token_ok lines that have waited longer than the pair
// window by the clock of the log (now is the newest log time a follower has
// seen).
func (c *Correlator) Tick(ctx context.Context, now time.Time, judge Judge) error {
	return c.expire(ctx, now, judge)
}

// release settles the waiting token_ok lines that ev decides: its own twin
// (dropped), the line of the same thread (that request is over), lines of
// the same user when ev is a reuse (the reuse must see the refresh before
// it), other sources' settled earlier lines when ev is a refused refresh
// in a watch (commitBefore), and lines older than the pair window. Each is
// found without walking the queue, but for those two: reuses and refusals
// are rare, refreshes are not.
func (c *Correlator) release(ctx context.Context, ev *parser.Event, k uint64, judge Judge, pairedBefore bool) (twinFound bool, err error) {
	reuse := ev.Kind == parser.KindGraceReuse
	if i, ok := c.pending.waiting(ev, k); ok {
		p := &c.pending.entries[i].ev
		if reuse && !pairedBefore && p.Session == ev.Session && p.User == ev.User {
			c.pending.take(i)
			c.stats.PairedTokenOK++
			twinFound = true
		} else if err := c.commitAt(ctx, i, judge); err != nil {
			return false, err
		}
	}
	if reuse || ev.Kind == parser.KindTokenFail {
		if err := c.commitBefore(ctx, ev, judge); err != nil {
			return twinFound, err
		}
	}
	return twinFound, c.expire(ctx, ev.Time, judge)
}

// commitBefore commits the waiting lines ev's judgement must see first:
// for a reuse, the same user's (the refresh that made its token stale);
// for a refused refresh, whose AzFail names no user, the lines another
// source logged at or before it that their own source's clock has settled
// (a refresh that moved a chain there is what the refusal is judged
// against, see takeover.go), though an older line still waiting keeps them
// from expire. A line its clock has not settled may be the AzSuccess of a
// replay whose [ExpiredRefreshTokenUsed] line is still to come: committed,
// it would teach the history the replayer's address and hide the replay.
// A watcher holds a refusal behind a quiet source until that source's
// last refresh is settled (mayPrecede); a scan (no SourceClock) merges by
// log time, and expire has settled all it can. Lines of ev's own source
// are left to their clock, as in a scan: that log's order is its own.
func (c *Correlator) commitBefore(ctx context.Context, ev *parser.Event, judge Judge) error {
	reuse := ev.Kind == parser.KindGraceReuse
	if !reuse && c.SourceClock == nil {
		return nil
	}
	from := ev.SourceKey()
	var lastSrc string
	var lastClock time.Time
	for i := c.pending.head; i < len(c.pending.entries); i++ {
		e := &c.pending.entries[i]
		if !e.live {
			continue
		}
		if reuse {
			if e.ev.User != ev.User || e.ev.IdP != ev.IdP {
				continue
			}
		} else {
			src := e.ev.SourceKey()
			if e.ev.Time.After(ev.Time) || src == from {
				continue
			}
			if src != lastSrc || lastClock.IsZero() {
				lastSrc, lastClock = src, ev.Time
				if t, ok := c.SourceClock(src); ok {
					lastClock = t
				}
			}
			if within(e.ev.Time, lastClock, c.pairWindow) {
				continue
			}
		}
		if err := c.commitAt(ctx, i, judge); err != nil {
			return err
		}
	}
	return nil
}

// expire judges the waiting lines older than the pair window at now, from
// the oldest.
func (c *Correlator) expire(ctx context.Context, now time.Time, judge Judge) error {
	for i := c.pending.front(); i >= 0; i = c.pending.front() {
		e := &c.pending.entries[i].ev
		clock := now
		if c.SourceClock != nil {
			if t, ok := c.SourceClock(e.SourceKey()); ok {
				clock = t
			}
		}
		if within(e.Time, clock, c.pairWindow) {
			break
		}
		if err := c.commitAt(ctx, i, judge); err != nil {
			return err
		}
	}
	return c.landParked(ctx, false)
}

// commitAt takes the waiting line at i off the queue and judges it as a
// refresh. On an error the line is put back, so nothing is lost.
func (c *Correlator) commitAt(ctx context.Context, i int, judge Judge) error {
	// The event is judged where it waited, neither copied (400 bytes a
	// refresh) nor allocated: the judge may not keep it past the call, and
	// nothing the call does adds to the queue, which alone moves entries.
	ev := &c.pending.entries[i].ev
	c.pending.take(i)
	if err := c.commit(ctx, ev, judge); err != nil {
		c.pending.restore(i)
		return err
	}
	return nil
}

// pendingQueue holds the waiting token_ok lines in log order, with the one
// each thread has waiting indexed: a worker thread serves one request at a
// time, so a thread has at most one line waiting.
//
// Every event asks the index for its thread, so the index is keyed by a
// 64-bit keyed hash of the source and thread, computed once an event
// (threadOf) and kept with the entry, and a hit is confirmed against the
// entry's own names. Two threads colliding (odds 2⁻⁶⁴ a pair) would only
// make the earlier one's line wait out the pair window instead of being
// found by its thread.
type pendingQueue struct {
	entries  []pendingEntry
	head     int // entries before head are all taken
	n        int // live entries
	byThread threadIndex
	seeds    [2]maphash.Seed
	// The source hashed last and its hash: one source's events come in
	// runs, and a path is longer than a thread's name.
	lastSource string
	lastHash   uint64
}

type pendingEntry struct {
	ev     parser.Event
	live   bool
	thread uint64 // threadOf(ev)
}

type threadKey struct{ source, thread string }

func newPendingQueue() pendingQueue {
	return pendingQueue{byThread: newThreadIndex(), seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// threadOf is the index's key for ev's source and thread.
func (q *pendingQueue) threadOf(ev *parser.Event) uint64 {
	if ev.Source != q.lastSource || q.lastHash == 0 {
		// Cloned: the name may be cut from a record.
		q.lastSource, q.lastHash = strings.Clone(ev.Source), maphash.String(q.seeds[0], ev.Source)|1
	}
	return maphash.String(q.seeds[1], ev.Thread) ^ q.lastHash
}

// waiting returns the entry ev's thread has waiting, whose key is k.
func (q *pendingQueue) waiting(ev *parser.Event, k uint64) (int, bool) {
	i, ok := q.byThread.get(k)
	if !ok {
		return 0, false
	}
	e := &q.entries[i].ev
	return i, e.Thread == ev.Thread && e.Source == ev.Source
}

// push adds ev, whose key is k.
func (q *pendingQueue) push(ev *parser.Event, k uint64) {
	if q.head > 64 && q.head > len(q.entries)/2 {
		q.compact()
	}
	q.entries = append(q.entries, pendingEntry{ev: *ev, live: true, thread: k})
	q.byThread.set(k, len(q.entries)-1)
	q.n++
}

// front returns the index of the oldest live entry, or -1.
func (q *pendingQueue) front() int {
	for q.head < len(q.entries) && !q.entries[q.head].live {
		q.head++
	}
	if q.head == len(q.entries) {
		return -1
	}
	return q.head
}

func (q *pendingQueue) take(i int) {
	e := &q.entries[i]
	if !e.live {
		return
	}
	e.live = false
	q.n--
	if j, ok := q.byThread.get(e.thread); ok && j == i {
		q.byThread.remove(e.thread)
	}
}

func (q *pendingQueue) restore(i int) {
	e := &q.entries[i]
	if e.live {
		return
	}
	e.live = true
	q.n++
	q.byThread.set(e.thread, i)
	q.head = min(q.head, i)
}

// compact drops the taken entries at the front and renumbers the index.
func (q *pendingQueue) compact() {
	kept := q.entries[:0]
	for _, e := range q.entries[q.head:] {
		if e.live {
			kept = append(kept, e)
		}
	}
	clear(q.entries[len(kept):])
	q.entries, q.head = kept, 0
	q.byThread.clear()
	for i := range q.entries {
		q.byThread.set(q.entries[i].thread, i)
	}
}

// live returns the waiting events in log order.
func (q *pendingQueue) live() []parser.Event {
	out := make([]parser.Event, 0, q.n)
	for _, e := range q.entries[q.head:] {
		if e.live {
			out = append(out, e.ev)
		}
	}
	return out
}

// commit judges ev as a refresh and learns it in the chain index. Both
// the index and the memory store look its user up by the same key, made
// once here: a refresh is every other event.
func (c *Correlator) commit(ctx context.Context, ev *parser.Event, judge Judge) error {
	key := c.chains.hasher.hash(UserOf(ev))
	if err := c.judgeKeyed(ctx, ev, Refresh, key, judge); err != nil {
		return err
	}
	c.refreshed(ev, key)
	return nil
}

// deferredObs is an event waiting for its batch to be applied.
type deferredObs struct {
	obs      Observation
	ev       parser.Event
	here     geo.Info
	hasHere  bool
	noFacts  bool // an anonymous DN's event: judged without history
	needJudg bool
	judge    Judge
}

// judgeAnonymous judges an event of no user (logged with the anonymous
// DN): a refusal for want of a session may be a chain takeover's trace.
func (c *Correlator) judgeAnonymous(ctx context.Context, ev *parser.Event, batching bool, judge Judge) error {
	if ev.Kind == parser.KindTokenFail && mayBeTakeover(ev) {
		if s, ok := c.store.(movesStarter); ok && batching {
			return c.holdRefusal(ctx, s, ev, judge)
		}
		if !batching {
			if c.parks(ev) {
				return c.park(ctx, ev, judge)
			}
			return c.judgeRefusal(ctx, ev, judge)
		}
		// The moves a refusal is matched against are learned by the
		// refreshes before it: apply those first.
		if err := c.Drain(ctx); err != nil {
			return err
		}
		if ok, err := c.judgeTakeover(ctx, ev, judge); ok || err != nil {
			return err
		}
	}
	if batching {
		return c.defer1(ctx, deferredObs{ev: *ev, noFacts: true, needJudg: true, judge: judge})
	}
	return judge(ctx, &Context{Event: ev})
}

func (c *Correlator) judge(ctx context.Context, ev *parser.Event, action Action, judge Judge) error {
	return c.judgeKeyed(ctx, ev, action, 0, judge)
}

// judgeKeyed is judge for an event whose user's key (userHasher's) is key,
// 0 when not made (a real key of 0, one in 2^64, is only made again).
func (c *Correlator) judgeKeyed(ctx context.Context, ev *parser.Event, action Action, key uint64, judge Judge) error {
	need := c.Judged == nil || c.Judged(ev.Kind)
	_, batching := c.store.(BatchStore)
	batching = batching && c.Defer > 0
	if parser.IsAnonymousDN(ev.User) {
		// A failure logged with the anonymous DN belongs to no user's history.
		if !need {
			return nil
		}
		return c.judgeAnonymous(ctx, ev, batching, judge)
	}
	obs := Observation{User: UserOf(ev), Session: ev.Session, Time: ev.Time, IP: ev.IP, Action: action, NeedFacts: need,
		Source: ev.SourceID, Offset: ev.Offset, Agent: ev.Agent, Attribution: ev.Attribution, Peer: ev.Peer}
	if _, ok := c.store.(eventNamer); ok && obs.Source != "" {
		obs.Digest = recordDigest(ev.Raw)
	}
	var here *geo.Info
	if c.Geo != nil && (need || action == Refresh || action == Login) {
		if info, ok := c.Geo.Lookup(ev.IP); ok {
			here = &info
			obs.Country, obs.ASN = info.Country, info.ASN
		}
	}
	if batching {
		d := deferredObs{obs: obs, ev: *ev, needJudg: need, judge: judge}
		if here != nil {
			d.here, d.hasHere = *here, true
		}
		return c.defer1(ctx, d)
	}
	facts, err := c.apply(ctx, &obs, key)
	if err != nil {
		return fmt.Errorf("correlate %s at %s:%d: %w", ev.Kind, ev.FileName(), ev.Offset, err)
	}
	if !need {
		return nil
	}
	return c.judgeWith(ctx, ev, action, facts, here, judge)
}

// apply applies obs, whose user's key is key (0: not made), to the store.
func (c *Correlator) apply(ctx context.Context, obs *Observation, key uint64) (Facts, error) {
	if c.mem != nil {
		return c.mem.applyKeyed(obs, key), nil
	}
	return c.store.Apply(ctx, *obs)
}

func (c *Correlator) defer1(ctx context.Context, d deferredObs) error {
	c.deferred = append(c.deferred, d)
	if len(c.deferred) < c.Defer {
		return nil
	}
	return c.send(ctx)
}

// batchStarter is a BatchStore that takes a batch without waiting for its
// answer (Failover): it applies batches in the order they were started, and
// wait returns once facts are filled.
type batchStarter interface {
	StartBatch(ctx context.Context, batch []Observation, facts []Facts) (wait func())
}

// maxFlying bounds the batches on their way to a batchStarter: enough to
// keep Redis busy while the watcher reads, few enough that alerts are not
// held back for long.
const maxFlying = 4

// flyingBatch is a batch sent to the store, waiting for its facts, or a
// refusal waiting for the moves the store knows.
type flyingBatch struct {
	batch   []deferredObs
	facts   []Facts
	wait    func() error
	refusal *heldRefusal
}

// send sends the observations waiting as one batch, and judges the oldest
// batches on their way past maxFlying (a store that answers at once keeps
// none on its way).
func (c *Correlator) send(ctx context.Context) error {
	batch := c.deferred
	c.deferred = nil
	if n := len(c.spare); n > 0 {
		c.deferred, c.spare = c.spare[n-1], c.spare[:n-1]
	}
	obs := make([]Observation, 0, len(batch))
	for i := range batch {
		if !batch[i].noFacts {
			obs = append(obs, batch[i].obs)
		}
	}
	facts := make([]Facts, len(obs))
	f := flyingBatch{batch: batch, facts: facts}
	limit := 0
	if s, ok := c.store.(batchStarter); ok {
		wait := s.StartBatch(ctx, obs, facts)
		f.wait = func() error { wait(); return nil }
		limit = maxFlying
	} else {
		err := c.store.(BatchStore).ApplyBatch(ctx, obs, facts)
		f.wait = func() error { return err }
	}
	c.flying = append(c.flying, f)
	for len(c.flying) > limit {
		if err := c.land(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Drain applies the observations waiting for their batch and judges, in
// order, every batch sent.
func (c *Correlator) Drain(ctx context.Context) error {
	if len(c.deferred) > 0 {
		if err := c.send(ctx); err != nil {
			return err
		}
	}
	for len(c.flying) > 0 {
		if err := c.land(ctx); err != nil {
			return err
		}
	}
	return nil
}

// land waits for the oldest batch on its way and judges it. On an error
// the batch is dropped, as its observations' fate in the store is unknown.
func (c *Correlator) land(ctx context.Context) error {
	f := c.flying[0]
	c.flying[0] = flyingBatch{}
	c.flying = c.flying[1:]
	if f.refusal != nil {
		return c.landRefusal(ctx, f.refusal)
	}
	defer func() { clear(f.batch); c.spare = append(c.spare, f.batch[:0]) }()
	if err := f.wait(); err != nil {
		return fmt.Errorf("correlate %d events: %w", len(f.facts), err)
	}
	j := 0
	for i := range f.batch {
		d := &f.batch[i]
		if d.noFacts {
			if err := d.judge(ctx, &Context{Event: &d.ev}); err != nil {
				return err
			}
			continue
		}
		facts := f.facts[j]
		j++
		if !d.needJudg {
			continue
		}
		var here *geo.Info
		if d.hasHere {
			here = &d.here
		}
		if err := c.judgeWith(ctx, &d.ev, d.obs.Action, facts, here, d.judge); err != nil {
			return err
		}
	}
	return nil
}

// judgeWith judges ev with the facts the store gave.
func (c *Correlator) judgeWith(ctx context.Context, ev *parser.Event, action Action, facts Facts, here *geo.Info, judge Judge) error {
	jc := &Context{Event: ev, Facts: facts, Geo: here}
	if c.Geo != nil && facts.Prev != nil {
		if info, ok := c.Geo.Lookup(facts.Prev.IP); ok {
			jc.PrevGeo = &info
			if here != nil {
				if trip, ok := geo.Travel(info, *here, ev.Time.Sub(facts.Prev.Time)); ok {
					jc.Travel = &trip
					if action == Refresh {
						jc.TravelPairSeen = c.places.learn(UserOf(ev), placeKey(info), placeKey(*here), ev.Time, &c.stats)
					}
				}
			}
		}
	}
	return judge(ctx, jc)
}

// Pair settles a grace reuse's twin now, though the reuse is judged later:
// a watcher holds reuses while other sources catch up, and meanwhile the
// twin, the replayed request's own AzSuccess, must neither be learned as a
// refresh nor wait to be.
func (c *Correlator) Pair(ev *parser.Event) {
	k := c.pending.threadOf(ev)
	if i, ok := c.pending.waiting(ev, k); ok {
		p := &c.pending.entries[i].ev
		if p.Session == ev.Session && p.User == ev.User {
			c.pending.take(i)
			c.stats.PairedTokenOK++
			return
		}
	}
	c.markReuse(ev, k)
}

// markReuse remembers a grace reuse so that an AzSuccess logged after it for
// the same request (the other order) is recognised too.
// markReuse remembers reuse ev, whose threadOf key is k, for its twin.
func (c *Correlator) markReuse(ev *parser.Event, k uint64) {
	const keep = 64
	for i := range c.reuses {
		r := &c.reuses[i]
		if r.key == k && r.source == ev.Source && r.thread == ev.Thread && r.session == ev.Session && r.time.Equal(ev.Time) {
			return // marked when the reuse was held
		}
	}
	if len(c.reuses) >= keep {
		c.reuses = append(c.reuses[:0], c.reuses[1:]...)
	}
	c.reuses = append(c.reuses, reuseMark{key: k, source: ev.Source, thread: ev.Thread, session: ev.Session, time: ev.Time})
}

// isTwinOfReuse reports whether token_ok ev, whose threadOf key is k, is
// the twin of a marked reuse, and forgets the mark if so.
func (c *Correlator) isTwinOfReuse(ev *parser.Event, k uint64) bool {
	for i := len(c.reuses) - 1; i >= 0; i-- {
		r := &c.reuses[i]
		if r.key == k && r.source == ev.Source && r.thread == ev.Thread && r.session == ev.Session && ev.Time.Sub(r.time) <= c.pairWindow {
			c.reuses = append(c.reuses[:i], c.reuses[i+1:]...)
			return true
		}
	}
	return false
}

// within reports whether now.Sub(t) <= d, the test every event makes of the
// oldest waiting line and the least recently seen user. Sub checks for
// overflow by adding the result back, which made it several times the cost
// of an Add and a comparison. This form agrees with it, Sub's saturation
// at ±292 years included, for every t short of the end of time.Time's
// range (billions of years out), where t.Add(d) could overflow.
func within(t, now time.Time, d time.Duration) bool { return !t.Add(d).Before(now) }
