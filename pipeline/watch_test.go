package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

const (
	tokenURL = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	userDN   = "uid=kwatson,ou=shadow,o=Tremolo"
)

func refreshLine(at, ip, sid string) string {
	return fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [%s] - [%s]\n", at, tokenURL, userDN, ip, sid)
}

func reuseLines(at, ip, sid string) string {
	return refreshLine(at, ip, sid) +
		fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [%s] - [%s]\n", at, tokenURL, userDN, ip, sid)
}

type watchHarness struct {
	w       *Watcher
	batches chan source.Batch
	mu      sync.Mutex
	alerts  []alert.Alert
	done    chan error
	offsets map[string]int64
}

func newWatchHarness(t *testing.T, settle time.Duration) *watchHarness {
	return newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Settle: settle})
}

// newWatchHarnessWith runs a watcher with opt, collecting its alerts.
func newWatchHarnessWith(t *testing.T, opt WatchOptions) *watchHarness {
	t.Helper()
	h := &watchHarness{batches: make(chan source.Batch), done: make(chan error, 1), offsets: map[string]int64{}}
	opt.Deliver = func(_ context.Context, g []alert.Alert) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.alerts = append(h.alerts, g...)
		return nil
	}
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	go func() { h.done <- w.Run(context.Background(), h.batches) }()
	return h
}

// waitFor waits up to 3 s for n alerts of rule.
func (h *watchHarness) waitFor(rule string, n int) {
	for deadline := time.Now().Add(3 * time.Second); h.count(rule) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *watchHarness) send(key, data string) {
	h.batches <- source.Batch{Key: key, Path: key, Data: []byte(data), Offset: h.offsets[key]}
	h.offsets[key] += int64(len(data))
}

func (h *watchHarness) idle(key string) {
	h.batches <- source.Batch{Key: key, Path: key, Offset: h.offsets[key], Idle: true}
}

func (h *watchHarness) count(rule string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.alerts {
		if a.Rule == rule {
			n++
		}
	}
	return n
}

// A replay seen on pod-b before pod-a's log brings the refresh it follows:
// the reuse waits for pod-a, then is judged against that refresh.
func TestWatchHoldsReuseForOtherReplica(t *testing.T) {
	t.Parallel()
	h := newWatchHarness(t, 5*time.Second)
	h.send("pod-a", refreshLine("10:00:00,000", "203.0.113.1", "fa")) // pod-a is busy, at 10:00:00
	h.send("pod-b", reuseLines("10:00:01,500", "192.0.2.99", "fb"))   // the replay, ahead of pod-a
	h.idle("pod-b")
	time.Sleep(100 * time.Millisecond)
	if n := h.count("reuse-ip-mismatch"); n != 0 {
		t.Fatalf("the reuse was judged before pod-a caught up (%d alerts)", n)
	}
	h.send("pod-a", refreshLine("10:00:01,000", "198.51.100.40", "fc")) // the refresh that rotated the token
	h.idle("pod-a")
	h.waitFor("reuse-ip-mismatch", 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.alerts) == 0 || h.alerts[0].PrevIP != "198.51.100.40" {
		t.Fatalf("alerts %+v: want the reuse judged against pod-a's refresh from 198.51.100.40", h.alerts)
	}
}

// With pod-a busy and never reaching the reuse's time, the settle time ends
// the wait.
func TestWatchSettleEndsTheWait(t *testing.T) {
	t.Parallel()
	h := newWatchHarness(t, 200*time.Millisecond)
	// pod-a's refresh is followed by another line, so it is a record, but
	// pod-a stays busy and short of the reuse's time.
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa")+refreshLine("10:00:00,100", "203.0.113.1", "fz"))
	h.send("pod-b", reuseLines("10:00:01,500", "192.0.2.99", "fb"))
	h.idle("pod-b") // hands out the last line; pod-a stays busy
	start := time.Now()
	deadline := start.Add(3 * time.Second)
	for h.count("reuse-ip-mismatch") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.count("reuse-ip-mismatch") != 1 {
		t.Fatal("the held reuse was never judged")
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("judged after %s, before the settle time", waited)
	}
}

