package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// backlog writes n replicas' logs, already full, into dir.
func backlog(t *testing.T, dir string, n int, cfg loggen.Config) ([]string, loggen.Stats) {
	t.Helper()
	var paths []string
	var files []*os.File
	var ws []io.Writer
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("openunison-%d.log", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		paths, files, ws = append(paths, p), append(files, f), append(ws, f)
	}
	writers := ws
	truth, err := loggen.WriteReplicas(writers, cfg)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return paths, truth
}

// alertKey names an alert by what it says, not by where it was read: scan
// and watch name sources differently in alert ids.
func alertKey(a alert.Alert) string {
	return fmt.Sprintf("%s %s %s prev=%s %s", a.Rule, a.User, a.IP, a.PrevIP, a.Time.UTC().Format(time.RFC3339Nano))
}

func scanFiles(t *testing.T, paths []string) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		out []string
	)
	var inputs []Input
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		inputs = append(inputs, Input{Name: p, R: f})
	}
	_, err := Scan(context.Background(), inputs, ScanOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range g {
			out = append(out, alertKey(a))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// watchFiles runs a real follower and a Watcher over paths until every
// record was read, and returns the alerts sent.
func watchFiles(t *testing.T, paths []string, records int64, opt WatchOptions) []string {
	t.Helper()
	return watchFilesUntil(t, paths, records, opt, nil)
}

// watchFilesUntil is watchFiles that stops, once every record was read,
// only when settled says so too (nil: at once): what waits on the wall
// clock is then judged by the running watcher, not by the end's flush.
func watchFilesUntil(t *testing.T, paths []string, records int64, opt WatchOptions, settled func(*Metrics) bool) []string {
	t.Helper()
	opt.Rules = rules.Builtin()
	opt.Metrics = NewMetrics(prom.NewRegistry(), nil)
	alerts := collectAlertKeys(&opt)
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if w.parsedAhead == 0 && records > 10_000 {
			t.Errorf("no batch of a %d-record backlog was parsed ahead", records)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	batches := follow(ctx, source.Options{Patterns: paths, Poll: 20 * time.Millisecond, Positions: w.Positions()}, 64)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.WithoutCancel(ctx), batches) }()
	// Patience while the records keep coming, not for the whole backlog:
	// 8 MB through Redis under -race on two busy cores took longer than
	// testsync.Patience to read without anything being wrong.
	waitWhileReading(t, "every record read", func() (string, bool) {
		n := opt.Metrics.Records.Value()
		return strconv.FormatFloat(n, 'f', -1, 64), n >= float64(records)
	})
	if settled != nil {
		testsync.WaitFor(t, "the watcher settled", func() bool { return settled(opt.Metrics) })
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return alerts()
}

// collectAlertKeys sets opt's Deliver to keep the alerts' keys (alertKey)
// and returns them, sorted, when called.
func collectAlertKeys(opt *WatchOptions) func() []string {
	var (
		mu  sync.Mutex
		out []string
	)
	opt.Deliver = func(_ context.Context, g []alert.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range g {
			out = append(out, alertKey(a))
		}
		return nil
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(out)
		return slices.Clone(out)
	}
}

// follow runs a real follower with opt until ctx ends, and returns its
// batches, queue at most waiting; the channel closes when it stops.
func follow(ctx context.Context, opt source.Options, queue int) chan source.Batch {
	batches := make(chan source.Batch, queue)
	f := source.New(opt, batches)
	go func() {
		f.Run(ctx)
		close(batches)
	}()
	return batches
}

// diff says what one sorted list has that the other has not.
func diff(want, got []string) (missing, extra []string) {
	for _, s := range want {
		if !slices.Contains(got, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			extra = append(extra, s)
		}
	}
	return missing, extra
}

// Replicas whose logs already hold a backlog (a restart, a central watcher
// started late) are judged in log-time order across files: watch finds
// what scan finds in the same files.
func TestWatchCatchingUpOnReplicasAgreesWithScan(t *testing.T) {
	t.Parallel()
	paths, truth := backlog(t, t.TempDir(), 2, loggen.Config{Size: 8 << 20, Seed: 11, ReplayShare: 0.05, Users: 50})
	want := scanFiles(t, paths)
	if int64(len(want)) < truth.Replays {
		t.Fatalf("scan found %d alerts for %d replays", len(want), truth.Replays)
	}
	got := watchFiles(t, paths, truth.Records, WatchOptions{})
	if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
		t.Fatalf("watch differs from scan over %d replays: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
			truth.Replays, len(missing), len(want), len(extra), missing, extra)
	}
}

// Several replicas catching up at once with every batch parsed ahead, down
// to the follower's smallest reads: the lookahead keeps the follower's
// order, so the merge by log time across files still finds what scan does.
func TestWatchCatchingUpOnReplicasParsedAheadAgreesWithScan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		replicas   int
		prepareMin int
		lookahead  int // 0: aheadDepth
	}{
		{3, 1, 0}, {4, prepareMin, 0},
		// One batch ahead: the watcher parses most batches itself
		// (lookahead.help), racing the workers for each.
		{2, 1, 1},
	} {
		t.Run(fmt.Sprintf("%d replicas, batches from %d bytes, %d ahead", tc.replicas, tc.prepareMin, tc.lookahead), func(t *testing.T) {
			t.Parallel()
			paths, truth := backlog(t, t.TempDir(), tc.replicas, loggen.Config{Size: 6 << 20, Seed: int64(20 + tc.replicas), ReplayShare: 0.05, Users: 60})
			want := scanFiles(t, paths)
			got := watchFiles(t, paths, truth.Records, WatchOptions{prepareMin: tc.prepareMin, lookahead: tc.lookahead})
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan over %d replays: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
					truth.Replays, len(missing), len(want), len(extra), missing, extra)
			}
		})
	}
}

