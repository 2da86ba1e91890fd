package correlate

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Failover keeps analysing when the shared store fails. Every observation is
// learned by a local Memory store as well, so when Redis goes away the facts
// come from local history (only this replica's, but warm) instead of
// analysis stopping; a background probe reconnects with backoff and the
// shared store takes over again. While it is down the watcher reports not
// ready, and every failure is counted.
//
// What the local store learns while Redis is down (and what a failed batch
// was carrying) is kept, up to maxWriteBack observations, and written back
// to Redis when it answers again, before anything is judged against Redis:
// a refresh learned during the outage is then known to the reuse judged
// after it, here and in the other watchers. Events are named in Redis by
// where they were logged, so one written back twice (a half-sent batch) is
// learned once. An error is logged each time it changes, not each time it
// happens: a refused connection, then a wrong password, say both once.
type Failover struct {
	shared *Redis
	local  *Memory
	log    *slog.Logger

	// The watcher's goroutine alone calls Apply, Flush, Claim and Unclaim;
	// the probe only sets up. What those share is under mu anyway.
	writeBack    []Observation // learned while down, oldest first
	writeBackCap int           // 0: maxWriteBack; tests set less
	dropped      atomic.Int64  // observations not written back (the cap)
	// pending is len(writeBack), kept beside it so that the metrics read
	// it without mu, which a write-back holds across its round trips (a
	// scrape waited 5.5 s behind one of 100,000 observations).
	pending atomic.Int64
	lastErr string // the error last logged, "" while up
	// wrongType: a failure since the last write-back was a key of the
	// wrong type, which the write-back looks for among its events' keys.
	wrongType bool

	up      atomic.Bool
	errors  atomic.Int64
	probing atomic.Bool
	stop    chan struct{}
	stopped sync.WaitGroup

	mu      sync.Mutex
	backoff probeBackoff  // NewFailover's probeMin and probeMax; tests set less
	wait    time.Duration // the next probe's backoff, kept across outages
	upAt    time.Time     // when the shared store last came back

	// The shared store's batches on their way (StartBatch): each is sent
	// once those started before it are sent, without waiting for their
	// replies, and landed (its replies read and judged) once they landed.
	sends, lands inOrder
	// sendMu orders sending against failing: a batch sent before a failure
	// was known (sent <= poison when it lands) may have been applied by
	// Redis after a batch before it failed, so its facts are not Redis's
	// and it is kept to write back like the failed one.
	sendMu  sync.Mutex
	sent    uint64 // batches sent to the shared store
	poison  uint64 // the batches sent when the shared store last failed
	landed  uint64 // the last batch sent that landed
	unsent  int    // batches not sent (Redis down) that have not landed: to be kept
	riderMu sync.Mutex
	rider   *riddenBatch // the batch started last, which a refusal's lookup may ride
}

// inOrder runs functions one after another in the order they were
// started, each on a goroutine of its own that waits for the one before:
// the shared store applies batches in log order while the caller reads on.
type inOrder struct {
	mu   sync.Mutex
	tail chan struct{} // closed when the function started last has returned
}

// start runs fn after every function started before it; wait returns once
// fn has.
func (o *inOrder) start(fn func()) (wait func()) { return o.startAhead(nil, fn) }

// startAhead is start, with ahead (when not nil) run at once, before fn and
// beside the functions started before it: what fn needs that does not
// depend on them.
func (o *inOrder) startAhead(ahead, fn func()) (wait func()) {
	done := make(chan struct{})
	o.mu.Lock()
	prev := o.tail
	o.tail = done
	o.mu.Unlock()
	go func() {
		defer close(done)
		if ahead != nil {
			ahead()
		}
		if prev != nil {
			<-prev
		}
		fn()
	}()
	return func() { <-done }
}

// wait returns once every function started has returned.
func (o *inOrder) wait() { o.last()() }

// last returns a wait for the functions started so far, not those started
// after.
func (o *inOrder) last() (wait func()) {
	o.mu.Lock()
	tail := o.tail
	o.mu.Unlock()
	return func() {
		if tail != nil {
			<-tail
		}
	}
}

// waitBatches returns once every batch started is landed.
func (f *Failover) waitBatches() {
	f.sends.wait()
	f.lands.wait()
}

// Backoff bounds for reconnecting.
const (
	probeMin     = 100 * time.Millisecond
	probeMax     = 30 * time.Second
	probeTimeout = 2 * time.Second
)

