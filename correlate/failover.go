package correlate

import (
	"context"
	"log/slog"
	"math/rand/v2"
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
// What the local store learns while Redis is down is not written back: the
// other replicas never see those refreshes. That is the price of not
// blocking detection on a dependency; the readiness probe makes it visible.
type Failover struct {
	shared *Redis
	local  *Memory
	log    *slog.Logger

	up      atomic.Bool
	errors  atomic.Int64
	probing atomic.Bool
	stop    chan struct{}
	stopped sync.WaitGroup

	mu   sync.Mutex
	wait time.Duration // the next probe's backoff, kept across outages
	upAt time.Time     // when the shared store last came back
}

// Backoff bounds for reconnecting.
const (
	probeMin     = 100 * time.Millisecond
	probeMax     = 30 * time.Second
	probeTimeout = 2 * time.Second
)

// NewFailover puts shared in front of local. It checks shared once; if that
// fails it starts degraded and keeps trying in the background.
func NewFailover(ctx context.Context, shared *Redis, local *Memory, log *slog.Logger) *Failover {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Failover{shared: shared, local: local, log: log, stop: make(chan struct{}), wait: probeMin}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if err := shared.Check(pctx); err != nil {
		f.errors.Add(1)
		f.log.Error("shared state unreachable; analysing with local state until it answers", "err", err)
		f.startProbe()
	} else {
		f.upAt = time.Now()
		f.up.Store(true)
	}
	return f
}

// Apply implements Store.
func (f *Failover) Apply(ctx context.Context, obs Observation) (Facts, error) {
	local, _ := f.local.Apply(ctx, obs)
	if !f.up.Load() {
		return local, nil
	}
	facts, err := f.shared.Apply(ctx, obs)
	if err != nil {
		f.fail(err)
		return local, nil
	}
	return facts, nil
}

// Flush sends what the shared store batched.
func (f *Failover) Flush(ctx context.Context) error {
	if f.up.Load() {
		if err := f.shared.Flush(ctx); err != nil {
			f.fail(err)
		}
	}
	return nil
}

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
	if f.up.CompareAndSwap(true, false) {
		f.mu.Lock()
		if time.Since(f.upAt) >= stableFor {
			f.wait = probeMin
		}
		f.mu.Unlock()
		f.log.Error("shared state failed; analysing with local state until it answers", "err", err)
		f.startProbe()
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
		f.wait = min(wait*2, probeMax)
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
			f.upAt = time.Now()
			f.mu.Unlock()
			// Not probing any more before up: a failure right after must
			// start a new probe.
			f.probing.Store(false)
			f.up.Store(true)
			f.log.Info("shared state answers again; using it")
			return
		}
		f.errors.Add(1)
	}
}
