package sinks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/alert"

	"github.com/graceguard/graceguard/internal/durable"
	"github.com/graceguard/graceguard/internal/retry"
)

// Filter picks the alerts a sink receives; the zero Filter takes all.
type Filter struct {
	MinSeverity alert.Severity
	Rules       []string // rule names; empty for every rule
}

func (f Filter) match(a alert.Alert) bool {
	if a.Severity < f.MinSeverity {
		return false
	}
	return len(f.Rules) == 0 || slices.Contains(f.Rules, a.Rule)
}

// Delivery tunes one sink's queue, retries and throttle. Zero fields take
// the defaults named.
type Delivery struct {
	QueueSize    int           // groups waiting before new ones go to dead-letter; 4096
	MaxAge       time.Duration // how long an alert is retried after it was queued; 24h
	BackoffMin   time.Duration // first retry wait; 1s
	BackoffMax   time.Duration // longest retry wait; 1m
	DeliveredIDs int           // delivered alert ids remembered (and persisted) to never send twice; 10,000
	// Throttle, when set, lets one alert per key through per window (on the
	// alerts' own clock, as rules throttle) and adds "N more suppressed" to
	// the summary of the next one let through. Rules already throttle per
	// rule; this is for a sink that should hear less, such as a pager.
	Throttle    time.Duration
	ThrottleKey []string // alert fields: rule, user, ip, prev_ip, idp, source, severity; rule and user
	// DigestAfter is how many groups must wait before a sink that can
	// (Slack) gets up to DigestMax of them as one digest message; 10 and 40.
	DigestAfter int
	DigestMax   int
}

func (d *Delivery) defaults() {
	if d.QueueSize <= 0 {
		d.QueueSize = 4096
	}
	if d.MaxAge <= 0 {
		d.MaxAge = 24 * time.Hour
	}
	if d.BackoffMin <= 0 {
		d.BackoffMin = time.Second
	}
	if d.BackoffMax <= 0 {
		d.BackoffMax = time.Minute
	}
	d.BackoffMax = max(d.BackoffMax, d.BackoffMin)
	if d.DeliveredIDs <= 0 {
		d.DeliveredIDs = 10_000
	}
	if len(d.ThrottleKey) == 0 {
		d.ThrottleKey = []string{"rule", "user"}
	}
	if d.DigestAfter <= 0 {
		d.DigestAfter = 10
	}
	if d.DigestMax <= 0 {
		d.DigestMax = 40
	}
	d.DigestAfter = max(d.DigestAfter, 2)
}

// Route is one sink and what it receives. Name labels metrics, logs, the
// dead-letter file and the persisted queue, so it must stay the same
// across restarts for queued alerts to find their sink again.
type Route struct {
	Name     string
	Sink     Sink
	Filter   Filter
	Delivery Delivery
}

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// StateDir holds the queue journal (what is queued, what each sink
	// delivered). Empty keeps both in memory: a restart forgets them and
	// Close writes what is left to the dead-letter file.
	StateDir string
	// DeadLetterPath is the JSON lines file for alerts given up on; by
	// default dead-letter.jsonl in StateDir. With neither, each dead
	// letter is logged whole at error level: never dropped silently.
	DeadLetterPath string
	Metrics        *Metrics // may be nil
	Logger         *slog.Logger
	// CloseTimeout bounds Close when its context has no deadline; 10s.
	CloseTimeout time.Duration
	// AfterSend, when set, is called after a sink took a group and before
	// the journal records it: the crash tests kill the process there.
	AfterSend func(sink string)
	// BeforeJournal, when set, is called in Send just before the groups
	// it queues are journalled: the crash tests hold Send there.
	BeforeJournal func()

	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	random func() float64
}

// Journal and dead-letter file names in the state directory.
const (
	JournalFile    = "sinks.journal"
	DeadLetterFile = "dead-letter.jsonl"
)