// probeBackoff bounds the wait before each probe of a shared store that
// failed: it starts at min and doubles up to max.
type probeBackoff struct{ min, max time.Duration }

// NewFailover puts shared in front of local. It checks shared once; if that
// fails it starts degraded and keeps trying in the background.
func NewFailover(ctx context.Context, shared *Redis, local *Memory, log *slog.Logger) *Failover {
	return newFailover(ctx, shared, local, log, probeBackoff{min: probeMin, max: probeMax})
}

// StartFailover is NewFailover for a watcher starting, when a Redis that
// refuses its settings (Refusal: a wrong password, an ACL, a database it
// does not have) is an error to stop on: waiting would not change its
// answer. Any other failure starts degraded, as NewFailover does. The
// error is shared's Check's; shared is not closed.
func StartFailover(ctx context.Context, shared *Redis, local *Memory, log *slog.Logger) (*Failover, error) {
	return startFailover(ctx, shared, local, log, probeBackoff{min: probeMin, max: probeMax}, true)
}

// newFailover is NewFailover probing with backoff: the tests' is shorter,
// so that they wait for a reconnect, not for the clock. The backoff is
// given here, not set after: a store that starts degraded probes at once.
func newFailover(ctx context.Context, shared *Redis, local *Memory, log *slog.Logger, backoff probeBackoff) *Failover {
	f, _ := startFailover(ctx, shared, local, log, backoff, false)
	return f
}

func startFailover(ctx context.Context, shared *Redis, local *Memory, log *slog.Logger, backoff probeBackoff, stopOnRefusal bool) (*Failover, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The jitter draws from half the wait: under 2ns that range is empty.
	backoff.min = max(backoff.min, 2*time.Nanosecond)
	backoff.max = max(backoff.max, backoff.min)
	f := &Failover{shared: shared, local: local, log: log, stop: make(chan struct{}), backoff: backoff, wait: backoff.min}
	shared.lost = f.historyLost
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	err := shared.Check(pctx)
	if err != nil && stopOnRefusal && Refusal(err) != "" {
		return nil, err
	}
	if err != nil {
		f.errors.Add(1)
		f.logErr(failedMsg(err, "shared state unreachable; analysing with local state until it answers"), err)
		f.startProbe()
	} else {
		f.upAt = time.Now()
		f.up.Store(true)
		warnEviction(pctx, shared, f.log)
	}
	return f, nil
}

// failedMsg is msg, the words for a Redis that cannot be reached, unless
// err is Redis refusing graceguard's settings: that is said as such, an
// operator's to fix, not an outage to wait out (the store waits anyway:
// the server or its ACL may be changed back).
func failedMsg(err error, msg string) string {
	if what := Refusal(err); what != "" {
		return "shared state: " + what + "; analysing with local state until the settings or the server change"
	}
	return msg
}

// maxWriteBack bounds what is kept to write back after an outage; past it
// the oldest is dropped (counted in WriteBackDropped): a long outage's
// oldest refreshes matter least to the replays still to come.
const maxWriteBack = 100_000

// Apply implements Store.
func (f *Failover) Apply(ctx context.Context, obs Observation) (Facts, error) {
	f.waitBatches() // after the batches started before it, in Redis too
	// obs learns what the local store held already (sightsKnown): the
	// shared store need not trim the user's sights for those.
	local := f.local.applyKeyed(&obs, 0)
	if !f.up.Load() || !f.wroteBack(ctx) {
		f.keep(obs)
		return local, nil
	}
	facts, err := f.shared.Apply(ctx, obs)
	if err != nil {
		f.fail(err)
		if obs.NeedFacts {
			f.keep(obs) // a learn-only one was in the batch that failed
		}
		return local, nil
	}
	return facts, nil
}

// ApplyBatch implements BatchStore: the local store learns each observation
// in turn, then the shared store applies them all in one round trip; its
// facts are the answer, or the local store's while it is down.
func (f *Failover) ApplyBatch(ctx context.Context, batch []Observation, facts []Facts) error {
	f.StartBatch(ctx, batch, facts)()
	return nil
}

