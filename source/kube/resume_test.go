package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// replay is one user's refresh from home and, seconds later, a grace reuse
// of the token from elsewhere: one reuse-ip-mismatch alert. Its lines are
// one write, so they share one timestamp.
func replay(user string, minute int) []string {
	dn := "uid=" + user + ",ou=shadow,o=Tremolo"
	url := "https://k8sou.example.com/auth/idp/k8sIdp/token"
	at := func(sec int) string {
		return fmt.Sprintf("2026-11-23 %02d:%02d:%02d,000", 10+minute/60, minute%60, sec)
	}
	sid := fmt.Sprintf("f%040d", minute)
	return []string{
		fmt.Sprintf("[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.23] - [f%040d]", at(0), url, dn, minute+1),
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [192.0.2.66] - [%s]", at(2), url, dn, sid),
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.66] - [%s]", at(2), url, dn, sid),
	}
}

// pipelineRun is the kube source feeding the real pipeline Watcher.
type pipelineRun struct {
	mu     sync.Mutex
	alerts []alert.Alert
	stop   func() pipeline.WatchStats
}

func (r *pipelineRun) count(rule string) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := map[string]int{}
	for _, a := range r.alerts {
		if a.Rule == rule {
			n[a.User]++
		}
	}
	return n
}

func runPipeline(t *testing.T, srv *kubefake.Server, stateDir string, idle time.Duration) *pipelineRun {
	t.Helper()
	r := &pipelineRun{}
	logs := &testsync.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", logs.String())
		}
	})
	w, err := pipeline.NewWatcher(pipeline.WatchOptions{
		Rules: rules.Builtin(), StateDir: stateDir, CheckpointEvery: 20 * time.Millisecond,
		Deliver: func(_ context.Context, g []alert.Alert) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.alerts = append(r.alerts, g...)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch, 4)
	src, err := New(fast(Options{
		Config: srv.ClientConfig(), Namespace: ns, Selector: selector,
		Container: container, Positions: w.Positions(), Idle: idle, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}), batches)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if err := src.Run(ctx); err != nil {
			t.Errorf("source: %v", err)
		}
		close(batches)
	}()
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	var once sync.Once
	var stats pipeline.WatchStats
	r.stop = func() pipeline.WatchStats {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("watcher: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the watcher did not stop")
			}
			stats = w.Stats()
		})
		return stats
	}
	t.Cleanup(func() { r.stop() })
	return r
}

// Run, checkpoint, stop; lines are written while graceguard is down, and
// the container restarts; run again: every record is analysed exactly once
// and every replay alerts exactly once, the record that was still being
// assembled at the stop included.
func TestResumeAcrossRestart(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	state := t.TempDir()
	records := 0
	write := func(user string, minute int) {
		ls := replay(user, minute)
		srv.Log(ns, "ou-a", container, t0.Add(time.Duration(minute)*time.Minute), ls...)
		records += len(ls)
	}
	for i := range 5 {
		write(fmt.Sprintf("u%d", i), i)
	}
	// With no Idle batch, u4's reuse is still being assembled at the stop:
	// the checkpoint must resume at it.
	r1 := runPipeline(t, srv, state, time.Hour)
	testsync.WaitFor(t, "u0..u3's alerts", func() bool { return len(r1.count("reuse-ip-mismatch")) == 4 })
	time.Sleep(50 * time.Millisecond)
	st1 := r1.stop()

	write("u5", 5)
	srv.Restart(ns, "ou-a", container)
	write("u6", 6)
	write("u7", 7)

	r2 := runPipeline(t, srv, state, 30*time.Millisecond)
	deadline := time.Now().Add(3 * time.Second)
	for len(r2.count("reuse-ip-mismatch")) != 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r2.count("reuse-ip-mismatch"); len(got) != 4 {
		st := r2.stop()
		t.Fatalf("after the restart: alerts %v; %+v", got, st)
	}
	time.Sleep(200 * time.Millisecond)
	st2 := r2.stop()

	seen := map[string]int{}
	for _, r := range []*pipelineRun{r1, r2} {
		for user, n := range r.count("reuse-ip-mismatch") {
			seen[user] += n
		}
		for _, a := range r.alerts {
			seen["id "+a.ID]++
		}
	}
	for i := range 8 {
		if user := fmt.Sprintf("uid=u%d,ou=shadow,o=Tremolo", i); seen[user] != 1 {
			t.Errorf("%s alerted %d times", user, seen[user])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d times", k, n)
		}
	}
	if got := st1.Records + st2.Records; got != int64(records) {
		t.Errorf("records analysed: %d + %d = %d, want %d, each once", st1.Records, st2.Records, got, records)
	}
	if st2.Duplicates != 0 {
		t.Errorf("%d alerts judged again after the restart", st2.Duplicates)
	}
}
