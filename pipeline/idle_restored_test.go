package pipeline

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// watchingStore is a memory store that tells which users it learned a
// refresh of.
type watchingStore struct {
	*correlate.Memory
	mu      sync.Mutex
	learned map[string]bool
}

func (s *watchingStore) Apply(ctx context.Context, obs correlate.Observation) (correlate.Facts, error) {
	s.mu.Lock()
	if obs.Action == correlate.Refresh {
		s.learned[obs.User.DN] = true
	}
	s.mu.Unlock()
	return s.Memory.Apply(ctx, obs)
}

func (s *watchingStore) has(dn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.learned[dn]
}

// A checkpoint kept a refresh waiting for its twin in a generation deleted
// while watch was down (restoredWait). Once restoredWait has passed, the
// refresh must be committed to the store even though the files went quiet:
// an idle watcher whose tick stopped (idle.go) never looks again, and a
// shared store (the other replicas' watchers) never learns the refresh
// until some unrelated line arrives.
func TestIdleWatcherCommitsRestoredRefreshAfterRestoredWait(t *testing.T) {
	t.Parallel()
	old, cur := source.FileID{Dev: 1, Ino: 7, Fingerprint: "f"}, source.FileID{Dev: 1, Ino: 9, Fingerprint: "n"}
	copyDir, _ := killAtReuseLine(t, old, discardAlerts)

	// The restart: the old generation is gone (deleted while down); only
	// the file now at the path is read, and then it goes quiet.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	store := &watchingStore{Memory: correlate.NewMemory(correlate.Limits{}), learned: map[string]bool{}}
	idle := make(chan bool, 4)
	handled := make(chan struct{}, 2)
	w2, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Store: store, now: now, Deliver: discardAlerts,
		Idle: func(b bool) { idle <- b }, handled: func(source.Batch) { handled <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of the new file is an event yet (a quiet IdP just rotated).
	later := "[2026-11-23 10:00:30,000][main] INFO  Startup - nothing to see\n"
	in2 := make(chan source.Batch, 8)
	in2 <- source.Batch{Key: "n", Path: "app.log", ID: cur, Data: []byte(later)}
	in2 <- source.Batch{Key: "n", Path: "app.log", ID: cur, Offset: int64(len(later)), Idle: true}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- w2.Run(ctx2, in2) }()
	defer func() { cancel2(); <-done2 }()
	// The file quiet for idleRelease, by the clock moved rather than
	// waited out (2 s of this test's 3), once both batches are handled:
	// the watcher stamps a batch with its clock when it handles it, and a
	// move before that would not count.
	for range 2 {
		select {
		case <-handled:
		case <-time.After(testsync.Patience):
			t.Fatal("the watcher did not handle a batch")
		}
	}
	skew.Store(int64(idleRelease))
	if !<-idle {
		t.Fatal("the watcher said busy first")
	}
	if store.has("uid=r2,ou=shadow,o=Tremolo") {
		t.Skip("the restored refresh was committed before restoredWait: nothing to test")
	}
	skew.Store(int64(restoredWait + time.Second)) // restoredWait passes
	deadline := time.Now().Add(3 * time.Second)   // three idle ticks and more
	for !store.has("uid=r2,ou=shadow,o=Tremolo") {
		if time.Now().After(deadline) {
			t.Fatalf("restoredWait passed while idle and the restored refresh was never committed: nothing wakes the idle watcher")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func discardAlerts(context.Context, []alert.Alert) error { return nil }

// A kill -9 came while the file's last refresh waited for a possible twin:
// the checkpoint stands at the end of the file with the refresh kept
// waiting. The restart reads nothing new, and the refresh must still be
// committed once the file has been quiet for twinWait, not wait for the
// next line (it did: with nothing read, the watcher never ticked its
// correlator, and the line's alert was lost until the IdP logged again).
func TestRestartCommitsTheRefreshAKillLeftWaitingAtTheEnd(t *testing.T) {
	t.Parallel()
	id := source.FileID{Dev: 1, Ino: 5, Fingerprint: "e"}
	line := "[2026-11-23 10:00:00,049][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=u49,ou=shadow,o=Tremolo - NONE [198.51.100.49] - [s49]\n"
	dir := t.TempDir()
	state, copyDir := filepath.Join(dir, "state"), filepath.Join(dir, "copy")
	// The first run's clock crawls, so the kill lands well inside
	// twinWait however slow the machine: 1 ms of it is 100 ms of ours.
	start := time.Now()
	crawl := func() time.Time { return start.Add(time.Since(start) / 100) }
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state, CheckpointEvery: time.Millisecond, Deliver: discardAlerts, now: crawl})
	if err != nil {
		t.Fatal(err)
	}
	stop := runFed(w,
		source.Batch{Key: "k", Path: "app.log", ID: id, Data: []byte(line)},
		source.Batch{Key: "k", Path: "app.log", ID: id, Offset: int64(len(line)), Idle: true})
	copyStateAtCheckpoint(t, state, copyDir, int64(len(line)), "a checkpoint at the end of the file")
	stop()

	store := &watchingStore{Memory: correlate.NewMemory(correlate.Limits{}), learned: map[string]bool{}}
	w2, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Store: store, Deliver: discardAlerts})
	if err != nil {
		t.Fatal(err)
	}
	defer runFed(w2, source.Batch{Key: "k", Path: "app.log", ID: id, Offset: int64(len(line)), Idle: true})()
	testsync.WaitFor(t, "the refresh the checkpoint kept waiting committed after the file stayed quiet", func() bool {
		return store.has("uid=u49,ou=shadow,o=Tremolo")
	})
}

// runFed runs w over batches (and then nothing more) until the returned
// stop is called, which waits for Run to return.
func runFed(w *Watcher, batches ...source.Batch) (stop func()) {
	in := make(chan source.Batch, len(batches))
	for _, b := range batches {
		in <- b
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, in) }()
	return func() { cancel(); <-done }
}