// The same with the history in Redis: no pair is missed, whatever the
// timing of the run. The settle time is short so that this small backlog
// outruns it, as a large one outruns the default.
func TestWatchCatchingUpOnReplicasWithRedisAgreesWithScan(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	paths, truth := backlog(t, t.TempDir(), 2, loggen.Config{Size: 8 << 20, Seed: 12, ReplayShare: 0.05, Users: 50})
	want := scanFiles(t, paths)
	for run := range 2 {
		opt, err := redis.ParseURL(srv.URL(run))
		if err != nil {
			t.Fatal(err)
		}
		store := correlate.NewFailover(context.Background(), correlate.NewRedis(redis.NewClient(opt), correlate.RedisOptions{}), correlate.NewMemory(correlate.Limits{}), nil)
		got := watchFiles(t, paths, truth.Records, WatchOptions{Store: store, Shared: true, Claims: store, Settle: 10 * time.Millisecond})
		store.Close()
		if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
			t.Fatalf("run %d: watch differs from scan over %d replays: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
				run, truth.Replays, len(missing), len(want), len(extra), missing, extra)
		}
	}
}

// A reader that got far ahead on one file (the first file of a backlog read
// whole before the second, or a replica whose file the follower reached
// late) still has its events judged in log-time order, however long the
// other file takes: no wall-clock settle decides it (laggingReplicas).
func TestWatchWaitsForALaggingReplicaByLogTime(t *testing.T) {
	t.Parallel()
	a, b := laggingReplicas()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	want := scanLagging(t, paths, a, b)
	srv := redistest.Start(t)
	for i, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared %v", shared), func(t *testing.T) {
			opt := WatchOptions{Settle: 10 * time.Millisecond}
			if shared {
				ropt, _ := redis.ParseURL(srv.URL(i))
				store := correlate.NewFailover(context.Background(), correlate.NewRedis(redis.NewClient(ropt), correlate.RedisOptions{}), correlate.NewMemory(correlate.Limits{}), nil)
				defer store.Close()
				opt.Store, opt.Shared, opt.Claims = store, true, store
			}
			got := feedInTurn(t, paths, opt)
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan: missing\n%s\nextra\n%s", strings.Join(missing, "\n"), strings.Join(extra, "\n"))
			}
		})
	}
}

// laggingReplicas are two replicas' logs where replica b's refreshes come
// before replica a's reuses in log time: judged before them, a's replay is
// compared with a refresh older than the one that rotated its token, and
// a's benign race with b's refresh (same address) with the user's refresh
// from elsewhere.
func laggingReplicas() (a, b string) {
	const other = "uid=jdoe,ou=shadow,o=Tremolo"
	as := func(s, thread, dn string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "task-2", thread), userDN, dn)
	}
	a = refreshLine("09:00:00,000", "192.0.2.99", "f1") + // the thief's address, an hour before
		refreshLine("09:59:00,000", "198.51.100.40", "f2") +
		as(refreshLine("09:59:30,000", "203.0.113.50", "f3"), "task-3", other) +
		as(reuseLines("10:00:02,000", "192.0.2.99", "f4"), "task-7", userDN) + // the replay of b's rotated token
		as(reuseLines("10:00:05,040", "198.51.100.77", "f5"), "task-8", other) // a race with b's refresh
	b = refreshLine("10:00:01,000", "203.0.113.7", "f6") + // the refresh the replay follows
		as(refreshLine("10:00:05,000", "198.51.100.77", "f7"), "task-4", other) +
		refreshLine("10:00:30,000", "203.0.113.7", "f8")
	return a, b
}

