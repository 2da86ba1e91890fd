package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// The last refresh of a file waits for its grace-reuse twin until the file
// has been quiet for twinWait. A watcher that reports itself idle
// sooner than that after the file went quiet (its last batch took longer
// than idleRelease to judge, or the file's idle batch came late) must
// still tick once twinWait has passed: nothing else commits the refresh
// before the next line of any file, which may be hours away, and the
// alerts it raises and the replicas sharing a store wait for it.
func TestIdleWatcherCommitsTheLastRefreshAfterQuietCommit(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	store := &watchingStore{Memory: correlate.NewMemory(correlate.Limits{}), learned: map[string]bool{}}
	idle := make(chan bool, 4)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Store: store, now: now, Deliver: discardAlerts,
		Idle: func(b bool) { idle <- b }})
	if err != nil {
		t.Fatal(err)
	}
	first, last, data := twoRefreshes()
	in := runWatcher(t, w)
	in <- source.Batch{Key: "a", Path: "app.log", Data: []byte(data)}
	testsync.WaitFor(t, "the batch judged", func() bool { return store.has(first) })
	skew.Store(int64(5 * time.Second)) // judging it took longer than idleRelease
	in <- source.Batch{Key: "a", Path: "app.log", Offset: int64(len(data)), Idle: true}
	if !<-idle {
		t.Fatal("the watcher said busy first")
	}
	if store.has(last) {
		t.Skip("the last refresh was committed before the watcher went idle: nothing to test")
	}
	deadline := time.Now().Add(5 * time.Second) // twinWait (1 s), an idle tick (1 s) and more
	for !store.has(last) {
		if time.Now().After(deadline) {
			t.Fatal("the file went quiet and the last refresh was never committed: the idle watcher stopped ticking before twinWait passed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The tick that reports the watcher idle looked at the last refresh just
// before the file had been quiet for twinWait, and the rest of that tick
// (a checkpoint, on a loaded machine) took it past: the tick must not stop
// on the strength of the later time, which says the refresh was committed
// when the look that would have committed it came before. It stopped, and
// the file's last alert waited for the next line of any file: a kill -9
// mid-backlog, then the restart's last line, under load (catchup_kill_test.go
// in cmd/graceguard, 2 runs of 3 at load 20).
func TestIdleWatcherCommitsTheLastRefreshWhenTwinWaitEndsMidTick(t *testing.T) {
	t.Parallel()
	base := time.Now()
	var skew atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(skew.Load())) }
	store := &watchingStore{Memory: correlate.NewMemory(correlate.Limits{}), learned: map[string]bool{}}
	handled := make(chan source.Batch, 4)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Store: store, now: now, Deliver: discardAlerts,
		handled: func(b source.Batch) { handled <- b },
		Idle: func(idle bool) {
			if idle {
				// The rest of the tick that went idle outlasts twinWait.
				skew.Add(int64(lateTwinWait))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, last, data := twoRefreshes()
	in := runWatcher(t, w)
	in <- source.Batch{Key: "a", Path: "app.log", Data: []byte(data)}
	<-handled
	// The file's idle batch comes as judging the last data ends, longer
	// than twinWait after it began (busyAt) and less than idleRelease.
	skew.Store(int64(idleRelease - lateTwinWait/2))
	in <- source.Batch{Key: "a", Path: "app.log", Offset: int64(len(data)), Idle: true}
	<-handled
	if store.has(last) {
		t.Fatal("the last refresh was committed as soon as its file went quiet: it must wait twinWait for its twin")
	}
	// The next tick finds the files quiet for idleRelease and the refresh
	// waiting twinWait/2 more.
	skew.Store(int64(idleRelease))
	deadline := time.Now().Add(5 * time.Second) // ticks (50 ms), an idle tick (1 s) and more
	for !store.has(last) {
		if time.Now().After(deadline) {
			t.Fatal("the last refresh was never committed: the tick that went idle looked before twinWait had passed, and the watcher stopped ticking by a later clock")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoRefreshes is a log of two refreshes on one thread and a line after
// them: the second commits the first (that request is over), which says
// the batch was judged; the second, last, waits for its twin.
func twoRefreshes() (first, last, data string) {
	line := func(at, dn, sid string) string {
		return fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-9] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.40] - [%s]\n", at, tokenURL, dn, sid)
	}
	first, last = "uid=first,ou=shadow,o=Tremolo", "uid=last,ou=shadow,o=Tremolo"
	data = line("10:00:00,000", first, "fa") + line("10:00:01,000", last, "fb") +
		"[2026-11-23 10:00:01,500][main] INFO  Startup - nothing to see\n"
	return first, last, data
}

// runWatcher runs w until the test ends, on the batches sent to in.
func runWatcher(t *testing.T, w *Watcher) (in chan<- source.Batch) {
	t.Helper()
	batches := make(chan source.Batch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, batches) }()
	t.Cleanup(func() { cancel(); <-done })
	return batches
}
