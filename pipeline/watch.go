package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
	"github.com/graceguard/graceguard/source"
)

// WatchOptions configure a Watcher.
type WatchOptions struct {
	Location   *time.Location // OpenUnison's zone; nil is UTC
	Rules      *rules.Set
	Limits     correlate.Limits
	PairWindow time.Duration
	// Settle is, with a shared store, how long a grace reuse waits for the
	// other watchers' refreshes to reach it. Events of this watcher's own
	// sources wait for each other exactly, by log time (order.go), however
	// long reading takes; Settle (a second at least) only bounds the wait
	// for a source that sends nothing at all, not even its end (a hung
	// read), and a file waits its turn while the follower sends the other
	// files' batches (turnWait at most). With one source nothing waits.
	Settle time.Duration
	// Deliver sends a group of alerts (one event's) where nothing keeps
	// them (stdout); it is called after the delivery ledger wrote the group
	// as leaving and before it records it as printed, and again at the next
	// start for a group a kill -9 left between the two (at least once). An
	// error is counted and logged.
	Deliver Deliver
	// Enqueue, when set, hands a group to sinks that journal it durably
	// (the sinks' Dispatcher), at the same points as Deliver: they must
	// drop the ids they already took.
	Enqueue Deliver
	// UpstreamOf, when set, names the address proxies use to reach the
	// OpenUnison pod whose log a source is (its pod IP, in Kubernetes
	// mode), so attribution need not learn it from the traffic.
	UpstreamOf func(source string) (netip.Addr, bool)
	// ProxyLogs are the paths and globs of the followed files the user
	// named proxies' access logs (watch --proxy-logs): each is one from its
	// first batch, empty or not, and token events wait for the proxies'
	// records from the start (see the package comment).
	ProxyLogs []string
	// Respond, when set, acts on a fresh group first (watch --revoke) and
	// returns it carrying the outcome, which every sink then shows.
	Respond func(context.Context, []alert.Alert) []alert.Alert
	// SinkName, when set, names the sink label of the delivery metrics,
	// asked at each group: watch's sinks may come with a reload. "stdout"
	// when nil.
	SinkName func() string
	// StateDir holds the checkpoint; empty runs without one.
	StateDir        string
	CheckpointEvery time.Duration
	// MaxSentIDs bounds the alert ids remembered to avoid sending twice.
	MaxSentIDs int
	Metrics    *Metrics // may be nil
	Logger     *slog.Logger
	// Store holds the history; nil is a new Memory store with Limits. A
	// localStore has its local part checkpointed; a batchingStore is flushed
	// every tick and before stopping; a store reporting sharedHealth makes
	// the watcher unready while its shared part is down.
	Store correlate.Store
	// Shared says the store is shared with other watchers (Redis): they are
	// sources this watcher cannot see, so every grace reuse waits Settle for
	// their refreshes to reach the store.
	Shared bool
	// Claims, when set, dedups alerts across watchers: an alert is sent only
	// by the watcher that claims its id first.
	Claims Claimer
	Geo    correlate.GeoLookup
	// Idle, when set, is called with true once the files have been quiet
	// for idleRelease after being busy (and the last checkpoint since then
	// is written), and with false when data comes again or Run returns
	// while idle. The caller owns what to do with it: process-wide runtime
	// settings (GOGC, returning memory to the operating system) belong to
	// the command, not to this package.
	Idle func(idle bool)
	// Attribution configures the join of token events to proxy records;
	// its MaxWait defaults to Settle plus its window.
	Attribution attribute.Options
	now         func() time.Time
	// handled, when set (tests), is told of each batch once handled and
	// its counts in the metrics: a batch the follower handed over may wait
	// in the lookahead's queue.
	handled func(source.Batch)
	// ticked, when set (tests), is called after each tick: what waits on
	// the wall clock has been looked at by then.
	ticked func()
	// prepareMin is the smallest batch parsed ahead (catchup.go);
	// prepareMin by default, tests set it.
	prepareMin int
	// lookahead is how many batches are taken ahead (catchup.go);
	// aheadDepth by default, benchmarks set it. aheadCandidates still bounds
	// what they hold.
	lookahead int
}