// scanLagging writes the logs (a and b of laggingReplicas, then any
// others) to paths and returns what scan finds in them, which it checks:
// the replay judged against b's refresh, and no alert for the race.
func scanLagging(t *testing.T, paths []string, logs ...string) []string {
	t.Helper()
	for i, data := range logs {
		if err := os.WriteFile(paths[i], []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := scanFiles(t, paths)
	if len(want) != 1 || !strings.Contains(want[0], "reuse-ip-mismatch "+userDN+" 192.0.2.99 prev=203.0.113.7") {
		t.Fatalf("scan found %q: want the replay judged against b's refresh, and no alert for the race", want)
	}
	return want
}

// The follower reads its files in turn, a batch each, on one goroutine:
// while it reads another replica's backlog (c), replica b waits for its
// turn, a second or more on a slow disk or a loaded machine. b is not a
// hung read, which stops every file: it must hold replica a's events until
// its refreshes are read. It was taken for one once it had sent nothing
// for minStall, and a's replay was judged against the user's older refresh
// (a real follower over four replicas left one of them, 1.5 MB unread,
// 463 ms without a batch on a loaded machine, the watcher's input empty).
// A file the follower cannot read at all (an error it retries) while it
// reads the others stops holding them after turnWait; a follower that
// sends nothing at all (a read hung) lets them go after minStall.
func TestWatchWaitsForAFileTheFollowerHasNotReachedYet(t *testing.T) {
	t.Parallel()
	a, b := laggingReplicas()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")}
	var c strings.Builder // another replica's log, busy an hour later: it holds nothing back
	for i := range 40 {
		fmt.Fprintf(&c, "[2026-11-23 11:00:%02d,000][Timer-0] INFO  SessionManagerImpl - Cleared 3 expired sessions, 200 active\n", i)
	}
	want := scanLagging(t, paths, a, b, c.String())
	replayJudgedAlone := "reuse-ip-mismatch " + userDN + " 192.0.2.99 prev=198.51.100.40 2026-11-23T10:00:02Z"
	for _, tc := range []struct {
		name   string
		step   time.Duration // the watcher's time between two of the follower's batches
		cReads bool          // c sends a batch every step
		// readB: b's data comes after that many steps (0: never);
		// letGoAfter: a's events stop waiting for b once it has been
		// silent that long.
		readB      int
		letGoAfter time.Duration
	}{
		{name: "b read after 1.25 s of c's batches", step: 250 * time.Millisecond, cReads: true, readB: 5},
		{name: "b unreadable while c is read", step: minStall * 9 / 10, cReads: true, letGoAfter: turnWait},
		{name: "the follower hung", step: minStall / 2, letGoAfter: minStall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newHandClock()
			handled := make(chan struct{}, 1)
			opt := WatchOptions{Rules: rules.Builtin(), Settle: 10 * time.Millisecond, now: clock.now, ticked: clock.ticked,
				handled: func(source.Batch) { handled <- struct{}{} }}
			alerts := collectAlertKeys(&opt)
			w, err := NewWatcher(opt)
			if err != nil {
				t.Fatal(err)
			}
			batches := make(chan source.Batch)
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background(), batches) }()
			stop := sync.OnceValue(func() error {
				close(batches)
				return <-done
			})
			t.Cleanup(func() { stop() })
			// As the follower sends them (an identity, no cursor), each
			// handled at the time it was sent.
			offsets := map[string]int64{}
			send := func(i int, data string, idle bool) {
				p := paths[i]
				batches <- source.Batch{Key: p, Path: p, ID: source.FileID{Dev: 1, Ino: uint64(i + 1)}, Data: []byte(data), Offset: offsets[p], Idle: idle}
				offsets[p] += int64(len(data))
				<-handled
			}
			for i := range paths {
				send(i, "", false)
			}
			send(0, a, false)
			lines := strings.SplitAfter(c.String(), "\n")
			for i := 1; tc.readB == 0 || i <= tc.readB; i++ {
				clock.pass(t, tc.step)
				silent := time.Duration(i) * tc.step
				judged := slices.Contains(alerts(), replayJudgedAlone)
				if tc.letGoAfter > 0 && silent >= tc.letGoAfter {
					if !judged {
						t.Fatalf("after %v of b's silence, a's replay still waits for it: %q", silent, alerts())
					}
					return
				}
				if judged {
					t.Fatalf("after %v of b's silence, a's replay was judged without b's refresh", silent)
				}
				if tc.cReads {
					send(2, lines[i-1], false)
				}
			}
			send(1, b, false)
			for i := range paths {
				send(i, "", true)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if missing, extra := diff(want, alerts()); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan: missing\n%s\nextra\n%s", strings.Join(missing, "\n"), strings.Join(extra, "\n"))
			}
		})
	}
}

