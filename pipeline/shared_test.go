package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// newSharedHarness runs a watcher on a store shared through the Redis at
// url, fed batches by hand.
func newSharedHarness(t *testing.T, url, owner string, settle time.Duration) *watchHarness {
	t.Helper()
	h, _ := newSharedHarnessStore(t, url, owner, settle)
	return h
}

// newSharedHarnessStore is newSharedHarness, with the watcher's store.
func newSharedHarnessStore(t *testing.T, url, owner string, settle time.Duration) (*watchHarness, *correlate.Failover) {
	t.Helper()
	return newSharedHarnessWith(t, url, owner, WatchOptions{Settle: settle})
}

// newSharedHarnessWith is newSharedHarnessStore with the watcher's options
// (its rules, store and claims set here).
func newSharedHarnessWith(t *testing.T, url, owner string, wopt WatchOptions) (*watchHarness, *correlate.Failover) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	store := correlate.NewFailover(context.Background(), correlate.NewRedis(redis.NewClient(opt), correlate.RedisOptions{Owner: owner}), correlate.NewMemory(correlate.Limits{}), nil)
	wopt.Rules, wopt.Store, wopt.Shared, wopt.Claims = rules.Builtin(), store, true, store
	h := newWatchHarnessWith(t, wopt)
	t.Cleanup(func() {
		close(h.batches)
		<-h.done
		store.Close()
	})
	return h, store
}

// A refresh on a busy replica must reach the shared store before the other
// replica's watcher judges the replay of its token: the refresh's log keeps
// moving (other requests), so it is committed by its own log's clock, well
// inside the settle time.
//
// The two watchers share a clock that only the test moves (handClock), and
// pod-a's log time moves with it: by the wall clock, a machine that did
// not run this process for a second (both watchers, and the writer of
// pod-a's log) let pod-b's settle time pass with pod-a's log standing
// still, which says nothing of pod-a's watcher (20 of 20 runs failed with
// the process stopped 1.1 s every 0.3 s).
func TestSharedRefreshOnABusyReplicaArrivesInTime(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clockA := newHandClock()
	clockB := clockA.another()
	const settle = time.Second
	a, _ := newSharedHarnessWith(t, srv.URL(0), "a", WatchOptions{Settle: settle, now: clockA.now, ticked: clockA.ticked})
	b, _ := newSharedHarnessWith(t, srv.URL(0), "b", WatchOptions{Settle: settle, now: clockB.now, ticked: clockB.ticked})
	a.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa"))
	b.send("pod-b", reuseLines("10:00:00,010", "192.0.2.99", "fb"))
	b.idle("pod-b")
	const step = 100 * time.Millisecond
	// Until pod-b's settle time has passed, and a step more: pod-b's
	// watcher goes idle (and stops ticking) idleRelease after its data.
	for i := 1; time.Duration(i)*step <= settle+2*step && b.count("reuse-ip-mismatch") == 0; i++ {
		// pod-a stays busy with other requests, its log time moving with
		// the clock; each watcher ticks after each step.
		clockA.pass(t, step)
		clockB.awaitTicks(t)
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * step)
		a.send("pod-a", fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - %s - uid=other%d,o=Tremolo - NONE [203.0.113.5] - [f%040d]\n",
			at.Format("15:04:05,000"), 10+i%8, tokenURL, i, i))
	}
	if b.count("reuse-ip-mismatch") != 1 {
		b.mu.Lock()
		defer b.mu.Unlock()
		t.Fatalf("alerts %+v: want the replay judged against the refresh pod-a logged", b.alerts)
	}
}

// A refresh pod-a's watcher learned while Redis was down reaches Redis when
// it is back, before pod-b's watcher judges the replay of that refresh's
// token against Redis (which restarted empty).
func TestSharedRefreshLearnedWhileRedisWasDownIsWrittenBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, storeA := newSharedHarnessStore(t, srv.URL(0), "a", time.Second)
	b := newSharedHarness(t, srv.URL(0), "b", time.Second)
	srv.Stop()
	a.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa"))
	a.idle("pod-a")
	testsync.WaitFor(t, "pod-a's watcher to find Redis down", func() bool { return !storeA.Up() })
	srv.Restart()
	testsync.WaitFor(t, "pod-a's watcher to write back", func() bool { return storeA.Up() && storeA.WriteBackPending() == 0 })
	b.send("pod-b", reuseLines("10:00:00,900", "192.0.2.99", "fb"))
	b.idle("pod-b")
	testsync.WaitFor(t, "the replay's alert", func() bool { return b.count("reuse-ip-mismatch") == 1 })
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.alerts[0].PrevIP != "198.51.100.40" {
		t.Fatalf("alerts %+v: want the replay judged against the refresh pod-a learned while Redis was down", b.alerts)
	}
}

// The thief's next refresh, logged on pod-a after the replay pod-b logged,
// reaches the shared store while pod-b's watcher holds the replay for the
// settle time: the replay is still judged against the history as it stood
// then, in which the thief's address was never seen.
//
// pod-b's watcher runs on a clock the test moves (handClock): its settle
// time passes once pod-a's refresh is in the store, however long that
// took on a loaded machine, and then at once, not 3 s of wall time later.
func TestSharedThiefsNextRefreshDoesNotHideTheNewAddress(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := newSharedHarness(t, srv.URL(0), "a", time.Second)
	const settleB = 3 * time.Second
	clockB, handledB := newHandClock(), make(chan struct{}, 1)
	hb, _ := newSharedHarnessWith(t, srv.URL(0), "b", WatchOptions{Settle: settleB, now: clockB.now, ticked: clockB.ticked,
		handled: func(source.Batch) { handledB <- struct{}{} }})
	b := &skewedHarness{watchHarness: hb, handClock: clockB, t: t, handled: handledB}
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	a.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa"))
	b.send("pod-b", reuseLines("10:00:00,010", "192.0.2.99", "fb"))
	b.idle("pod-b")
	a.send("pod-a", refreshLine("10:00:00,500", "192.0.2.99", "fc"))
	a.idle("pod-a")
	testsync.WaitFor(t, "pod-a's watcher to write the thief's refresh", func() bool {
		keys, _ := client.Keys(context.Background(), "graceguard:h2:u:*:i").Result()
		for _, k := range keys {
			if client.ZScore(context.Background(), k, "192.0.2.99").Err() == nil {
				return true
			}
		}
		return false
	})
	if b.count("reuse-ip-mismatch") != 0 {
		t.Fatal("the replay was judged before the thief's refresh reached the store: nothing tested")
	}
	// Past the settle time, which is past idleRelease too: the tick that
	// lets the replay go may be b's last (an idle watcher's tick stops),
	// so the alert is awaited, not three ticks.
	clockB.skew.Add(int64(settleB + 100*time.Millisecond))
	testsync.WaitFor(t, "the replay's alerts", func() bool { return b.count("reuse-ip-mismatch") == 1 })
	if n := b.count("reuse-new-ip"); n != 1 {
		b.mu.Lock()
		defer b.mu.Unlock()
		t.Fatalf("%d reuse-new-ip alerts (all: %+v), want the replay's address new to the user", n, b.alerts)
	}
}