// One source: nothing waits.
func TestWatchOneSourceDoesNotWait(t *testing.T) {
	t.Parallel()
	h := newWatchHarness(t, time.Hour)
	h.send("only", refreshLine("10:00:00,000", "198.51.100.40", "fa")+reuseLines("10:00:01,500", "192.0.2.99", "fb"))
	h.idle("only")
	h.waitFor("reuse-ip-mismatch", 1)
	if h.count("reuse-ip-mismatch") != 1 {
		t.Fatal("with one source the reuse must not wait for the settle time")
	}
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

// A refresh waits for its source's own log to move on, not another's: when
// pod-b is read ahead of pod-a, the AzSuccess written for a replay on pod-a
// must still pair with the ExpiredRefreshTokenUsed line that follows it,
// not be learned as the user's refresh because pod-b's clock passed it.
func TestWatchPairsByTheSourcesOwnClock(t *testing.T) {
	t.Parallel()
	h := newWatchHarness(t, time.Hour)
	other := func(at, thread string) string {
		return fmt.Sprintf("[2026-11-23 %s][XNIO-1 %s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - uid=someone,o=Tremolo - NONE [203.0.113.5] - [f%s]\n", at, thread, tokenURL, thread)
	}
	replay := reuseLines("10:00:05,000", "192.0.2.99", "fb")
	twin, reuse, _ := strings.Cut(replay, "\n")
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa"))
	// The twin, then another thread's line, so the twin is a whole record.
	h.send("pod-a", twin+"\n"+other("10:00:05,001", "task-9"))
	// pod-b, read ahead of pod-a by half a minute, then idle.
	h.send("pod-b", other("10:00:35,000", "task-3")+other("10:00:35,001", "task-4"))
	h.idle("pod-b")
	h.send("pod-a", reuse)
	h.idle("pod-a")
	h.waitFor("reuse-ip-mismatch", 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.alerts) == 0 || h.alerts[0].Rule != "reuse-ip-mismatch" || h.alerts[0].PrevIP != "198.51.100.40" {
		t.Fatalf("alerts %+v: want the replay judged against the refresh from 198.51.100.40, its twin not learned", h.alerts)
	}
}

// A source that is gone leaves no series behind: pods come and go with new
// names, and /metrics must not grow with every pod ever seen.
func TestWatchForgetsMetricsOfEndedSources(t *testing.T) {
	t.Parallel()
	reg := prom.NewRegistry()
	metrics := NewMetrics(reg, nil)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Metrics: metrics, Deliver: func(context.Context, []alert.Alert) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	line := refreshLine("10:00:00,000", "198.51.100.40", "fa")
	batches <- source.Batch{Key: "gone#1", Path: "openunison/orchestra-1/orchestra", Data: []byte(line)}
	batches <- source.Batch{Key: "stays#1", Path: "openunison/orchestra-2/orchestra", Data: []byte(line)}
	batches <- source.Batch{Key: "gone#1", Path: "openunison/orchestra-1/orchestra", Offset: int64(len(line)), Ended: true}
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var exposed strings.Builder
	if err := reg.Write(&exposed); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(exposed.String(), "\ngraceguard_lines_read_total{"); n != 1 {
		t.Errorf("%d lines-read series, want 1 (the pod that stays)", n)
	}
	if v := metrics.Lines.WithLabelValues("openunison/orchestra-2/orchestra").Value(); v != 1 {
		t.Errorf("the remaining pod's count is %v, want 1", v)
	}
}

// An idle watch writes no checkpoint: nothing in it changed, and encoding
// the whole history every few seconds would only churn the heap and disk.
// New lines are checkpointed again.
func TestWatchCheckpointsOnlyChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The test tells checkpoints apart by the time each says it was
	// written, not by the file's identity: each replaces the last by a
	// rename, and the file system gives the new one the inode the
	// previous-but-one freed (keepPrevious), so a checkpoint missed while
	// the test was not scheduled made the next look like no change.
	var (
		ticks       atomic.Int64
		idle        atomic.Bool
		idleHandled atomic.Int64
		handledAt   atomic.Int64 // when the last idle batch was handled, in ns
	)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir, CheckpointEvery: 10 * time.Millisecond,
		Deliver: func(context.Context, []alert.Alert) error { return nil },
		Idle:    func(i bool) { idle.Store(i) },
		ticked:  func() { ticks.Add(1) },
		handled: func(b source.Batch) {
			if b.Idle {
				handledAt.Store(time.Now().UnixNano())
				idleHandled.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	path := filepath.Join(dir, checkpointFile)
	var off int64
	// send hands over lines and the idle batch after them, and returns
	// once the watcher has handled both: it may hold them in its
	// lookahead's queue after taking them.
	send := func(data string) time.Time {
		n := idleHandled.Load()
		batches <- source.Batch{Key: "f", Path: "f", ID: source.FileID{Dev: 1, Ino: 2}, Data: []byte(data), Offset: off}
		off += int64(len(data))
		batches <- source.Batch{Key: "f", Path: "f", ID: source.FileID{Dev: 1, Ino: 2}, Offset: off, Idle: true}
		testsync.WaitFor(t, "the lines and the idle batch handled", func() bool { return idleHandled.Load() > n })
		return time.Unix(0, handledAt.Load())
	}
	// newest is when the checkpoint on disk was written (zero: none yet).
	newest := func() time.Time {
		l, err := readCheckpoint(path)
		if errors.Is(err, fs.ErrNotExist) {
			return time.Time{}
		}
		if err != nil {
			t.Fatal(err)
		}
		return l.cp.Written
	}
	// checkpointAfter waits for a checkpoint written after the batches
	// handled at handled, and returns when it was written.
	checkpointAfter := func(handled time.Time, what string) time.Time {
		var at time.Time
		testsync.WaitFor(t, what, func() bool { at = newest(); return at.After(handled) })
		return at
	}
	// Each refresh is followed by a later line, which settles it at once:
	// a file's last refresh would wait for its twin (twinWait) and commit
	// after the watch has gone quiet, rewriting the checkpoint then.
	later := func(at string) string { return "[2026-11-23 " + at + "][main] INFO  Startup - a later line\n" }
	cp := checkpointAfter(send(refreshLine("10:00:00,000", "198.51.100.40", "fa")+later("10:00:03,000")), "a checkpoint after new lines")
	// Quiet for five ticks, each of which could write one; a watch that
	// has gone idle meanwhile stopped ticking, and says so.
	from := ticks.Load()
	testsync.WaitFor(t, "five ticks", func() bool { return ticks.Load() >= from+5 || idle.Load() })
	if at := newest(); !at.Equal(cp) {
		t.Fatalf("an idle watch rewrote its checkpoint (written %v, then %v)", cp, at)
	}
	checkpointAfter(send(refreshLine("10:00:05,000", "198.51.100.40", "fb")+later("10:00:08,000")), "a checkpoint after more lines")
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The watcher reports itself idle once the files have been quiet for
// idleRelease, busy again as soon as data comes, and busy when it stops
// idle: the command's hook (GOGC, returning memory) relies on the pairs.
func TestWatchIdleHook(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	calls := make(chan bool, 16)
	idleHandled := make(chan struct{}, 16)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Idle: func(idle bool) { calls <- idle },
		Deliver: func(context.Context, []alert.Alert) error { return nil },
		now:     func() time.Time { return time.Unix(0, clock.Load()) },
		handled: func(b source.Batch) {
			if b.Idle {
				idleHandled <- struct{}{}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	var off int64
	send := func(data string) {
		batches <- source.Batch{Key: "f", Path: "f", Data: []byte(data), Offset: off}
		off += int64(len(data))
		// The clock moves only once both were handled (at the clock's
		// time): taken, a batch may still wait in the lookahead's queue.
		batches <- source.Batch{Key: "f", Path: "f", Offset: off, Idle: true}
		select {
		case <-idleHandled:
		case <-time.After(5 * time.Second):
			t.Fatal("the idle batch was never handled")
		}
	}
	next := func(want bool, what string) {
		t.Helper()
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("%s: Idle(%v), want Idle(%v)", what, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no Idle(%v) call", what, want)
		}
	}
	send(refreshLine("10:00:00,000", "198.51.100.40", "fa"))
	clock.Add(int64(idleRelease + time.Second))
	next(true, "idle")
	send(refreshLine("10:00:05,000", "198.51.100.40", "fb"))
	next(false, "data again")
	clock.Add(int64(idleRelease + time.Second))
	next(true, "idle again")
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next(false, "stopped idle")
	if n := len(calls); n != 0 {
		t.Errorf("%d more Idle calls after the watcher stopped, want none", n)
	}
}

// With a shared store every reuse waits; a later event of the same user
// (the thief refreshing with the replayed token a moment later) must wait
// behind it, or the replaying address looks known when the reuse is judged.
func TestWatchHoldsAUsersLaterEventsBehindItsReuse(t *testing.T) {
	t.Parallel()
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Settle: 200 * time.Millisecond, Shared: true})
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa")+
		reuseLines("10:00:01,000", "192.0.2.99", "fb")+
		refreshLine("10:00:02,000", "192.0.2.99", "fc")) // the thief's own refresh
	h.idle("pod-a")
	h.waitFor("reuse-new-ip", 1)
	if h.count("reuse-new-ip") != 1 || h.count("reuse-ip-mismatch") != 1 {
		t.Fatalf("reuse-new-ip %d, reuse-ip-mismatch %d; want one each", h.count("reuse-new-ip"), h.count("reuse-ip-mismatch"))
	}
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}