// StartBatch is ApplyBatch without waiting for Redis: the local store
// learns the batch now, and the shared store gets it on a goroutine once
// every batch started before it is sent, without waiting for their
// replies, so Redis applies it right after them while the watcher reads
// their replies and parses the next batch. wait returns once facts are
// filled; batch and facts are the store's until then. Everything the
// shared store's answer decides (falling back to the local facts, keeping
// the batch to write back, the outage) happens in the batches' order, as
// ApplyBatch would do it; a batch sent before a failure of one before it
// was known is judged as failed too (its facts may miss the failed one's).
func (f *Failover) StartBatch(ctx context.Context, batch []Observation, facts []Facts) (wait func()) {
	for i := range batch {
		facts[i] = f.local.applyKeyed(&batch[i], 0)
	}
	shared := make([]Facts, len(batch))
	var ok bool
	done := f.start(ctx, batch, &riddenBatch{}, func(p *PreparedBatch, seq uint64) {
		ok = f.landShared(p, shared, seq)
	})
	return func() {
		done()
		if ok {
			copy(facts, shared)
		}
	}
}

// start prepares batch, sends it in turn with ride's lookups aboard, and
// lands it in turn with land; done returns once it landed. Riders may
// board ride until it is sent.
func (f *Failover) start(ctx context.Context, batch []Observation, ride *riddenBatch, land func(p *PreparedBatch, seq uint64)) (done func()) {
	// A batch handed over is applied even if the caller is cancelled
	// meanwhile (a watcher stopping): failing it would take Redis for down
	// and log so at every stop. The client's timeouts still bound it.
	sctx := context.WithoutCancel(ctx)
	var prepared *PreparedBatch
	var seq uint64
	landed := f.lands.last()
	sent := f.sends.startAhead(func() { prepared = f.shared.Prepare(sctx, batch) }, func() {
		prepared.lookups = f.board(ride)
		seq = f.sendShared(sctx, prepared, landed)
	})
	done = f.lands.start(func() {
		sent()
		land(prepared, seq)
	})
	ride.done = done
	f.riderMu.Lock()
	f.rider = ride
	f.riderMu.Unlock()
	return done
}

// sendShared sends a batch to the shared store and returns its number,
// or 0 when Redis is down or what was learned while it was down could not
// be written back (the batch is kept when it lands). landed waits for
// every batch started before: what is written back goes on another
// connection, after them.
func (f *Failover) sendShared(ctx context.Context, p *PreparedBatch, landed func()) (seq uint64) {
	defer func() {
		if seq == 0 { // counted before its landing, which waits for this send
			f.sendMu.Lock()
			f.unsent++
			f.sendMu.Unlock()
		}
	}()
	if !f.up.Load() {
		return 0
	}
	// A batch before this one that will be kept when it lands (not sent,
	// or sent before a failure) but has not landed yet is not in the
	// write-back yet: this one waits for it as for what is kept already,
	// or Redis would learn this batch, and judge it, without that one.
	if f.WriteBackPending() > 0 || f.toBeKept() {
		landed()
		if !f.wroteBack(ctx) {
			return 0
		}
	}
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	if !f.up.Load() {
		return 0
	}
	f.shared.SendPrepared(ctx, p)
	f.sent++
	return f.sent
}

// landShared reads a batch's replies, or keeps it to write back when it
// was not sent, failed, or was sent before the failure of a batch before
// it was known; ok says its facts are Redis's.
func (f *Failover) landShared(p *PreparedBatch, facts []Facts, seq uint64) (ok bool) {
	batch := p.batch
	if seq == 0 {
		f.keep(batch...)
		f.sendMu.Lock()
		f.unsent--
		f.sendMu.Unlock()
		return false
	}
	defer func() {
		f.sendMu.Lock()
		f.landed = seq
		f.sendMu.Unlock()
	}()
	if err := f.shared.LandPrepared(p, facts); err != nil {
		f.fail(err)
		f.keep(batch...) // which of them Redis applied is unknown; learning one twice is harmless
		return false
	}
	f.sendMu.Lock()
	poisoned := seq <= f.poison
	f.sendMu.Unlock()
	if poisoned {
		for _, l := range p.lookups {
			l.moves = nil
		}
		f.keep(batch...)
		return false
	}
	return true
}

// toBeKept says whether a batch started before has yet to land and be
// kept to write back.
func (f *Failover) toBeKept() bool {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.unsent > 0 || f.poison > f.landed
}