// Dispatcher fans alert groups out to sinks. Send only filters, queues and
// journals, so neither the caller nor the other sinks ever wait for a slow
// or dead receiver; each sink has its own bounded queue and one worker
// that retries, digests and dead-letters. It is itself a Sink, so
// pipeline.WatchOptions.Deliver can be its Send.
type Dispatcher struct {
	opt     DispatcherOptions
	log     *slog.Logger
	routes  []*route
	sendMu  sync.Mutex // serialises Send and Close's hand-over
	closed  bool       // under sendMu
	jmu     sync.Mutex // the journal and dead-letter file; taken before any route's mu
	journal *journal
	dead    *deadLetter
	seq     atomic.Uint64

	closing chan struct{} // Close began: workers empty their queue, then exit
	stopCtx context.Context
	stop    context.CancelFunc // Close or Reload ran out of time: workers abort
	// pauseCtx ends with stopCtx or when Reload asks the workers to stop
	// taking work (and to stop waiting to retry) so their routes can be
	// handed over; Reload makes both anew for the new workers.
	pauseCtx context.Context
	pause    context.CancelFunc
	wg       sync.WaitGroup
}

// RouteStats are a sink's counts since the Dispatcher started.
type RouteStats struct {
	Name                                                        string
	Queued                                                      int // groups waiting now
	Sent, Retried, Failed, DeadLettered, Suppressed, Duplicates int64
	ThrottleEvicted                                             int64 // throttle keys forgot at its cap
}

type route struct {
	Route
	d         *Dispatcher
	digest    digester // nil unless the sink can digest
	wake      chan struct{}
	mu        sync.Mutex
	queue     []*item
	pending   map[string]struct{} // ids in queue
	delivered *durable.RecentIDs
	throttle  *throttle // used under Dispatcher.sendMu; nil when off
	// refused counts the alerts dead-lettered since the queue became full
	// (under Dispatcher.sendMu): the log says when a queue starts refusing
	// and when it takes alerts again, not once per alert.
	refused int
	lastErr atomic.Value
	stats   struct{ sent, retried, failed, dead, suppressed, dup, throttleEvicted atomic.Int64 }
}

// item is one queued group.
type item struct {
	Seq      uint64
	Queued   time.Time
	Alerts   []alert.Alert
	Attempts int
}

// digester is a Sink that can say many groups in one message: when a
// queue is long, the worker hands it a batch instead of one message each.
type digester interface {
	sendDigest(ctx context.Context, groups [][]alert.Alert) error
}

// errClosed is returned by Send after Close.
var errClosed = errors.New("sinks: dispatcher closed")

// newDispatcher loads what an earlier run left queued in opt.StateDir and
// starts one worker per route, so queued alerts go out at once.
func newDispatcher(opt DispatcherOptions, routes ...Route) (*Dispatcher, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.now == nil {
		opt.now = time.Now
	}
	if opt.sleep == nil {
		opt.sleep = retry.Sleep
	}
	if opt.random == nil {
		opt.random = rand.Float64
	}
	if opt.CloseTimeout <= 0 {
		opt.CloseTimeout = 10 * time.Second
	}
	if opt.DeadLetterPath == "" && opt.StateDir != "" {
		opt.DeadLetterPath = filepath.Join(opt.StateDir, DeadLetterFile)
	}
	d := &Dispatcher{opt: opt, log: opt.Logger, closing: make(chan struct{})}
	d.newContexts()
	d.dead = &deadLetter{path: opt.DeadLetterPath, out: appendFile{path: opt.DeadLetterPath}, log: opt.Logger, now: opt.now}
	var err error
	if d.routes, err = d.makeRoutes(routes); err != nil {
		return nil, err
	}
	if opt.StateDir != "" {
		j, err := openJournal(filepath.Join(opt.StateDir, JournalFile))
		if err != nil {
			return nil, err
		}
		d.journal = j
		if err := d.restore(); err != nil {
			j.close()
			return nil, err
		}
	}
	d.startWorkers()
	return d, nil
}

// newContexts makes the contexts a generation of workers runs under.
func (d *Dispatcher) newContexts() {
	d.stopCtx, d.stop = context.WithCancel(context.Background())
	d.pauseCtx, d.pause = context.WithCancel(d.stopCtx)
}