// Watcher is the streaming pipeline: it turns followed files' batches into
// records and events, holds grace reuses until the other replicas' logs
// have caught up, judges, delivers, and checkpoints positions, history and
// sent alert ids together, so a restart neither loses nor repeats an alert.
// One goroutine runs it; Reload and Ready are safe from others.
type Watcher struct {
	opt      WatchOptions
	store    correlate.Store
	local    *correlate.Memory // the history a checkpoint keeps; nil for none
	det      *Detector
	attr     *attribute.Attributor
	attrOut  []parser.Event
	attrSeen attribute.Stats // what the metrics have counted
	streams  map[string]*stream
	named    streamNames // the same streams by sourceClock's names
	held     []heldEvent
	ending   []*stream                      // ended sources whose events still wait to be merged
	queued   int                            // events waiting in the sources' queues
	heldFrom map[correlate.UserID]time.Time // per user, the earliest reuse held
	blocked  map[correlate.UserID]bool      // scratch for release
	ledger   *sinks.Ledger
	cpState  checkpointState
	restored []source.Position
	// restoredAt: when the checkpoint restored was written (zero: none).
	restoredAt time.Time
	// drained: where the files that ended last were read to, kept in the
	// checkpoint until another file is read (see checkpoint.go); the last
	// maxDrained.
	drained []source.Position
	// unseen: the files the checkpoint named (by sourceID) not read yet
	// this run, which started at started (held.go, restoredUnseen).
	unseen  map[string]time.Time
	started time.Time
	// proxyLogsMatched says, per WatchOptions.ProxyLogs pattern, whether a
	// stream it names has been seen (noteAwaiting).
	proxyLogsMatched []bool
	proxyLogsGivenUp bool // the unmatched ones are no longer waited for
	reload           chan *rules.Set
	ready            atomic.Bool
	lastCP           time.Time
	newest           time.Time
	warned           bool
	busyAt           time.Time // when a batch of data last arrived
	filesAt          time.Time // when the file follower last sent a batch, of any file (stalled)
	released         bool      // the watcher went idle since then (idle.go)
	changed          bool      // what a checkpoint holds may differ from the last one
	stats            WatchStats
	counted          WatchStats // what the metrics have counted (publish)
	// detCounted: the detector's counts the metrics have counted (detectorMetrics).
	detCounted detectorCounts
	lagOf      time.Time // the newest record's time the lag metric was set for
	// parsedAhead counts the batches whose records came parsed ahead
	// (catchup.go), for tests.
	parsedAhead int64
	log         *slog.Logger

	// waited is how long the watcher has waited for input with none
	// queued, up to waitingSince, when it last began to (zero while it
	// has input to handle): a lagging stream's stall is measured in it
	// (behindOn).
	waited       time.Duration
	waitingSince time.Time
	// lookedAt is when the last tick began to release what waits on the
	// wall clock: what it found waiting then and let go later is looked
	// at again by the next tick (quieting).
	lookedAt time.Time
}

// WatchStats counts what a Watcher did.
type WatchStats struct {
	Records, ParseErrors, Alerts, Duplicates, DeliveryErrors int64
	HeldOverflow                                             int64 // held events judged early because maxHeld were waiting
	Cut                                                      int64 // lines or records longer than parser.MaxRecord, cut there
	Events                                                   [parser.NumKinds]int64
	TokenAddrs                                               AddressCounts
}

// proxyWarnAfter is how many token requests, all from private addresses,
// make the watcher say once that it sees an ingress controller, not clients.
const proxyWarnAfter = 20

type stream struct {
	key, path string
	sourceID  string
	id        source.FileID
	asm       parser.Assembler
	end       int64 // offset after the last data pushed
	size      int64 // the file's size as last seen (source.Batch.Size)
	line      int64
	idle      bool
	idleSince time.Time      // when the stream last went idle
	watermark time.Time      // time of the newest record read
	cutSeen   int64          // asm's cut records counted in the watcher's stats
	queue     []parser.Event // events read and not yet merged (order.go)
	lastBatch time.Time      // when the follower last sent anything of it
	// file: the file follower reads it (an identity, no cursor), in turn
	// with the other files (stalled).
	file bool
	// lagged: the last data's lines were written (source.Batch.Written, a
	// container log's kubelet stamps) backlogLag or more before they came,
	// when the watcher had waited dataWaited (Watcher.waited). Only data
	// counts: a stream reconnecting says it is away again and again,
	// sending nothing.
	lagged     bool
	dataWaited time.Duration
	// sniffed: the stream's first data was looked at for what it is (a
	// proxy's log); an announcement (order.go) carries none.
	sniffed bool
	proxy   bool // a proxy's access log
	// read: the follower sent more than its announcement (data, its end,
	// or that it ended); one announced only may be waiting for an older
	// generation to drain (checkpoint.go leaves it out).
	read bool
	// behind is the stream of an older generation of the same path this
	// one waits for (source.Batch.Behind): its lines come after that one's.
	behind string
	// older is the stream of the older generation this one was announced
	// behind (a file rotated away and still being read), while it may hold
	// events: its lines were all written before this one's (olderQueued).
	// ended: the source is gone.
	older *stream
	ended bool

	cursors cursorTrack // for streams resumed by cursor (cursor.go)

	// midLine: the last data ended inside a line (the follower hands on
	// the head of a line too long to hold), pushed cut; the next data
	// up to its first newline is that line's rest, read past. cutLine is
	// where that line began, for a checkpoint taken meanwhile.
	midLine bool
	cutLine int64
}

