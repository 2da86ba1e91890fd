package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
)

// sleepRecorder stands in for the retry loop's sleep: it records each wait
// and returns at once, so retry tests take no time and can check waits.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) list() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

func closeNow(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestDispatcherFiltersPerSink(t *testing.T) {
	t.Parallel()
	all, high, geo := &fakeSink{}, &fakeSink{}, &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{},
		Route{Name: "all", Sink: all},
		Route{Name: "high", Sink: high, Filter: Filter{MinSeverity: alert.High}},
		Route{Name: "geo", Sink: geo, Filter: Filter{Rules: []string{"reuse-geo-jump"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), replayGroup())              // critical + high
	d.Send(context.Background(), []alert.Alert{plain("m1")}) // medium
	closeNow(t, d)
	tests := []struct {
		sink *fakeSink
		want []string
	}{
		{all, []string{"9b1c2d3e4f5a6b7c8d9e", "3f2a9c0d1e4b5a6c7d8e", "m1"}},
		{high, []string{"9b1c2d3e4f5a6b7c8d9e", "3f2a9c0d1e4b5a6c7d8e"}},
		{geo, []string{"9b1c2d3e4f5a6b7c8d9e"}},
	}
	for i, tt := range tests {
		if got := tt.sink.ids(); !slices.Equal(got, tt.want) {
			t.Errorf("sink %d got %v, want %v", i, got, tt.want)
		}
	}
	if len(all.groups) != 2 || len(all.groups[0]) != 2 {
		t.Errorf("a group must stay one group: %v", all.groups)
	}
}

func TestDispatcherDeadSinkBlocksNobody(t *testing.T) {
	t.Parallel()
	dead := &fakeSink{block: make(chan struct{})} // never answers
	live := &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{StateDir: t.TempDir()},
		Route{Name: "dead", Sink: dead, Delivery: Delivery{QueueSize: 10}}, Route{Name: "live", Sink: live})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	groups := numbered(50)
	for _, g := range groups {
		if err := d.Send(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Send took %v with a dead sink", el)
	}
	testsync.WaitFor(t, "the live sink", func() bool { return len(live.ids()) == 50 })
	st := d.Stats()
	// The dead sink holds one in its hand and ten queued; the rest were
	// dead-lettered, counted, not dropped.
	if st[0].Queued != 10 || st[0].DeadLettered < 39 {
		t.Errorf("dead sink stats %+v", st[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !dead.closed || !live.closed {
		t.Error("Close must close every sink")
	}
}

func TestRetryLoopWaits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		errs      []error
		wantWaits []time.Duration // exact, or nil to check the backoff range
		backoff   bool
		wantSent  int
		wantDead  string // reason in the dead-letter file
	}{
		{name: "429 waits exactly Retry-After", errs: []error{&slack.RateLimitedError{RetryAfter: 7 * time.Second}, &statusError{Code: 429, RetryAfter: 30 * time.Second}},
			wantWaits: []time.Duration{7 * time.Second, 30 * time.Second}, wantSent: 1},
		{name: "5xx and network errors back off", errs: []error{&statusError{Code: 503}, errors.New("dial tcp: connection refused"), slack.StatusCodeError{Code: 500}},
			backoff: true, wantSent: 1},
		{name: "a malformed message is dead-lettered at once", errs: []error{slack.SlackErrorResponse{Err: "invalid_blocks"}}, wantDead: "permanent"},
		{name: "a revoked token is retried, not thrown away", errs: []error{slack.SlackErrorResponse{Err: "token_revoked"}}, backoff: true, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := &sleepRecorder{}
			sink := &fakeSink{errs: tt.errs}
			d, err := newDispatcher(DispatcherOptions{StateDir: dir, sleep: rec.sleep, random: func() float64 { return 1 }},
				Route{Name: "s", Sink: sink, Delivery: Delivery{BackoffMin: time.Second, BackoffMax: 4 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			d.Send(context.Background(), []alert.Alert{plain("a1")})
			testsync.WaitFor(t, "the outcome", func() bool {
				st := d.Stats()[0]
				return st.Sent+st.DeadLettered == 1
			})
			closeNow(t, d)
			st := d.Stats()[0]
			if st.Sent != int64(tt.wantSent) {
				t.Errorf("sent %d, want %d", st.Sent, tt.wantSent)
			}
			waits := rec.list()
			if tt.wantWaits != nil && !slices.Equal(waits, tt.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tt.wantWaits)
			}
			if tt.backoff {
				// random()=1: the full exponential step, 1s, 2s, 4s, capped.
				want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}[:len(waits)]
				if len(waits) != len(tt.errs) || !slices.Equal(waits, want) {
					t.Errorf("waits %v, want %v", waits, want)
				}
			}
			if st.Retried != int64(len(waits)) {
				t.Errorf("retried %d, want %d", st.Retried, len(waits))
			}
			lines := readLines(t, filepath.Join(dir, DeadLetterFile))
			if tt.wantDead == "" && len(lines) != 0 || tt.wantDead != "" && (len(lines) != 1 || !strings.Contains(lines[0], `"reason":"`+tt.wantDead+`"`)) {
				t.Errorf("dead letters %q, want reason %q", lines, tt.wantDead)
			}
		})
	}
}

func TestMaxAgeDeadLetters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, rec := failingForAges(t, dir, &statusError{Code: 503, Body: "upstream down"})
	d.Send(context.Background(), []alert.Alert{plain("old")})
	testsync.WaitFor(t, "the dead letter", func() bool { return d.Stats()[0].DeadLettered == 1 })
	closeNow(t, d)
	lines := readLines(t, filepath.Join(dir, DeadLetterFile))
	if len(lines) != 1 {
		t.Fatalf("dead letters: %q", lines)
	}
	var dl struct {
		Reason, Error, Sink string
		Attempts            int
		Alert               alert.Alert
	}
	if err := json.Unmarshal([]byte(lines[0]), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Reason != "max_age" || !strings.Contains(dl.Error, "503") || dl.Alert.ID != "old" || dl.Attempts < 5 {
		t.Errorf("dead letter %+v", dl)
	}
	var total time.Duration
	for _, w := range rec.list() {
		total += w
	}
	if total < 10*time.Minute || total > 12*time.Minute {
		t.Errorf("gave up after %v of waiting, want about the 10m max age", total)
	}
}

func TestQueuedAlertsSurviveRestart(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"close", "kill"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			stuck := &fakeSink{block: make(chan struct{})}
			d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "slack", Sink: stuck})
			if err != nil {
				t.Fatal(err)
			}
			want := replayGroup()
			d.Send(context.Background(), want)
			d.Send(context.Background(), []alert.Alert{plain("m1")})
			if how == "close" {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				err := d.Close(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			} // "kill": the process dies; the journal is all there is.

			got := &fakeSink{}
			d2, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "slack", Sink: got})
			if err != nil {
				t.Fatal(err)
			}
			testsync.WaitFor(t, "the saved alerts", func() bool { return len(got.ids()) == 3 })
			// Sent once: a repeat from the watcher after a crash is a duplicate.
			d2.Send(context.Background(), want)
			closeNow(t, d2)
			if len(got.groups) != 2 || len(got.groups[0]) != 2 {
				t.Fatalf("groups after restart: %v", got.ids())
			}
			if g := got.groups[0][0]; g.Description != want[0].Description || !g.Time.Equal(want[0].Time) || *g.SpeedKmh != *want[0].SpeedKmh {
				t.Errorf("restored alert differs: %+v", g)
			}
			if st := d2.Stats()[0]; st.Duplicates != 2 {
				t.Errorf("duplicates %d, want 2", st.Duplicates)
			}

			// A third start sends nothing: all was delivered.
			again := &fakeSink{}
			d3, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "slack", Sink: again})
			if err != nil {
				t.Fatal(err)
			}
			d3.Send(context.Background(), []alert.Alert{plain("m1")})
			closeNow(t, d3)
			if ids := again.ids(); len(ids) != 0 {
				t.Errorf("sent again after restart: %v", ids)
			}
		})
	}
}

func TestJournalSurvivesATornLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stuck := &fakeSink{block: make(chan struct{})}
	d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "s", Sink: stuck})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{plain("a1")})
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"add","sink":"s","seq":99,"alerts":[{"id":"torn`) // a crash mid-write
	f.Close()
	log, logs := newTestLogger()
	got := &fakeSink{}
	d2, err := newDispatcher(DispatcherOptions{StateDir: dir, Logger: log}, Route{Name: "s", Sink: got})
	if err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "a1", func() bool { return len(got.ids()) == 1 })
	closeNow(t, d2)
	if !strings.Contains(logs.String(), "damaged line") {
		t.Errorf("the torn line is not reported: %s", logs)
	}
}

func TestRemovedSinkDeadLetters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "old", Sink: &fakeSink{block: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{plain("a1")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	d.Close(ctx)
	cancel()
	d2, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "new", Sink: &fakeSink{}})
	if err != nil {
		t.Fatal(err)
	}
	closeNow(t, d2)
	lines := readLines(t, filepath.Join(dir, DeadLetterFile))
	if len(lines) != 1 || !strings.Contains(lines[0], `"reason":"sink_removed"`) || !strings.Contains(lines[0], `"sink":"old"`) {
		t.Errorf("dead letters: %q", lines)
	}
}