// makeRoutes checks routes' names and makes their queues, not yet running.
func (d *Dispatcher) makeRoutes(routes []Route) ([]*route, error) {
	var out []*route
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.Name == "" || rt.Sink == nil {
			return nil, fmt.Errorf("sinks: a route needs a name and a sink")
		}
		if seen[rt.Name] {
			return nil, fmt.Errorf("sinks: two sinks named %q; names key the persisted queue, so they must differ", rt.Name)
		}
		seen[rt.Name] = true
		rt.Delivery.defaults()
		r := &route{
			Route: rt, d: d, wake: make(chan struct{}, 1), pending: map[string]struct{}{},
			delivered: durable.NewRecentIDs(rt.Delivery.DeliveredIDs),
		}
		r.digest, _ = rt.Sink.(digester)
		if rt.Delivery.Throttle > 0 {
			r.throttle = newThrottle(rt.Delivery.Throttle, rt.Delivery.ThrottleKey)
		}
		out = append(out, r)
	}
	return out, nil
}

// startWorkers starts one worker per route.
func (d *Dispatcher) startWorkers() {
	for _, r := range d.routes {
		d.setQueueMetric(r)
		d.wg.Add(1)
		go d.work(r)
	}
}

// restore queues what the journal holds and rewrites it compacted.
func (d *Dispatcher) restore() error {
	state, err := d.journal.load(d.log)
	if err != nil {
		return err
	}
	var restored int
	for name, st := range state {
		r := d.route(name)
		for _, it := range st.pending {
			d.seq.Store(max(d.seq.Load(), it.Seq))
		}
		if r == nil {
			for _, it := range st.pending {
				d.deadLetter(nil, name, it, "sink_removed", "the sink is no longer configured")
			}
			continue
		}
		for _, id := range st.delivered {
			r.delivered.Add(id)
		}
		d.dropHeld(r, st.pending)
		for _, it := range st.pending {
			it.Alerts = slices.DeleteFunc(it.Alerts, func(a alert.Alert) bool { return r.delivered.Has(a.ID) })
			if len(it.Alerts) == 0 {
				continue
			}
			if len(r.queue) >= r.Delivery.QueueSize {
				d.deadLetter(r, name, it, "queue_full", "more alerts were saved than the queue now holds")
				continue
			}
			r.push(it)
			restored += len(it.Alerts)
		}
	}
	if restored > 0 {
		d.log.Info("alerts queued before the last stop are being sent", "alerts", restored)
	}
	// A state directory that cannot be written (full, read-only) must not
	// keep the sinks from starting: the journal is appended to (or fails,
	// logged) as alerts come, and compacted again at Close.
	if err := d.compact(); err != nil {
		d.log.Error("cannot rewrite the sink journal; alerts keep flowing, but a crash may lose what is queued", "err", err)
	}
	return nil
}

// holder is a sink that can tell which alerts it already holds (the file
// sink, from its tail).
type holder interface {
	Holds(ids []string) (map[string]bool, error)
}

// dropHeld marks delivered the queued alerts a sink says it already holds:
// written just before a crash, whose "done" never reached the journal.
func (d *Dispatcher) dropHeld(r *route, pending []*item) {
	h, ok := r.Sink.(holder)
	if !ok || len(pending) == 0 {
		return
	}
	var ids []string
	for _, it := range pending {
		for _, a := range it.Alerts {
			ids = append(ids, a.ID)
		}
	}
	held, err := h.Holds(ids)
	if err != nil {
		d.log.Warn("cannot tell which queued alerts the sink already has; sending them all", "sink", r.Name, "err", err)
		return
	}
	for id := range held {
		r.delivered.Add(id)
	}
	if len(held) > 0 {
		d.log.Info("queued alerts the sink already had are not sent again", "sink", r.Name, "alerts", len(held))
	}
}

func (d *Dispatcher) route(name string) *route { return findRoute(d.routes, name) }