// NewWatcher makes a Watcher and loads the checkpoint in opt.StateDir.
func NewWatcher(opt WatchOptions) (*Watcher, error) {
	if opt.Settle <= 0 {
		opt.Settle = 2 * time.Second
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 5 * time.Second
	}
	if opt.MaxSentIDs <= 0 {
		opt.MaxSentIDs = 100_000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Shared && opt.PairWindow <= 0 {
		opt.PairWindow = sharedPairWindow
	}
	if opt.Shared && opt.Settle < max(opt.PairWindow, quietCommit)+settleMargin {
		opt.Logger.Warn("the settle time is too short for a shared store: a refresh logged by another replica may reach it after the replay is judged",
			"settle", opt.Settle, "want_at_least", max(opt.PairWindow, quietCommit)+settleMargin)
	}
	if opt.now == nil {
		opt.now = time.Now
	}
	if opt.prepareMin <= 0 {
		opt.prepareMin = prepareMin
	}
	store := opt.Store
	if store == nil {
		store = correlate.NewMemory(opt.Limits)
	}
	w := &Watcher{
		opt: opt, store: store, local: localHistory(store), heldFrom: map[correlate.UserID]time.Time{}, blocked: map[correlate.UserID]bool{}, streams: map[string]*stream{},
		reload: make(chan *rules.Set, 1), log: opt.Logger,
	}
	if opt.Attribution.MaxWait <= 0 {
		opt.Attribution.MaxWait = opt.Settle + max(opt.Attribution.Window, 2*time.Second)
	}
	if len(opt.ProxyLogs) > 0 {
		opt.Attribution.Expect = true
		w.proxyLogsMatched = make([]bool, len(opt.ProxyLogs))
	}
	w.attr = attribute.New(opt.Attribution)
	w.det = NewDetector(store, opt.Rules, opt.PairWindow, w.deliver)
	w.det.correlator.SourceClock = w.judgedClock
	w.det.UseBatches(judgeBatch)
	w.det.UseGeo(opt.Geo)
	if err := w.openLedger(); err != nil {
		return nil, err
	}
	if opt.StateDir != "" {
		if err := w.load(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Positions are where the checkpoint says each file stopped: the follower
// starts there.
func (w *Watcher) Positions() []source.Position { return w.restored }

// PositionsWritten is when the checkpoint Positions come from was written
// (zero: none was restored). A file made after it holds no history: the
// follower reads it from its start, also with --from end
// (source.Options.PositionsWritten).
func (w *Watcher) PositionsWritten() time.Time { return w.restoredAt }

// Ready reports whether state is loaded, reading has begun and a shared
// store answers.
func (w *Watcher) Ready() bool { return w.Unready() == "" }

// Unready says why the watcher is not ready, or "" when it is.
func (w *Watcher) Unready() string {
	if !w.ready.Load() {
		return "loading state"
	}
	if s, ok := w.store.(sharedHealth); ok && !s.Up() {
		return "shared state unreachable (analysing with local state)"
	}
	return w.stateUnready()
}

// localStore is a store with a part held in this process, which a
// checkpoint keeps: all of the memory store, the failover store's fallback.
type localStore interface {
	Local() *correlate.Memory
}

func localHistory(s correlate.Store) *correlate.Memory {
	if l, ok := s.(localStore); ok {
		return l.Local()
	}
	return nil
}

// Reload swaps the rule set at the next opportunity.
func (w *Watcher) Reload(set *rules.Set) {
	select {
	case <-w.reload:
	default:
	}
	w.reload <- set
}

// Stats returns the counts so far; call it after Run returns.
func (w *Watcher) Stats() WatchStats { return w.stats }

// Run reads batches until the channel closes (the follower stopped: drain,
// judge what waits, checkpoint) or ctx ends (stop at once, checkpoint).
// Large batches of a backlog are split and parsed ahead on other cores
// (catchup.go) while this goroutine judges the ones before.
func (w *Watcher) Run(ctx context.Context, batches <-chan source.Batch) error {
	w.started = w.opt.now()
	w.handOutUnfinished(ctx)
	w.ready.Store(true)
	defer func() {
		if w.released && w.opt.Idle != nil {
			w.opt.Idle(false)
		}
		w.released = false
	}()
	ahead := w.newLookahead()
	defer ahead.stop()
	tick := time.NewTicker(busyTick)
	defer tick.Stop()
	every := busyTick
	for {
		// Idle, the tick slows, then stops (idle.go).
		var tickC <-chan time.Time
		if next := w.tickEvery(); next != every {
			every = next
			if every > 0 {
				tick.Reset(every)
			} else {
				tick.Stop()
			}
		}
		if every > 0 {
			tickC = tick.C
		}
		done, err := w.step(ctx, batches, ahead, tickC)
		w.endBatch(!ahead.more(batches))
		if done || err != nil {
			return err
		}
	}
}

// step waits for one thing to do (a batch taken or ready, a reload, a
// tick, the end) and does it; done says Run is over.
func (w *Watcher) step(ctx context.Context, in <-chan source.Batch, ahead *lookahead, tick <-chan time.Time) (done bool, err error) {
	// Every batch the follower has ready goes to the workers before this
	// goroutine judges one: a select picks at random, and the workers ran
	// dry while it judged. Then, with nothing more to hand them, the batch
	// needed next is parsed here rather than waited for.
	ahead.fill(in)
	if ahead.closed && len(ahead.queue) == 0 {
		return true, w.finish(ctx)
	}
	ahead.help()
	select {
	case b, ok := <-ahead.from(in):
		if !ok {
			ahead.closed = true
			return false, nil
		}
		ahead.take(b)
		return false, nil
	case <-ahead.ready():
		p := ahead.pop()
		defer ahead.recycle(p)
		return false, w.handleAll(ctx, p, ahead.more(in))
	case set := <-w.reload:
		if err := w.det.Drain(ctx); err != nil { // judged by the rules they were read under
			return false, err
		}
		w.det.SetRules(set)
		w.log.Info("rules reloaded", "rules", len(set.Enabled()))
		return false, nil
	case <-tick:
		if len(ahead.queue) == 0 && w.opt.now().Sub(w.busyAt) >= idleRelease/2 {
			ahead.idle() // before tick reports the watcher idle
		}
		if err := w.tick(ctx); err != nil {
			return false, err
		}
		if p := ahead.next(in); p != nil {
			defer ahead.recycle(p)
			return false, w.handleAll(ctx, p, ahead.more(in))
		}
		if ahead.closed {
			return false, nil
		}
		if err := w.releaseStalled(ctx); err != nil {
			return false, err
		}
		return false, w.det.Drain(ctx)
	case <-ctx.Done():
		// The batches taken ahead are handled: Run has taken them, and a
		// caller may count on a batch it handed over being read.
		rest := context.WithoutCancel(ctx)
		var errs []error
		for p := ahead.pop(); p != nil; p = ahead.pop() {
			errs = append(errs, w.handleAll(rest, p, true)) // drained below
		}
		return true, errors.Join(append(errs, ctx.Err(), w.det.Drain(rest), w.flushStore(rest), w.checkpoint())...)
	}
}

// endBatch closes what a batch (or a tick) did: one fsync of the delivery
// ledger for every alert group it delivered (each was written to the
// ledger before it left), and the metrics brought up to date once, not
// per record. drained says no input is queued: the watcher waits for it
// from here, before the metrics say what the step did (a test that reads
// them, then moves its clock, moves it while the watcher waits).
func (w *Watcher) endBatch(drained bool) {
	w.syncSent()
	w.awaitInput(drained)
	w.publish()
}

// finish judges the reuses still held and writes the last checkpoint. The
// correlator's waiting refreshes stay waiting: the checkpoint keeps them.
func (w *Watcher) finish(ctx context.Context) error {
	err := w.flushAttributed(ctx)
	err = errors.Join(err, w.release(ctx, true))
	if err == nil {
		err = w.det.Drain(ctx)
	}
	return errors.Join(err, w.flushStore(ctx), w.checkpoint())
}

// judgeBatch is how many events a shared store (Redis) is sent in one round
// trip, at most: a backlog is judged a batch at a time, not a round trip an
// event. Every batch of input is judged before the next is awaited, so
// following a live log this adds nothing.
const judgeBatch = 512

// handleAll handles a batch of input and judges what it brought, unless
// more input is already waiting (a backlog): then the batches sent to a
// shared store stay on their way while the next is read, and are judged
// when input has to be waited for (or on the next tick, or when too many
// are on their way).
func (w *Watcher) handleAll(ctx context.Context, p *prepared, more bool) error {
	w.awaitInput(false) // a batch a tick found too: handling it is no wait
	p.wait()
	if err := w.handle(ctx, p.b, p.pre); err != nil {
		return err
	}
	if w.opt.handled != nil {
		// The metrics are brought up to date once a step (endBatch), after
		// this: a test that reads them once told would race that, and wait
		// for a batch that never comes after the last.
		w.publish()
		w.opt.handled(p.b)
	}
	if more {
		return nil
	}
	return w.det.Drain(ctx)
}

// batchingStore is a store that sends what it learns in batches.
type batchingStore interface {
	Flush(context.Context) error
}

// flushStore sends what the store batched: every tick, and before stopping,
// so no learned refresh stays behind in this process.
func (w *Watcher) flushStore(ctx context.Context) error {
	if f, ok := w.store.(batchingStore); ok {
		return f.Flush(ctx)
	}
	return nil
}

func (w *Watcher) tick(ctx context.Context) error {
	w.lookedAt = w.opt.now()
	w.noteBacklog() // a container's log that stopped sending no longer counts
	if err := w.releaseAttributed(ctx); err != nil {
		return err
	}
	if err := w.release(ctx, false); err != nil {
		return err
	}
	// Each waiting refresh expires by its own source's clock
	// (sourceClock), which always answers, not by w.newest: a restart that
	// has read nothing yet (a kill -9 while the file's last refresh waited
	// for its twin, the checkpoint at the end of the file) must still let
	// the refresh it restored go, or its alert waits for the IdP's next line.
	if err := w.det.Tick(ctx, w.newest); err != nil {
		return err
	}
	w.waitingUnseen() // after restoredWait, so the idle tick can stop
	if err := w.det.Drain(ctx); err != nil {
		return err
	}
	if err := w.flushStore(ctx); err != nil {
		return err
	}
	// An idle watch writes no checkpoint: it would hold what the last one
	// did, and encoding the whole history every few seconds only churns the
	// heap back up to twice its live size and wears the disk.
	if w.opt.StateDir != "" && w.changed && w.checkpointDue() {
		w.retryableCheckpoint()
	}
	w.goneIdle()
	if w.opt.ticked != nil {
		w.opt.ticked()
	}
	return nil
}

func (w *Watcher) handle(ctx context.Context, b source.Batch, pre *preparsed) error {
	w.changed = true
	s := w.streamOf(b)
	// An Ended batch that is a stream's first says a checkpointed file is
	// gone (source's warnUnfound): nothing of it was read.
	s.read = s.read || b.Idle || b.Ended && !s.lastBatch.IsZero()
	if b.Behind != "" {
		s.behind = b.Behind
		if o := w.streams[b.Behind]; o != nil && s.older == nil && !o.behindOf(s) {
			s.older = o
		}
	}
	w.sniff(s, b)
	s.id, s.lastBatch, s.size = b.ID, w.opt.now(), max(s.size, b.Size)
	if b.Cursor == "" && s.resumable() { // s.id is b.ID now
		s.file, w.filesAt = true, s.lastBatch
	}
	if len(b.Data) > 0 {
		s.lagged, s.dataWaited = !b.Written.IsZero() && s.lastBatch.Sub(b.Written) >= backlogLag, w.waitedBy(s.lastBatch)
	}
	defer w.noteCursor(s, b)
	switch {
	case b.Ended:
		return w.ended(ctx, s, b)
	case b.Idle:
		if !s.idle {
			s.idle, s.idleSince = true, w.opt.now()
		}
		if b.Drained {
			// At its end a drain's quiet ago (a rotated generation left
			// watched): no writer a moment late to hold the others for.
			s.idleSince = time.Time{}
		}
		w.noteBacklog()
		if rec, ok := s.asm.Flush(false); ok {
			if err := w.record(ctx, s, rec); err != nil {
				return err
			}
		}
		return w.release(ctx, false)
	case b.Away:
		// Reconnecting: not at its end, whatever it said before (order.go).
		s.idle = false
		return nil
	case len(b.Data) == 0:
		w.noteBacklog()
		return nil // a source announced before its data (order.go): it is known now
	}
	s.idle, s.read = false, true
	w.noteBacklog()
	// Once no file waits unread behind the drained ones (each read file has
	// a position of its own), they need not stand in for it. Another
	// file's data says nothing of the generations still waiting.
	if !w.anyWaiting() {
		w.drained = w.drained[:0]
	}
	w.busyAgain()
	// A batch that begins or ends inside a long line goes line by line:
	// the splitter would read its rest as lines and records of their own.
	if pre != nil && !s.midLine && b.Data[len(b.Data)-1] == '\n' {
		return w.readPrepared(ctx, s, b, pre)
	}
	return w.readLines(ctx, s, b)
}

// anyWaiting says whether a file is announced and not read yet: one at a
// path, waiting for an older generation to drain.
func (w *Watcher) anyWaiting() bool {
	for _, s := range w.streams {
		if s.resumable() && s.waitingUnread() {
			return true
		}
	}
	return false
}

// streamOf is the batch's stream, new when its source is.
func (w *Watcher) streamOf(b source.Batch) *stream {
	s := w.streams[b.Key]
	if s != nil {
		return s
	}
	s = &stream{key: b.Key, path: w.logName(b), id: b.ID, sourceID: sourceID(b), end: b.Offset}
	w.streams[b.Key] = s
	delete(w.unseen, s.sourceID)
	w.named.add(s)
	if b.Log != "" {
		// A generation read under the name it has now (rotated while
		// watch was down or behind, a copytruncate's copy): its events
		// keep that name, which tells its stream from the others of its
		// file, but for attribution it is the log it was rotated from.
		w.attr.SameLog(s.path, b.Log)
	}
	if up := w.opt.UpstreamOf; up != nil {
		if addr, ok := up(s.path); ok {
			// An OpenUnison pod's log (Kubernetes mode): the proxies
			// name its pod IP as their upstream.
			w.attr.SetUpstream(addr, s.path)
		}
	}
	return s
}

// logName is the name the batch's events carry as their Source: the name
// the checkpoint saved the file under, when it names it, else the one it
// was found under. A file rotated while watch was down is found under its
// new name, but it is the log the checkpoint was reading, and what waits
// for it there (a replay's twin, on its thread) waits under that name: read
// under the new one, the replay's reuse met no twin and raised nothing.
// While watched, a rotated file keeps its name the same way.
func (w *Watcher) logName(b source.Batch) string {
	if b.ID.Ino == 0 && b.ID.Fingerprint == "" {
		return b.Path // stdin: nothing to resume
	}
	for _, p := range w.restored {
		// The fingerprint too: a file deleted while watch was down may
		// have left its inode to another file, which is another log.
		if p.Path != "" && sameStream(p.ID, b.ID) && sameStart(p.ID, b.ID) {
			return p.Path
		}
	}
	return b.Path
}

// sameStart says two identities' first bytes do not tell them apart: the
// same fingerprint, or fingerprints of different lengths (one taken
// while the file was shorter) or none.
func sameStart(a, b source.FileID) bool {
	return a.FingerprintLen == 0 || a.FingerprintLen != b.FingerprintLen || a.Fingerprint == b.Fingerprint
}

// sniff looks at a stream's first data (an announcement, order.go, has
// none) for what it is: a proxy's log makes token events wait for its
// records from its first line on, not only once one has been read. A log
// the user named a proxy's is one from its first batch, empty or not
// (see the package comment).
func (w *Watcher) sniff(s *stream, b source.Batch) {
	if s.sniffed {
		return
	}
	if w.namedProxy(s.path) {
		s.sniffed, s.proxy = true, true
		w.attr.ExpectSource(s.path)
		return
	}
	if len(b.Data) == 0 {
		// An announcement: the file's first lines tell a proxy's log
		// before its data, which may come after another file's whole
		// backlog (data come a file at a time). Only a proxy's is taken
		// from them; anything else waits for the data to say.
		if len(b.Head) > 0 && parser.IsProxyLog(b.Head) {
			s.sniffed, s.proxy = true, true
			w.attr.ExpectSource(s.path)
		}
		return
	}
	s.sniffed = true
	if s.proxy = parser.IsProxyLog(b.Data); s.proxy {
		w.attr.ExpectSource(s.path)
	}
}

// noteBacklog tells attribution whether a proxy log has lines written and
// not read yet (behindOn). Asked once a batch and once a tick, once
// the batch's stream says where it stands: the streams are few, the events
// of a batch many.
func (w *Watcher) noteBacklog() {
	now := w.opt.now()
	w.noteAwaiting(now)
	waited := w.waitedBy(now)
	for _, s := range w.streams {
		if s.proxy && !s.ended && !s.idle && s.behindOn(waited) {
			w.attr.SetCatchingUp(true)
			return
		}
	}
	w.attr.SetCatchingUp(false)
}

// awaitNamedFor is how long after it starts a watcher waits for a file of
// each --proxy-logs pattern to appear: a controller starting, a log being
// rotated, take seconds. A pattern that still matches nothing (a typo, a
// proxy gone) is then no longer waited for, or every token request would
// wait MaxWait for ever.
const awaitNamedFor = 30 * time.Second

// noteAwaiting tells attribution whether a --proxy-logs pattern matches
// no file read yet, within awaitNamedFor of the start.
func (w *Watcher) noteAwaiting(now time.Time) {
	if w.proxyLogsGivenUp || len(w.proxyLogsMatched) == 0 {
		return
	}
	var unmatched []string
	for i, ok := range w.proxyLogsMatched {
		if !ok {
			unmatched = append(unmatched, w.opt.ProxyLogs[i])
		}
	}
	switch {
	case len(unmatched) == 0:
		w.proxyLogsGivenUp = true // all are read: nothing more to wait for
	case now.Sub(w.started) >= awaitNamedFor:
		w.proxyLogsGivenUp = true
		w.log.Warn("a --proxy-logs pattern matches no file; token requests no longer wait for it", "patterns", unmatched, "after", awaitNamedFor)
	default:
		w.attr.SetAwaiting(true)
		return
	}
	w.attr.SetAwaiting(false)
}

// backlogLag is how long before it came a container log's line must have
// been written for its stream to be taken for one catching up: well past
// the kubelet's delivery and the nodes' clock skew (a second or so), well
// short of the minutes a restart leaves to read.
const backlogLag = 10 * time.Second

// backlogStall is how long a lagging container log may send nothing and
// still be taken for one catching up: a stream delivering its past sends
// without pause, and one that stopped (a broken connection, a kubelet
// gone) must not hold every event until MaxPending. It is counted in the
// time the watcher waited for input with none queued (Watcher.waited), not
// in wall time: a watcher busy for as long (a loaded node, a long
// judgement) has not heard from the stream because it has not read its
// input, where the stream's next lines may be waiting; taken for stalled,
// it let the token events held for those lines go on unjoined.
const backlogStall = 2 * time.Second

// behindOn reports whether s, not idle, is still being read up to lines
// already written: a file read to less than its size (its announcement
// gives the size before its data comes; an idle file's size may end in a
// line still being written), or a container's log, whose size the API
// does not say, whose last lines came long after their kubelet stamps and
// which is still sending them (waited is Watcher.waitedBy now).
func (s *stream) behindOn(waited time.Duration) bool {
	return s.size > s.end || s.lagged && waited-s.dataWaited < backlogStall
}

// awaitInput notes whether the watcher has no input queued, so waits for
// it from now on (waiting), or has some to handle.
func (w *Watcher) awaitInput(waiting bool) {
	switch {
	case waiting && w.waitingSince.IsZero():
		w.waitingSince = w.opt.now()
	case !waiting && !w.waitingSince.IsZero():
		w.waited += w.opt.now().Sub(w.waitingSince)
		w.waitingSince = time.Time{}
	}
}

// waitedBy is how long the watcher has waited for input, with none queued,
// by now.
func (w *Watcher) waitedBy(now time.Time) time.Duration {
	if w.waitingSince.IsZero() {
		return w.waited
	}
	return w.waited + now.Sub(w.waitingSince)
}

// namedProxy says whether the user named src a proxy's log: in Kubernetes
// mode, a pod the proxy selector picks, whose address attribution's PeerOf
// knows (once the pod has one: an unnamed stream is asked again at its
// next batch).
func (w *Watcher) namedProxy(src string) bool {
	named := false
	for i, p := range w.opt.ProxyLogs {
		if namedBy(p, src) {
			named, w.proxyLogsMatched[i] = true, true
		}
	}
	if named {
		return true
	}
	peerOf := w.opt.Attribution.PeerOf
	if peerOf == nil {
		return false
	}
	_, ok := peerOf(src)
	return ok
}

// namedBy reports whether pattern (a path or glob, as the follower reads
// it) names path. The follower names a file by the first of its patterns
// that reached it, so the file may be a named one under another name: a
// symlink (/var/log/containers/… is one to /var/log/pods/…), or a path
// spelt relative where the pattern is absolute. Failing the name, the
// file itself is looked for among the pattern's matches. Asked at a
// stream's batches until its first data (sniff): a few for a file, however
// long it stays empty (its idle batch comes once a pause).
func namedBy(pattern, path string) bool {
	if ok, _ := filepath.Match(filepath.Clean(pattern), filepath.Clean(path)); ok {
		return true
	}
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	matches, _ := filepath.Glob(pattern)
	for _, m := range matches {
		if mst, err := os.Stat(m); err == nil && os.SameFile(st, mst) {
			return true
		}
	}
	return false
}

// ended closes a stream whose source is gone; its queued events still merge
// with the others'.
func (w *Watcher) ended(ctx context.Context, s *stream, b source.Batch) error {
	if rec, ok := s.asm.Flush(true); ok {
		if err := w.record(ctx, s, rec); err != nil {
			return err
		}
	}
	delete(w.streams, b.Key)
	s.ended = true
	w.noteBacklog()
	w.named.drop(s)
	if len(s.queue) > 0 {
		w.ending = append(w.ending, s)
	}
	w.noteDrained(s)
	w.forgetSourceMetrics(s.path)
	return w.release(ctx, false)
}

// readLines splits a batch's data into lines for the stream's assembler.
func (w *Watcher) readLines(ctx context.Context, s *stream, b source.Batch) error {
	lines, err := w.pushLines(ctx, s, b.Data, b.Offset)
	w.endLines(s, b, lines)
	return err
}

// pushLines pushes data's lines (data begins at source offset off) through
// the stream's assembler and takes the records it completes; it returns how
// many lines it pushed.
func (w *Watcher) pushLines(ctx context.Context, s *stream, data []byte, off int64) (int64, error) {
	var lines int64
	if s.midLine {
		// The rest of a line cut already: no line, and nothing in it a
		// record, however it begins.
		n := bytes.IndexByte(data, '\n')
		if n < 0 {
			return 0, nil
		}
		s.midLine = false
		data, off = data[n+1:], off+int64(n+1)
	}
	for len(data) > 0 {
		n := bytes.IndexByte(data, '\n')
		if n < 0 {
			n = len(data)
			if n > parser.MaxRecord {
				// The head of a line too long for the follower to hold
				// (source's emitData): cut here, its rest, in the next
				// data, is read past. A short line without its newline
				// is whole, as it always was.
				s.midLine, s.cutLine = true, off
			}
		}
		line := data[:n]
		if n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		push := s.asm.Push
		if n > parser.MaxRecord {
			line = line[:parser.MaxRecord]
			push = s.asm.PushCut // counted with its record (endLines)
		}
		s.line++
		lines++
		if rec, ok := push(line, off, s.line); ok {
			if err := w.record(ctx, s, rec); err != nil {
				return lines, err
			}
		}
		adv := min(n+1, len(data))
		data, off = data[adv:], off+int64(adv)
	}
	if s.proxy {
		return lines, w.proxyLineRead(ctx, s)
	}
	return lines, nil
}

// proxyLineRead hands on the proxy log's last line read, which the
// assembler holds for continuation lines a proxy's log never has: a token
// record's event waited for the proxy's next line. Then the log's clock
// moves to that line's time, whatever its request: an ingress carries the
// whole cluster's traffic, token requests a sliver of it, and with the
// clock moved by token records alone every replay waited attribution's
// MaxWait on a busy cluster, its proxy log long read past it.
func (w *Watcher) proxyLineRead(ctx context.Context, s *stream) error {
	rec, ok := s.asm.Flush(false)
	if !ok {
		return nil
	}
	if err := w.record(ctx, s, rec); err != nil {
		return err
	}
	// Not w.newest, OpenUnison's clock: the proxy's node may run ahead.
	if t, ok := parser.ProxyLineTime(rec.Text, w.opt.Location); ok && t.After(s.watermark) {
		s.watermark = t
		if w.attr.Waiting() {
			return w.releaseAttributed(ctx)
		}
	}
	return nil
}

// endLines notes that a batch was read: where the stream ends, and its
// bytes and lines in the metrics, once a batch (a label lookup per batch,
// not per line).
func (w *Watcher) endLines(s *stream, b source.Batch, lines int64) {
	s.end = b.Offset + int64(len(b.Data))
	if c := s.asm.Stats().Cut; c > s.cutSeen {
		// records cut at MaxRecord, by a line or by their continuations
		w.stats.Cut += c - s.cutSeen
		s.cutSeen = c
	}
	if m := w.opt.Metrics; m != nil {
		m.Bytes.WithLabelValues(s.path).Add(float64(len(b.Data)))
		m.Lines.WithLabelValues(s.path).Add(float64(lines))
	}
}

// forgetSourceMetrics drops the per-source series of a source that is gone
// (no stream of that name left): pods come and go with new names, and a
// series per pod ever seen would grow without bound.
func (w *Watcher) forgetSourceMetrics(path string) {
	m := w.opt.Metrics
	if m == nil || keyOf(w.streams, path) != "" {
		return
	}
	m.Lines.DeleteLabelValues(path)
	m.Bytes.DeleteLabelValues(path)
}

// sourceID names a file for alert ids by device and inode: its path changes
// when it is rotated, and a restart may read it under the new name. A
// container's log is named by the container instance's id: its pod's name
// may come back with a StatefulSet's next pod.
func sourceID(b source.Batch) string { return sourceIDOf(b.Path, b.ID, b.Cursor) }

// sourceIDOf is sourceID of a file at path with identity id, resumed by
// cursor when it is not empty (a checkpoint's position names the three).
func sourceIDOf(path string, id source.FileID, cursor string) string {
	if cursor != "" {
		return id.Fingerprint // a container instance's id: its log has no inode
	}
	if id.Ino == 0 {
		return path
	}
	return fmt.Sprintf("%d:%d", id.Dev, id.Ino)
}

// record classifies one record and passes an event on, or holds a grace
// reuse while other sources may still bring the refresh before it.
func (w *Watcher) record(ctx context.Context, s *stream, rec parser.Record) error {
	w.stats.Records++
	t, ok := parser.RecordTime(rec.Text, w.opt.Location)
	w.advanceClock(s, t, ok)
	if parser.Classify(rec.Text) == parser.KindOther {
		w.stats.Events[parser.KindOther]++
		return nil
	}
	ev, err := parser.Parse(rec.Text, w.opt.Location)
	ev.Offset = rec.Offset
	return w.event(ctx, s, &ev, err, rec.Line)
}

// advanceClock moves the stream's clock (and the newest record's time) to
// t, the log time of a record read, when it is later.
func (w *Watcher) advanceClock(s *stream, t time.Time, ok bool) {
	if ok && t.After(s.watermark) {
		s.watermark = t
		if t.After(w.newest) {
			w.newest = t
		}
	}
}

// event takes a record's parse (ev, err; ev.Offset set) and hands the event
// to attribution. line is the record's line number, for the log. ev is
// passed by pointer down to the Detector, which copies what it keeps: a
// copy at each step was a good part of the watcher's own work per event,
// and one escaped to the heap.
func (w *Watcher) event(ctx context.Context, s *stream, ev *parser.Event, err error, line int64) error {
	if err != nil {
		w.stats.ParseErrors++
		w.log.Warn("parse error", "source", s.path, "line", line, "err", err)
	}
	w.stats.Events[ev.Kind]++
	if ev.Kind == parser.KindOther {
		return nil
	}
	ev.Source, ev.SourceID = s.path, s.sourceID
	if ev.Kind == parser.KindProxy && ev.Time.After(s.watermark) {
		// A proxy's lines carry no log4j2 stamp for RecordTime; its token
		// records' times are its clock, which attribution waits on.
		s.watermark = ev.Time
	}
	if w.attr.PassClock(ev, w.attrClock) {
		// OpenUnison's logs alone, nothing waiting: attributed in place,
		// as Push and Release would, without their copies and queue walk.
		return w.admit(ctx, ev)
	}
	w.attr.Push(*ev, w.opt.now())
	return w.releaseAttributed(ctx)
}

// admit takes an event attribution gave back: it passes on, or a grace
// reuse is held while other sources may still bring the refresh before it.
func (w *Watcher) admit(ctx context.Context, ev *parser.Event) error {
	s := streamOfEvent(w.named, ev)
	w.stats.TokenAddrs.count(ev)
	if a := w.stats.TokenAddrs; !w.warned && a.BehindProxy() && a.Private >= proxyWarnAfter && !w.attr.Expecting() {
		w.warned = true
		w.log.Warn(a.ProxyDiagnosis())
	}
	return w.enqueue(ctx, s, ev)
}

// pass takes the next event in log order across sources (order.go) to the
// detector, or holds it (held.go): with a shared store a grace reuse waits
// for the other watchers' refreshes, and its user's later events behind it.
func (w *Watcher) pass(ctx context.Context, ev *parser.Event) error {
	if ev.Kind == parser.KindGraceReuse && w.opt.Shared {
		w.det.correlator.Pair(ev)
		return w.hold(ctx, *ev)
	}
	if t, ok := w.heldFrom[correlate.UserOf(ev)]; ok && !ev.Time.Before(t) {
		// A later event of a user whose reuse waits must not teach the
		// history first: a thief's own refresh a moment after the replay
		// would make the replaying address look known.
		return w.hold(ctx, *ev)
	}
	return w.det.Observe(ctx, ev)
}

// deliver sends an event's alerts that the delivery ledger has not seen
// (sent before a restart, or by another watcher): into the ledger as
// leaving, to the durable sinks' queues and to stdout, then into the
// ledger as printed (ledger.go says why in that order).
func (w *Watcher) deliver(ctx context.Context, group []alert.Alert) error {
	fresh := w.ledger.Fresh(ctx, group)
	if dup := len(group) - len(fresh); dup > 0 {
		w.stats.Duplicates += int64(dup)
		if m := w.opt.Metrics; m != nil {
			m.Duplicates.Add(float64(dup))
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	for _, a := range fresh {
		w.stats.Alerts++
		if m := w.opt.Metrics; m != nil {
			m.Alerts.WithLabelValues(a.Rule, a.Severity.String()).Inc()
		}
	}
	if w.opt.Respond != nil {
		fresh = w.opt.Respond(ctx, fresh)
	}
	w.noteSent(w.ledger.Leaving(fresh))
	w.handOut(ctx, fresh)
	return nil
}

// handOut gives a group the ledger wrote as leaving to the durable sinks'
// queues and to stdout, then records it as printed. The ledger's fsync
// waits for the end of the batch (endBatch): one for every group a
// backlog's batch raises, not one a group.
func (w *Watcher) handOut(ctx context.Context, group []alert.Alert) {
	var err error
	if w.opt.Enqueue != nil {
		err = w.opt.Enqueue(ctx, group)
	}
	err = errors.Join(err, w.opt.Deliver(ctx, group))
	// Recorded as printed even when stdout refused it: a closed pipe or
	// a full disk refuses it again at every restart. The failure is
	// counted and logged.
	w.noteSent(w.ledger.Record(group))
	if err != nil {
		w.stats.DeliveryErrors++
		if m := w.opt.Metrics; m != nil {
			m.SinkFailures.WithLabelValues(w.sinkName()).Inc()
		}
		w.log.Error("alert delivery failed", "sink", w.sinkName(), "err", err)
		w.ledger.Release(ctx, group)
		return
	}
	if m := w.opt.Metrics; m != nil {
		m.SinkDeliveries.WithLabelValues(w.sinkName()).Inc()
	}
}

// sinkName labels the delivery metrics.
func (w *Watcher) sinkName() string {
	if w.opt.SinkName == nil {
		return "stdout"
	}
	return w.opt.SinkName()
}

// handOutUnfinished hands out again the groups an earlier run wrote to the
// ledger as leaving and was killed before it recorded them as printed:
// the durable sinks drop what their journal holds, stdout prints them (a
// second time if the kill came after its write: at least once).
func (w *Watcher) handOutUnfinished(ctx context.Context) {
	groups := w.ledger.Unfinished()
	if len(groups) == 0 {
		return
	}
	w.log.Info("handing out again the alerts a stop left between the ledger and the sinks", "groups", len(groups))
	for _, g := range groups {
		w.handOut(ctx, g)
	}
	w.syncSent()
}