// Flush sends what the shared store batched, and what was learned while it
// was down.
func (f *Failover) Flush(ctx context.Context) error {
	f.waitBatches()
	if f.up.Load() && f.wroteBack(ctx) {
		if err := f.shared.Flush(ctx); err != nil {
			f.fail(err)
		}
	}
	return nil
}

// keep remembers observations the shared store did not get.
func (f *Failover) keep(obs ...Observation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range obs {
		if o.Action != Look { // teaches nothing
			f.keepLocked(o)
		}
	}
}

func (f *Failover) keepLocked(obs ...Observation) {
	f.writeBack = append(f.writeBack, obs...)
	limit := f.writeBackCap
	if limit == 0 {
		limit = maxWriteBack
	}
	if over := len(f.writeBack) - limit; over > 0 {
		// Resliced, not copied down: a copy of the whole write-back per
		// observation made a long outage quadratic (1.2 ms an event at the
		// cap). append copies the live part when the array runs out, once
		// per ~cap/4 observations, and the old array goes to the collector.
		f.dropped.Add(int64(over))
		f.writeBack = f.writeBack[over:]
	}
	f.pending.Store(int64(len(f.writeBack)))
}

// writeBackChunk is how many observations one write-back round trip takes.
const writeBackChunk = 1024

// wroteBack writes back what was learned while the shared store was down,
// oldest first, and reports whether all of it is there now; on a failure
// the rest is kept and the store is down again.
func (f *Failover) wroteBack(ctx context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.writeBack) == 0 {
		return true
	}
	n := len(f.writeBack)
	for len(f.writeBack) > 0 {
		part := f.writeBack[:min(len(f.writeBack), writeBackChunk)]
		// A learn-only write-back reads less than the judged batch that
		// failed on a key, so it may well succeed and leave the key: the
		// keys of what a wrong type failed are checked before it.
		var err error
		if f.wrongType {
			err = f.repairTypes(ctx, part)
		}
		if err == nil {
			err = f.shared.Learn(ctx, part)
		}
		if err != nil && isWrongType(err) && !f.wrongType {
			// Learning twice is harmless: what the failed round trip
			// applied before the key is learned once.
			if err = f.repairTypes(ctx, part); err == nil {
				err = f.shared.Learn(ctx, part)
			}
		}
		if err != nil {
			f.mu.Unlock()
			f.fail(err)
			f.mu.Lock()
			return false
		}
		f.writeBack = f.writeBack[len(part):]
		f.pending.Store(int64(len(f.writeBack)))
	}
	f.writeBack = nil
	f.wrongType = false
	f.log.Info("wrote back to the shared state what was learned while it was unreachable", "events", n)
	return true
}

// repairTypes deletes the keys of part's events holding the wrong type,
// logging them. Called with mu held.
func (f *Failover) repairTypes(ctx context.Context, part []Observation) error {
	keys, err := f.shared.repairTypes(ctx, part)
	if len(keys) > 0 {
		f.log.Warn("deleted shared state keys holding the wrong type, which failed every write of them", "keys", keys)
	}
	return err
}

// WriteBackDropped counts observations learned while the shared store was
// down that were never written back to it (more than maxWriteBack waited).
func (f *Failover) WriteBackDropped() int64 { return f.dropped.Load() }

// WriteBackPending is how many observations wait to be written back.
func (f *Failover) WriteBackPending() int { return int(f.pending.Load()) }

// Claim marks an alert id as sent across watchers. While the shared store
// is down every claim succeeds: a possible duplicate is better than a lost
// alert, and the watcher's own sent ids still stop its repeats.
func (f *Failover) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if !f.up.Load() {
		return true, nil
	}
	ok, err := f.shared.Claim(ctx, id, ttl)
	if err != nil {
		f.fail(err)
		return true, nil
	}
	return ok, nil
}

// Unclaim releases a claim whose delivery failed.
func (f *Failover) Unclaim(ctx context.Context, id string) error {
	if f.up.Load() {
		if err := f.shared.Unclaim(ctx, id); err != nil {
			f.fail(err)
		}
	}
	return nil
}

// HistoryLost counts the times the shared history was found gone
// (Redis.HistoryLost).
func (f *Failover) HistoryLost() int64 { return f.shared.HistoryLost() }

// Up reports whether the shared store is in use.
func (f *Failover) Up() bool { return f.up.Load() }