// Send queues group for every sink whose filter takes some of it, and
// returns without waiting for any receiver. A group a full queue cannot
// take goes to the dead-letter file. The returned error is errClosed after
// Close; journal trouble is logged, not returned, because the alerts are
// queued all the same and only a crash could lose them.
func (d *Dispatcher) Send(_ context.Context, group []alert.Alert) error {
	if len(group) == 0 {
		return nil
	}
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	if d.closed {
		return errClosed
	}
	now := d.opt.now()
	d.jmu.Lock()
	defer d.jmu.Unlock()
	var adds []journalRecord
	var queued []*route
	var items []*item
	for _, r := range d.routes {
		it, rec := r.admit(group, now, &d.seq)
		if it == nil {
			continue
		}
		if rec == nil {
			if r.refused == 0 {
				cause, _ := r.lastErr.Load().(string)
				d.log.Error("sink queue full; new alerts go to the dead-letter file until it has room", "sink", r.Name,
					"queue_size", r.Delivery.QueueSize, "dead_letter", d.dead.path, "last_err", cause)
			}
			r.refused += len(it.Alerts)
			d.deadLetter(r, r.Name, it, "queue_full", fmt.Sprintf("the queue holds %d groups", r.Delivery.QueueSize))
			continue
		}
		if r.refused > 0 {
			d.log.Warn("sink queue has room again", "sink", r.Name, "dead_lettered_while_full", r.refused)
			r.refused = 0
		}
		adds = append(adds, *rec)
		queued, items = append(queued, r), append(items, it)
	}
	if d.journal != nil && len(adds) > 0 {
		if d.opt.BeforeJournal != nil {
			d.opt.BeforeJournal()
		}
		if err := d.journal.append(adds, true); err != nil {
			d.log.Error("cannot journal queued alerts; they are queued but a crash would lose them", "err", err)
		}
	}
	// Only now may the workers see the groups: a sink that wrote a group
	// before its "add" was durable would write it again after a kill -9
	// there, as neither the journal nor the ledger would know it. ("done"
	// cannot precede "add" either: the worker journals it under jmu.)
	for i, r := range queued {
		r.push(items[i])
		d.setQueueMetric(r)
		r.signal()
	}
	if d.journal != nil && len(adds) > 0 && d.journal.wantsCompaction() {
		if err := d.compactLocked(); err != nil {
			d.log.Error("cannot compact the sink journal", "err", err)
		}
	}
	return nil
}

// admit filters, de-duplicates and throttles group for r and makes an
// item of what is left, for Send to journal and then queue. It returns the
// item and its journal record, or no record when the queue has no room.
// Sends are serialised (sendMu), so nothing can be admitted twice between
// this and the push.
func (r *route) admit(group []alert.Alert, now time.Time, seq *atomic.Uint64) (*item, *journalRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keep []alert.Alert
	for _, a := range group {
		if !r.Filter.match(a) {
			continue
		}
		if _, ok := r.pending[a.ID]; a.ID != "" && (ok || r.delivered.Has(a.ID)) {
			r.stats.dup.Add(1)
			r.d.metric(func(m *Metrics) { m.Duplicates.WithLabelValues(r.Name).Inc() })
			continue
		}
		if r.throttle != nil && !r.throttleAdmits(&a) {
			r.stats.suppressed.Add(1)
			r.d.metric(func(m *Metrics) { m.Suppressed.WithLabelValues(r.Name).Inc() })
			continue
		}
		keep = append(keep, a)
	}
	if len(keep) == 0 {
		return nil, nil
	}
	it := &item{Seq: seq.Add(1), Queued: now, Alerts: keep}
	if len(r.queue) >= r.Delivery.QueueSize {
		return it, nil
	}
	rec := addRecord(r.Name, it)
	return it, &rec
}

// throttleAdmits reports whether the route's throttle lets a through, and
// counts the keys it forgot at its cap to make room.
func (r *route) throttleAdmits(a *alert.Alert) bool {
	before := r.throttle.evicted
	ok := r.throttle.admit(a)
	if n := r.throttle.evicted - before; n > 0 {
		r.stats.throttleEvicted.Add(n)
		r.d.metric(func(m *Metrics) { m.ThrottleEvicted.WithLabelValues(r.Name).Add(float64(n)) })
	}
	return ok
}

func (r *route) push(it *item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushLocked(it)
}

func (r *route) pushLocked(it *item) {
	r.queue = append(r.queue, it)
	for _, a := range it.Alerts {
		if a.ID != "" {
			r.pending[a.ID] = struct{}{}
		}
	}
}

func (r *route) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// metric runs f on the metrics when there are some.
func (d *Dispatcher) metric(f func(*Metrics)) {
	if d.opt.Metrics != nil {
		f(d.opt.Metrics)
	}
}

func (d *Dispatcher) setQueueMetric(r *route) {
	d.metric(func(m *Metrics) {
		r.mu.Lock()
		n := len(r.queue)
		r.mu.Unlock()
		m.Queue.WithLabelValues(r.Name).Set(float64(n))
	})
}