// A follower on a slow disk, or a loaded machine, sends a batch every
// 400 ms: each replica waits its turn more than a second, not hung, and
// still holds the others' events back. Taken for hung, half the replays of
// this backlog were judged against the wrong refresh (8 of scan's 16
// alerts missing, 8 extra).
func TestWatchCatchingUpFromASlowFollowerAgreesWithScan(t *testing.T) {
	t.Parallel()
	paths, truth := backlog(t, t.TempDir(), 3, loggen.Config{Size: 2 << 20, Seed: 11, ReplayShare: 0.05, Users: 50})
	want := scanFiles(t, paths)
	clock := newHandClock()
	handled := make(chan struct{}, 1)
	opt := WatchOptions{Rules: rules.Builtin(), Settle: 10 * time.Millisecond, Metrics: NewMetrics(prom.NewRegistry(), nil),
		now: clock.now, ticked: clock.ticked, handled: func(source.Batch) { handled <- struct{}{} }}
	alerts := collectAlertKeys(&opt)
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := follow(ctx, source.Options{Patterns: paths, Poll: 20 * time.Millisecond}, 0)
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	// Each batch handled 400 ms of the watcher's time after the one
	// before, from the first data on: before it the watcher has nothing
	// to tick for.
	data := false
	for opt.Metrics.Records.Value() < float64(truth.Records) {
		var b source.Batch
		select {
		case b = <-in:
		case <-time.After(testsync.Patience):
			t.Fatalf("%v of %d records read, and the follower sends nothing more", opt.Metrics.Records.Value(), truth.Records)
		}
		if data {
			clock.pass(t, 400*time.Millisecond)
		}
		batches <- b
		<-handled
		data = data || len(b.Data) > 0
	}
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if missing, extra := diff(want, alerts()); len(missing)+len(extra) > 0 {
		t.Fatalf("watch differs from scan over %d replays: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
			truth.Replays, len(missing), len(want), len(extra), missing, extra)
	}
}

// feedInTurn hands a watcher every file announced, then each file whole in
// turn, pausing well past the settle time between files, then their ends.
// The pause is the watcher's clock's (handClock), not the wall's: a pause of
// the wall clock, which a loaded machine stretched past minStall (the test
// process not scheduled for a second), is by the watcher's rules a hung
// read, a source that sent nothing for a second, and the merge's order is
// then let go by design: watch differed from scan one run in three with
// the process stopped for 1.1 s every 0.3 s.
func feedInTurn(t *testing.T, paths []string, opt WatchOptions) []string {
	t.Helper()
	var (
		mu  sync.Mutex
		out []string
	)
	clock := newHandClock()
	opt.now, opt.ticked = clock.now, clock.ticked
	opt.Rules = rules.Builtin()
	opt.Deliver = func(_ context.Context, g []alert.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range g {
			out = append(out, alertKey(a))
		}
		return nil
	}
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	for _, p := range paths {
		batches <- source.Batch{Key: p, Path: p}
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var off int64
		for len(data) > 0 {
			n := min(len(data), 64<<10)
			if i := bytes.LastIndexByte(data[:n], '\n'); i >= 0 {
				n = i + 1
			}
			batches <- source.Batch{Key: p, Path: p, Data: data[:n], Offset: off}
			data, off = data[n:], off+int64(n)
		}
		// Time passing is the point here: a settle time that decided the
		// order would run out now, at the ticks awaited.
		clock.pass(t, 200*time.Millisecond)
	}
	for _, p := range paths {
		batches <- source.Batch{Key: p, Path: p, Idle: true}
	}
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(out)
	return out
}