func TestCloseWithoutStateDirDeadLetters(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger()
	d, err := newDispatcher(DispatcherOptions{Logger: log}, Route{Name: "s", Sink: &fakeSink{block: make(chan struct{})}})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{plain("a1")})
	d.Send(context.Background(), []alert.Alert{plain("a2")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	d.Close(ctx)
	// No state directory, no dead-letter file: the log gets the alerts.
	if n := strings.Count(logs.String(), "msg=\"dead letter\""); n != 2 {
		t.Errorf("%d dead letters logged, want 2:\n%s", n, logs)
	}
	if err := d.Send(context.Background(), []alert.Alert{plain("a3")}); !errors.Is(err, errClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestThrottleSaysHowManyWereSuppressed(t *testing.T) {
	t.Parallel()
	sink := &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{},
		Route{Name: "pager", Sink: sink, Delivery: Delivery{Throttle: 10 * time.Minute, ThrottleKey: []string{"user"}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id string, at time.Duration) {
		a := replay()
		a.ID, a.Time = id, t0.Add(at)
		d.Send(context.Background(), []alert.Alert{a})
	}
	send("a", 0)
	send("b", time.Minute)
	send("c", 9*time.Minute)
	send("d", 11*time.Minute)
	send("e", 12*time.Minute)
	closeNow(t, d)
	ids := sink.ids()
	if !slices.Equal(ids, []string{"a", "d"}) {
		t.Fatalf("let through %v, want a and d", ids)
	}
	if s := sink.groups[1][0].Summary; !strings.HasSuffix(s, "(2 more suppressed since 2026-11-23T10:01:32Z)") {
		t.Errorf("summary %q does not say 2 more were suppressed", s)
	}
	if st := d.Stats()[0]; st.Suppressed != 3 {
		t.Errorf("suppressed %d, want 3", st.Suppressed)
	}
}

func TestDigestWhenManyWait(t *testing.T) {
	t.Parallel()
	sink := &digestSink{}
	sink.block = make(chan struct{})
	d, err := newDispatcher(DispatcherOptions{}, Route{Name: "slack", Sink: sink, Delivery: Delivery{DigestAfter: 5, DigestMax: 20}})
	if err != nil {
		t.Fatal(err)
	}
	groups := numbered(30)
	d.Send(context.Background(), groups[0])
	testsync.WaitFor(t, "the first send", func() bool { return sink.calls.Load() == 1 })
	for _, g := range groups[1:] {
		d.Send(context.Background(), g)
	}
	close(sink.block) // the first group was in the sink's hands; 29 wait
	testsync.WaitFor(t, "all 30", func() bool { return len(sink.ids()) == 30 })
	closeNow(t, d)
	var sizes []int
	for _, dg := range sink.digests {
		sizes = append(sizes, len(dg))
	}
	// 1 single, then a digest of 20, then the 9 left (still >= 5) as one.
	if !slices.Equal(sizes, []int{20, 9}) {
		t.Errorf("digest sizes %v, want [20 9]", sizes)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prom.NewRegistry()
	m := NewMetrics(reg)
	dir := t.TempDir()
	sink := &fakeSink{errs: []error{&statusError{Code: 500}, slack.SlackErrorResponse{Err: "msg_too_long"}}}
	d, err := newDispatcher(DispatcherOptions{StateDir: dir, Metrics: m, sleep: (&sleepRecorder{}).sleep},
		Route{Name: "s", Sink: sink, Delivery: Delivery{QueueSize: 1}})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{plain("a")}) // 500, then msg_too_long: dead
	testsync.WaitFor(t, "a", func() bool { return d.Stats()[0].DeadLettered == 1 })
	d.Send(context.Background(), []alert.Alert{plain("b")})
	testsync.WaitFor(t, "b", func() bool { return d.Stats()[0].Sent == 1 })
	d.Send(context.Background(), []alert.Alert{plain("b")}) // duplicate
	closeNow(t, d)
	for name, want := range map[string]float64{
		"sent": 1, "retried": 1, "failed": 1, "dead": 1, "dup": 1, "queue": 0,
	} {
		var got float64
		switch name {
		case "sent":
			got = m.Sent.WithLabelValues("s").Value()
		case "retried":
			got = m.Retried.WithLabelValues("s").Value()
		case "failed":
			got = m.Failed.WithLabelValues("s").Value()
		case "dead":
			got = m.DeadLettered.WithLabelValues("s", "permanent").Value()
		case "dup":
			got = m.Duplicates.WithLabelValues("s").Value()
		case "queue":
			got = m.Queue.WithLabelValues("s").Value()
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestDispatcherRejectsDuplicateNames(t *testing.T) {
	t.Parallel()
	_, err := newDispatcher(DispatcherOptions{}, Route{Name: "a", Sink: &fakeSink{}}, Route{Name: "a", Sink: &fakeSink{}})
	if err == nil || !strings.Contains(err.Error(), `two sinks named "a"`) {
		t.Errorf("err = %v", err)
	}
}

func TestJournalCompactsOnStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "s", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range numbered(100) {
		d.Send(context.Background(), g)
	}
	testsync.WaitFor(t, "100", func() bool { return len(sink.ids()) == 100 })
	closeNow(t, d)
	lines := readLines(t, filepath.Join(dir, JournalFile))
	// A header and one line of delivered ids: no adds or dones left.
	if len(lines) != 2 || !strings.Contains(lines[1], `"op":"delivered"`) || strings.Count(lines[1], `"id0`) != 100 {
		t.Errorf("journal after close:\n%s", strings.Join(lines, "\n"))
	}
}

func TestAlertsWithoutIDAreNeverDuplicates(t *testing.T) {
	t.Parallel()
	sink := &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{}, Route{Name: "s", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{plain("")})
	d.Send(context.Background(), []alert.Alert{plain("")})
	closeNow(t, d)
	if n := len(sink.groups); n != 2 {
		t.Errorf("%d of 2 id-less alerts sent", n)
	}
}

// A rewrite of the journal cut short by a kill -9 leaves a temporary file
// as large as the journal; the next start removes it.
func TestJournalStartRemovesATemporaryFileOfAKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tmp := filepath.Join(dir, JournalFile+".tmp31337")
	if err := os.WriteFile(tmp, []byte(`{"op":"journal"`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "s", Sink: &fakeSink{}})
	if err != nil {
		t.Fatal(err)
	}
	closeNow(t, d)
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there (%v)", tmp, err)
	}
}

// A full queue dead-letters what comes; the log must say so (once, not per
// alert), as it does for max_age and refusals: with a state directory the
// dead-letter file and a counter were the only trace.
func TestQueueFullIsLogged(t *testing.T) {
	t.Parallel()
	log, buf := newTestLogger()
	sink := &fakeSink{errs: slices.Repeat([]error{&statusError{Code: 503}}, 1000)}
	d, err := newDispatcher(DispatcherOptions{StateDir: t.TempDir(), Logger: log, sleep: func(ctx context.Context, _ time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	}}, Route{Name: "s", Sink: sink, Delivery: Delivery{QueueSize: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		d.Send(context.Background(), []alert.Alert{plain(fmt.Sprint("a", i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats()[0]; st.DeadLettered != 8 {
		t.Fatalf("dead-lettered %d, want 8", st.DeadLettered)
	}
	if n := strings.Count(buf.String(), "sink queue full"); n != 1 {
		t.Errorf("the log says the queue is full %d times, want once:\n%s", n, buf.String())
	}
}

// Once the queue drains, the next alert queued says so, with how many
// went to the dead-letter file meanwhile: the reader of the first line
// learns that the loss ended, and how large it was.
func TestQueueRoomAgainIsLogged(t *testing.T) {
	t.Parallel()
	log, buf := newTestLogger()
	release := make(chan struct{})
	sink := &fakeSink{errs: []error{&statusError{Code: 503}}}
	d, err := newDispatcher(DispatcherOptions{StateDir: t.TempDir(), Logger: log, sleep: func(ctx context.Context, _ time.Duration) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}, Route{Name: "s", Sink: sink, Delivery: Delivery{QueueSize: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(t, d)
	for i := range 10 {
		d.Send(context.Background(), []alert.Alert{plain(fmt.Sprint("a", i))})
	}
	if strings.Contains(buf.String(), "has room again") {
		t.Fatalf("room again while full:\n%s", buf.String())
	}
	close(release)
	testsync.WaitFor(t, "the queue to drain", func() bool { return d.Stats()[0].Sent == 2 })
	d.Send(context.Background(), []alert.Alert{plain("after")})
	if n := strings.Count(buf.String(), "sink queue has room again"); n != 1 || !strings.Contains(buf.String(), "dead_lettered_while_full=8") {
		t.Errorf("want one room-again line counting the 8 dead-lettered:\n%s", buf.String())
	}
	d.Send(context.Background(), []alert.Alert{plain("and more")})
	if n := strings.Count(buf.String(), "has room again"); n != 1 {
		t.Errorf("room again said %d times, want once", n)
	}
}

// A receiver asking for a Retry-After beyond the max age (an hour here)
// must not keep the group queued past it: it is dead-lettered at max_age.
func TestRetryAfterBeyondMaxAgeDeadLettersOnTime(t *testing.T) {
	t.Parallel()
	d, rec := failingForAges(t, t.TempDir(), &statusError{Code: 429, RetryAfter: time.Hour})
	d.Send(context.Background(), []alert.Alert{plain("old")})
	testsync.WaitFor(t, "the dead letter", func() bool { return d.Stats()[0].DeadLettered == 1 })
	closeNow(t, d)
	var total time.Duration
	for _, w := range rec.list() {
		total += w
	}
	if total > 10*time.Minute {
		t.Errorf("waited %v (%v) before dead-lettering, want the 10m max age", total, rec.list())
	}
}

// failingForAges is a dispatcher in dir whose one sink (max age 10
// minutes) fails with err every time, on a clock that moves on by each
// wait, so the outage lasts as long as the retries wait.
func failingForAges(t *testing.T, dir string, err error) (*Dispatcher, *sleepRecorder) {
	t.Helper()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	rec := &sleepRecorder{}
	d, derr := newDispatcher(DispatcherOptions{StateDir: dir, now: clock, sleep: func(ctx context.Context, dur time.Duration) error {
		mu.Lock()
		now = now.Add(dur)
		mu.Unlock()
		return rec.sleep(ctx, dur)
	}}, Route{Name: "s", Sink: &fakeSink{errs: slices.Repeat([]error{err}, 1000)}, Delivery: Delivery{MaxAge: 10 * time.Minute}})
	if derr != nil {
		t.Fatal(derr)
	}
	return d, rec
}