// work delivers r's queue, one group (or one digest) at a time, until
// Close: then it empties the queue, or stops when Close runs out of time.
func (d *Dispatcher) work(r *route) {
	defer d.wg.Done()
	attempt, noDigest := 0, false
	for {
		batch, ok := d.next(r, noDigest)
		if !ok {
			return
		}
		err := d.attempt(r, batch)
		if err == nil && d.opt.AfterSend != nil {
			d.opt.AfterSend(r.Name)
		}
		if err == nil {
			d.finish(r, batch, "", "")
			attempt, noDigest = 0, false
			continue
		}
		if d.stopCtx.Err() != nil {
			return // cut short by Close: the batch stays queued and is saved
		}
		r.lastErr.Store(err.Error())
		v, wait := classify(err)
		if v == giveUp {
			if len(batch) > 1 {
				// The digest itself was refused (too long, say): its
				// groups may still go one by one.
				d.log.Warn("digest refused; sending its alerts one by one", "sink", r.Name, "err", err)
				noDigest = true
				continue
			}
			d.log.Error("alert refused by the receiver; writing it to the dead-letter file", "sink", r.Name, "err", err)
			d.finish(r, batch, "permanent", err.Error())
			attempt = 0
			continue
		}
		if v == retryLater {
			wait = backoff(attempt, r.Delivery.BackoffMin, r.Delivery.BackoffMax, d.opt.random)
		}
		// A Retry-After longer than the max age (an hour, a day) must not
		// hold the queue past it: the oldest group is dead-lettered on time.
		wait = min(wait, d.untilExpiry(r))
		attempt++
		r.stats.retried.Add(1)
		d.metric(func(m *Metrics) { m.Retried.WithLabelValues(r.Name).Inc() })
		d.log.Warn("alert delivery failed; will retry", "sink", r.Name, "err", err, "attempt", attempt,
			"retry_in", wait.Round(time.Millisecond), "verdict", v.String())
		if err := d.opt.sleep(d.pauseCtx, wait); err != nil {
			return // Close ran out of time, or Reload hands the queue over
		}
	}
}

// attempt makes one delivery of batch: one group, or a digest of several.
func (d *Dispatcher) attempt(r *route, batch []*item) error {
	r.mu.Lock()
	for _, it := range batch {
		it.Attempts++
	}
	r.mu.Unlock()
	if len(batch) == 1 {
		return r.Sink.Send(d.stopCtx, batch[0].Alerts)
	}
	groups := make([][]alert.Alert, len(batch))
	for i, it := range batch {
		groups[i] = it.Alerts
	}
	return r.digest.sendDigest(d.stopCtx, groups)
}

// next waits for work: the head group, or a digest's worth when the queue
// is long and the sink digests. Alerts past their max age are dead-lettered
// first. It returns false when the worker should stop.
func (d *Dispatcher) next(r *route, noDigest bool) ([]*item, bool) {
	for {
		if d.pauseCtx.Err() != nil {
			return nil, false
		}
		d.expire(r)
		r.mu.Lock()
		n := len(r.queue)
		if n > 0 {
			k := 1
			if r.digest != nil && !noDigest && n >= r.Delivery.DigestAfter {
				k = min(n, r.Delivery.DigestMax)
			}
			batch := slices.Clone(r.queue[:k])
			r.mu.Unlock()
			return batch, true
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-d.closing:
			r.mu.Lock()
			empty := len(r.queue) == 0
			r.mu.Unlock()
			if empty {
				return nil, false
			}
		case <-d.pauseCtx.Done():
			return nil, false
		}
		if d.pauseCtx.Err() != nil {
			return nil, false
		}
	}
}

// untilExpiry is how long until r's oldest queued group reaches its max
// age: 0 when one has.
func (d *Dispatcher) untilExpiry(r *route) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return r.Delivery.MaxAge
	}
	oldest := r.queue[0].Queued
	for _, it := range r.queue[1:] {
		if it.Queued.Before(oldest) {
			oldest = it.Queued
		}
	}
	return max(oldest.Add(r.Delivery.MaxAge).Sub(d.opt.now()), 0)
}

