package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/internal/testsync"
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
	var (
		mu  sync.Mutex
		out []string
	)
	opt.Rules = rules.Builtin()
	opt.Metrics = NewMetrics(prometheus.NewRegistry(), nil)
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
	ctx, cancel := context.WithCancel(context.Background())
	batches := make(chan source.Batch, 64)
	f := source.New(source.Options{Patterns: paths, Poll: 20 * time.Millisecond}, batches)
	go func() {
		f.Run(ctx)
		close(batches)
	}()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.WithoutCancel(ctx), batches) }()
	testsync.WaitFor(t, "every record read", func() bool { return testutil.ToFloat64(opt.Metrics.Records) >= float64(records) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(out)
	return out
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
