package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// runFollowedBy starts a follower and a watcher on path and calls onAlert
// from the watcher's goroutine for every alert; the follower is woken by
// file events (watch --inotify) or, with pollOnly, looks every 20 ms
// (watch's default).
func runFollowedBy(b *testing.B, path string, pollOnly bool, onAlert func(alert.Alert)) (stats func() WatchStats, stop func()) {
	b.Helper()
	return followBy(b, []string{path}, pollOnly, WatchOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
		for _, a := range g {
			onAlert(a)
		}
		return nil
	}}, nil)
}

// followWith starts a follower of path (watch's default 20 ms poll) and a
// watcher with opt.
func followWith(b *testing.B, path string, opt WatchOptions) (stats func() WatchStats, stop func()) {
	b.Helper()
	return followBy(b, []string{path}, false, opt, nil)
}

// followBy is followWith over paths, polling only if told; with watcherCPU set, the
// watcher's goroutine keeps its own thread and watcherCPU gets the CPU it
// spent once stop returns: the serial part of catching up, which no core
// count shortens.
func followBy(b *testing.B, paths []string, pollOnly bool, opt WatchOptions, watcherCPU *time.Duration) (stats func() WatchStats, stop func()) {
	b.Helper()
	w, err := NewWatcher(opt)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// As many batches read ahead as watch lets the follower read
	// (cmd/graceguard's batchQueue): more would measure fresh arrays
	// faulted in where watch recycles a few.
	batches := follow(ctx, source.Options{Patterns: paths, Poll: 20 * time.Millisecond, PollOnly: pollOnly}, 4)
	done := make(chan WatchStats, 1)
	go func() {
		if watcherCPU != nil {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		start, _ := cputime.Thread()
		w.Run(context.WithoutCancel(ctx), batches)
		if watcherCPU != nil {
			end, _ := cputime.Thread()
			*watcherCPU = end - start // before stop returns
		}
		done <- w.Stats()
	}()
	var final WatchStats
	return func() WatchStats { return final }, func() {
		cancel()
		final = <-done
	}
}

// From a replay's lines being appended to the followed file to its alert
// being delivered: woken by file events (watch --inotify), and, as the
// baseline, looking every 20 ms (watch's default). Reports p50 and p99.
func BenchmarkWatchAppendToAlert(b *testing.B) {
	for _, mode := range []struct {
		name     string
		pollOnly bool
	}{{"events", false}, {"poll", true}} {
		b.Run(mode.name, func(b *testing.B) { benchAppendToAlert(b, mode.pollOnly) })
	}
}

func benchAppendToAlert(b *testing.B, pollOnly bool) {
	dir := b.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	var seen atomic.Int64
	arrived := make(chan time.Time, 1)
	_, stop := runFollowedBy(b, path, pollOnly, func(a alert.Alert) {
		if a.Rule == "reuse-ip-mismatch" {
			seen.Add(1)
			arrived <- time.Now()
		}
	})
	defer stop()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		data := replayBench(i)
		start := time.Now()
		if _, err := f.WriteString(data); err != nil {
			b.Fatal(err)
		}
		select {
		case t := <-arrived:
			lat = append(lat, t.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatalf("no alert for replay %d", i)
		}
		// Spread the writes over the poll interval, as real traffic is.
		time.Sleep(time.Duration(i%7) * 3 * time.Millisecond)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func replayBench(i int) string {
	dn := fmt.Sprintf("uid=bench%06d,ou=shadow,o=Tremolo", i)
	url := "https://k8sou.example.com/auth/idp/k8sIdp/token"
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05")
	return fmt.Sprintf("[%s,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.23] - [f%040d]\n", at, url, dn, 2*i) +
		fmt.Sprintf("[%s,900][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [192.0.2.66] - [f%040d]\n", at, url, dn, 2*i+1) +
		fmt.Sprintf("[%s,901][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.66] - [f%040d]\n", at, url, dn, 2*i+1)
}

// A backlog on first start, read from the start: MB/s through follower and
// watcher. GRACEGUARD_BENCH_MB sets the size (default 256; the README's
// figure is for 1024).
func BenchmarkWatchCatchUp(b *testing.B) {
	path, truth := writeBacklog(b, 256)
	b.SetBytes(truth.Bytes)
	discard := func(context.Context, []alert.Alert) error { return nil }
	for b.Loop() {
		m := NewMetrics(prom.NewRegistry(), nil)
		stats, stop := followWith(b, path, WatchOptions{Rules: rules.Builtin(), Deliver: discard, Metrics: m})
		// Done when every record has been read: the alerts of the
		// replays come before the backlog's last records.
		deadline := time.Now().Add(10 * time.Minute)
		for m.Records.Value() < float64(truth.Records) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		stop()
		if st := stats(); st.Records < truth.Records-1 {
			b.Fatalf("read %d records of %d", st.Records, truth.Records)
		}
	}
}

// BenchmarkWatchAppendToAlertBehindIngress: a replay appended to
// OpenUnison's log and its request's line to a busy ingress-nginx's log
// (the cluster's other requests every 20 ms, CLF's 1-second stamps, log
// times the wall clock's) → its alert naming the thief. The wait is
// attribution's: both logs read 2 s of log time past the replay. Each
// iteration takes ~2.5 s; run with -benchtime 5x.
func BenchmarkWatchAppendToAlertBehindIngress(b *testing.B) {
	dir := b.TempDir()
	ou, px := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress.log")
	// The controller's log starts with its start-up line, as a
	// controller's does: an empty log is known as a proxy's only at its
	// first line (see the package comment), and a first refresh read
	// before the traffic's first line went on unjoined, the first replay
	// then ambiguous and its alert naming the controller (about one run
	// in four on a loaded machine).
	for p, head := range map[string]string{ou: "", px: "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"} {
		if err := os.WriteFile(p, []byte(head), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	arrived := make(chan alert.Alert, 16)
	_, stop := followBy(b, []string{ou, px}, false, WatchOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
		for _, a := range g {
			if a.Rule == "reuse-ip-mismatch" {
				arrived <- a
			}
		}
		return nil
	}}, nil)
	defer stop()
	ouf := openAppend(b, ou)
	pxf := openAppend(b, px)
	var mu sync.Mutex // the ingress log's writes, the traffic's and the replays'
	writePx := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := pxf.WriteString(s); err != nil {
			b.Error(err)
		}
	}
	clf := func(t time.Time) string { return t.UTC().Format("02/Jan/2006:15:04:05 -0700") }
	traffic := make(chan struct{})
	go func() {
		for tick := time.NewTicker(20 * time.Millisecond); ; {
			select {
			case <-traffic:
				tick.Stop()
				return
			case now := <-tick.C:
				writePx(fmt.Sprintf("203.0.113.5 - - [%s] \"GET /api/v1/namespaces HTTP/2.0\" 200 512 \"-\" \"kubectl/v1.31.0\" 98 0.004 [kube-system-kubernetes-443] [] 10.1.80.20:6443 512 0.004 200 q\n", clf(now)))
			}
		}
	}()
	defer close(traffic)
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05,000") }
	token := func(t time.Time, client, agent, id string) string {
		return fmt.Sprintf("%s - - [%s] \"POST /auth/idp/k8sIdp/token HTTP/2.0\" 200 1893 \"-\" \"%s\" 412 0.015 [openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.014 200 %s\n", client, clf(t), agent, id)
	}
	url := "https://k8sou.example.com/auth/idp/k8sIdp/token"
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		dn := fmt.Sprintf("uid=ingress%06d,ou=shadow,o=Tremolo", i)
		now := time.Now()
		if _, err := ouf.WriteString(fmt.Sprintf("[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [10.1.67.12] - [a%039d]\n", stamp(now), url, dn, i)); err != nil {
			b.Fatal(err)
		}
		writePx(token(now, "198.51.100.40", "kubectl/v1.31.0", fmt.Sprintf("a%d", i)))
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		if _, err := ouf.WriteString(fmt.Sprintf("[%[1]s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %[2]s - %[3]s - NONE [10.1.67.12] - [b%039[4]d]\n"+
			"[%[1]s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %[2]s - %[3]s - Expired token used within grace period [10.1.67.12] - [b%039[4]d]\n", stamp(start), url, dn, i)); err != nil {
			b.Fatal(err)
		}
		writePx(token(start, "192.0.2.99", "curl/8.5.0", fmt.Sprintf("b%d", i)))
		select {
		case a := <-arrived:
			if a.IP != "192.0.2.99" {
				b.Fatalf("alert names %s, want the thief", a.IP)
			}
			lat = append(lat, time.Since(start))
		case <-time.After(10 * time.Second):
			b.Fatalf("no alert for replay %d", i)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
}

func openAppend(b *testing.B, path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}