// expire dead-letters the groups queued longer than the max age.
func (d *Dispatcher) expire(r *route) {
	cutoff := d.opt.now().Add(-r.Delivery.MaxAge)
	r.mu.Lock()
	var old []*item
	for _, it := range r.queue {
		if !it.Queued.After(cutoff) {
			old = append(old, it)
		}
	}
	r.mu.Unlock()
	if len(old) == 0 {
		return
	}
	cause, _ := r.lastErr.Load().(string)
	if cause == "" {
		cause = "not delivered within max age"
	}
	d.log.Error("alerts not delivered within max age; writing them to the dead-letter file", "sink", r.Name,
		"groups", len(old), "max_age", r.Delivery.MaxAge, "last_err", cause)
	d.finish(r, old, "max_age", cause)
}

// finish takes batch off r's queue: delivered when reason is empty,
// otherwise written to the dead-letter file.
func (d *Dispatcher) finish(r *route, batch []*item, reason, cause string) {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	// What the receiver took of each item: all of it, or, given up on,
	// what a sink that posts a group alert by alert delivered before it
	// gave up (those are delivered, not dead letters), and the rest.
	type outcome struct {
		took []string
		left *item
	}
	outcomes := make([]outcome, len(batch))
	r.mu.Lock()
	done := map[uint64]bool{}
	for i, it := range batch {
		done[it.Seq] = true
		for _, a := range it.Alerts {
			delete(r.pending, a.ID)
		}
		o := outcome{took: idsOf(it)}
		if reason != "" {
			o.took, o.left = splitDelivered(r.Sink, it)
		}
		for _, id := range o.took {
			if id != "" {
				r.delivered.Add(id)
			}
		}
		outcomes[i] = o
	}
	r.queue = slices.DeleteFunc(r.queue, func(it *item) bool { return done[it.Seq] })
	r.mu.Unlock()
	d.setQueueMetric(r)
	var recs []journalRecord
	for i, it := range batch {
		o := outcomes[i]
		if len(o.took) > 0 {
			r.stats.sent.Add(int64(len(o.took)))
			d.metric(func(m *Metrics) { m.Sent.WithLabelValues(r.Name).Add(float64(len(o.took))) })
		}
		switch {
		case reason == "":
			recs = append(recs, journalRecord{Op: opDone, Sink: r.Name, Seq: it.Seq, IDs: o.took})
			continue
		case len(o.took) > 0:
			recs = append(recs, journalRecord{Op: opDelivered, Sink: r.Name, IDs: o.took})
		}
		recs = append(recs, journalRecord{Op: opDead, Sink: r.Name, Seq: it.Seq})
		if o.left != nil {
			r.stats.failed.Add(int64(len(o.left.Alerts)))
			d.metric(func(m *Metrics) { m.Failed.WithLabelValues(r.Name).Add(float64(len(o.left.Alerts))) })
			d.deadLetter(r, r.Name, o.left, reason, cause)
		}
	}
	if d.journal != nil {
		// Not synced: losing a "done" to a power cut costs at most a
		// repeat, and syncing every delivery would slow the worker.
		if err := d.journal.append(recs, false); err != nil {
			d.log.Error("cannot journal delivered alerts; a restart may send them again", "sink", r.Name, "err", err)
		}
	}
}

// idsOf is the ids of it's alerts, in order.
func idsOf(it *item) []string {
	ids := make([]string, len(it.Alerts))
	for i, a := range it.Alerts {
		ids[i] = a.ID
	}
	return ids
}

// partialSender is a sink that delivers a group's alerts one at a time
// (the webhook) and can tell which of them the receiver already took.
type partialSender interface {
	hasDelivered(id string) bool
}

// splitDelivered returns the ids of it's alerts the sink already delivered
// and an item of the others, nil when there are none.
func splitDelivered(s Sink, it *item) (took []string, left *item) {
	ps, ok := s.(partialSender)
	if !ok {
		return nil, it
	}
	var rest []alert.Alert
	for _, a := range it.Alerts {
		if ps.hasDelivered(a.ID) {
			took = append(took, a.ID)
		} else {
			rest = append(rest, a)
		}
	}
	if len(took) == 0 {
		return nil, it
	}
	if len(rest) == 0 {
		return took, nil
	}
	cp := *it
	cp.Alerts = rest
	return took, &cp
}