// Errors counts the shared store's failures.
func (f *Failover) Errors() int64 { return f.errors.Load() }

// Local returns the local store: the part of the history a checkpoint keeps.
func (f *Failover) Local() *Memory { return f.local }

// Stats returns the shared history's size when it answers, else the local.
func (f *Failover) Stats() MemoryStats {
	if f.up.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		if st, err := f.shared.Stats(ctx); err == nil {
			return st
		}
	}
	return f.local.Stats()
}

// Close sends what the shared store batched, stops reconnecting and closes
// the shared store's client.
func (f *Failover) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	f.Flush(ctx)
	close(f.stop)
	f.stopped.Wait()
	return f.shared.Close()
}

// stableFor is how long the shared store must stay up before a new outage
// starts its backoff from the beginning again: a Redis that answers a probe
// but fails real work must not be hammered every 100 ms.
const stableFor = time.Minute

func (f *Failover) fail(err error) {
	f.errors.Add(1)
	f.sendMu.Lock()
	f.poison = f.sent
	// Down at once with the poison: a batch sent between the two would be
	// neither poisoned nor kept, though it went after the failed one.
	wasUp := f.up.Swap(false)
	f.sendMu.Unlock()
	f.mu.Lock()
	// What a failed batch carried goes back with the rest, in front: it
	// was learned before what comes now.
	f.writeBack = append(f.shared.TakeUnsent(), f.writeBack...)
	f.keepLocked()
	f.wrongType = f.wrongType || isWrongType(err)
	f.mu.Unlock()
	if wasUp {
		f.mu.Lock()
		if time.Since(f.upAt) >= stableFor {
			f.wait = f.backoff.min
		}
		f.mu.Unlock()
		f.logErr(failedMsg(err, "shared state failed; analysing with local state until it answers"), err)
		f.startProbe()
	}
}

// logErr logs err when it differs from the error logged last in this
// outage: the same refusal every probe is noise, but a refusal turning
// into a wrong password is news.
func (f *Failover) logErr(msg string, err error) {
	cause := rootCause(err).Error()
	f.mu.Lock()
	same := cause == f.lastErr
	f.lastErr = cause
	f.mu.Unlock()
	if !same {
		f.log.Error(msg, "err", err)
	}
}

// rootCause is the innermost error: what failed, whichever command met it
// (a refused connection while loading the script or applying an event is
// one error).
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func (f *Failover) startProbe() {
	if !f.probing.CompareAndSwap(false, true) {
		return
	}
	f.stopped.Add(1)
	go f.probe()
}

// probe checks the shared store with jittered exponential backoff until it
// can do its work again.
func (f *Failover) probe() {
	defer f.stopped.Done()
	for {
		f.mu.Lock()
		wait := f.wait
		f.wait = min(wait*2, f.backoff.max)
		f.mu.Unlock()
		select {
		case <-f.stop:
			f.probing.Store(false)
			return
		case <-time.After(wait/2 + time.Duration(rand.Int64N(int64(wait)/2))):
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := f.shared.Check(ctx)
		cancel()
		if err == nil {
			f.mu.Lock()
			f.upAt, f.lastErr = time.Now(), ""
			f.mu.Unlock()
			// Not probing any more before up: a failure right after must
			// start a new probe.
			f.probing.Store(false)
			f.up.Store(true)
			f.log.Info("shared state answers again; using it")
			// It may be another server now (a failover, a restart with
			// another config).
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			warnEviction(ctx, f.shared, f.log)
			cancel()
			return
		}
		f.errors.Add(1)
		f.logErr(failedMsg(err, "shared state still unreachable"), err)
	}
}

// historyLost says, once a loss, that the shared history is gone: every
// replica's first-seen facts start over from here, so rules built on them
// (a new address, a new country) see more that is new than there is.
func (f *Failover) historyLost(was, now string) {
	f.log.Warn("the shared history in Redis was lost (flushed, restarted without persistence, or another server): what the replicas learned together is forgotten and first-seen facts start over",
		"addr", f.shared.client.Options().Addr, "history_since", markTime(was), "new_history_since", markTime(now))
}

// markTime shows a birth mark (µs since the epoch) as a time.
func markTime(mark string) string {
	us, err := strconv.ParseInt(mark, 10, 64)
	if err != nil {
		return mark
	}
	return time.UnixMicro(us).UTC().Format(time.RFC3339)
}