// deadLetter writes the item's alerts to the dead-letter file. r may be nil for
// a sink that is no longer configured. Called with jmu held or before the
// workers start.
func (d *Dispatcher) deadLetter(r *route, name string, it *item, reason, cause string) {
	d.dead.write(name, it, reason, cause)
	if r != nil {
		r.stats.dead.Add(int64(len(it.Alerts)))
	}
	d.metric(func(m *Metrics) { m.DeadLettered.WithLabelValues(name, reason).Add(float64(len(it.Alerts))) })
}

// compact rewrites the journal as the routes' delivered ids and queues.
func (d *Dispatcher) compact() error {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	return d.compactLocked()
}

func (d *Dispatcher) compactLocked() error {
	if d.journal == nil {
		return nil
	}
	var recs []journalRecord
	for _, r := range d.routes {
		r.mu.Lock()
		if ids := r.delivered.List(); len(ids) > 0 {
			recs = append(recs, journalRecord{Op: opDelivered, Sink: r.Name, IDs: ids})
		}
		for _, it := range r.queue {
			recs = append(recs, addRecord(r.Name, it))
		}
		r.mu.Unlock()
	}
	return d.journal.rewrite(recs)
}

// Close stops taking alerts, lets the workers deliver what is queued until
// ctx ends (or CloseTimeout, when ctx has no deadline), then cuts them
// short, saves what is still queued in the state directory for the next
// start (or dead-letters it without one) and closes the sinks.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.sendMu.Lock()
	if d.closed {
		d.sendMu.Unlock()
		return nil
	}
	d.closed = true
	d.sendMu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.opt.CloseTimeout)
		defer cancel()
	}
	close(d.closing)
	d.waitWorkers(ctx)

	var errs []error
	left := 0
	for _, r := range d.routes {
		r.mu.Lock()
		for _, it := range r.queue {
			left += len(it.Alerts)
		}
		r.mu.Unlock()
	}
	if d.journal != nil {
		if err := d.compact(); err != nil {
			errs = append(errs, fmt.Errorf("save queued alerts: %w", err))
		}
		if left > 0 {
			d.log.Warn("alerts still queued at shutdown are saved and will be sent after a restart",
				"alerts", left, "journal", d.journal.path)
		}
		errs = append(errs, d.journal.close())
	} else if left > 0 {
		d.jmu.Lock()
		for _, r := range d.routes {
			r.mu.Lock()
			queue := r.queue
			r.queue = nil
			r.mu.Unlock()
			for _, it := range queue {
				d.deadLetter(r, r.Name, it, "shutdown", "still queued at shutdown and no state directory to keep it")
			}
		}
		d.jmu.Unlock()
	}
	// The sinks get a moment of their own: ctx may be spent by now.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, r := range d.routes {
		if err := r.Sink.Close(cctx); err != nil {
			errs = append(errs, fmt.Errorf("close sink %s: %w", r.Name, err))
		}
	}
	errs = append(errs, d.dead.close())
	return errors.Join(errs...)
}

// Stats returns each sink's counts, in route order.
func (d *Dispatcher) Stats() []RouteStats {
	d.sendMu.Lock() // Reload swaps the routes under it
	defer d.sendMu.Unlock()
	out := make([]RouteStats, len(d.routes))
	for i, r := range d.routes {
		r.mu.Lock()
		out[i] = RouteStats{Name: r.Name, Queued: len(r.queue)}
		r.mu.Unlock()
		out[i].Sent, out[i].Retried, out[i].Failed = r.stats.sent.Load(), r.stats.retried.Load(), r.stats.failed.Load()
		out[i].DeadLettered, out[i].Suppressed, out[i].Duplicates = r.stats.dead.Load(), r.stats.suppressed.Load(), r.stats.dup.Load()
		out[i].ThrottleEvicted = r.stats.throttleEvicted.Load()
	}
	return out
}

// Destinations names where alerts go, one entry per sink, secrets
// redacted: what watch says at start, so an operator sees a misrouted
// sink before the first alert is lost to it.
func (d *Dispatcher) Destinations() []string {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	out := make([]string, len(d.routes))
	for i, r := range d.routes {
		out[i] = r.Name
		if s, ok := r.Sink.(fmt.Stringer); ok {
			out[i] += " (" + s.String() + ")"
		}
	}
	return out
}
