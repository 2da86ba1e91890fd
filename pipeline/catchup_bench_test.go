package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
)

// A backlog read from the start by watch (follower and watcher, memory
// state) against scan of the same file in the same iteration: the figure is
// catchup-x, catch-up's wall time over scan's (issue 14: at most 1.5).
// GRACEGUARD_BENCH_MB sets the size (default 130, the backlog),
// GRACEGUARD_BENCH_FILES the replicas' logs it is spread over (default 1;
// more is a central watcher started late), GRACEGUARD_BENCH_AHEAD the
// batches taken ahead (default aheadDepth). bench/catchup.sh runs it several
// times and prints the best of each.
func BenchmarkWatchCatchUpVsScan(b *testing.B) {
	files, _ := strconv.Atoi(os.Getenv("GRACEGUARD_BENCH_FILES"))
	ahead, _ := strconv.Atoi(os.Getenv("GRACEGUARD_BENCH_AHEAD"))
	paths, truth := writeBacklogFiles(b, 130, max(files, 1))
	b.SetBytes(truth.Bytes)
	discard := func(context.Context, []alert.Alert) error { return nil }
	var scanBest, watchBest, scanCPUBest, watchCPUBest, serialBest time.Duration
	for b.Loop() {
		cpu := cputime.Process()
		start := time.Now()
		var inputs []Input
		for _, p := range paths {
			in, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			inputs = append(inputs, Input{Name: p, R: in})
		}
		_, err := Scan(context.Background(), inputs, ScanOptions{Rules: rules.Builtin(), Deliver: discard})
		for _, in := range inputs {
			in.R.(*os.File).Close()
		}
		if err != nil {
			b.Fatal(err)
		}
		scanTook := time.Since(start)
		scanCPU := cputime.Process() - cpu

		m := NewMetrics(prom.NewRegistry(), nil)
		cpu = cputime.Process()
		start = time.Now()
		var serial time.Duration
		stats, stop := followBy(b, paths, false, WatchOptions{Rules: rules.Builtin(), Deliver: discard, Metrics: m, lookahead: ahead}, &serial)
		deadline := start.Add(10 * time.Minute)
		for m.Records.Value() < float64(truth.Records) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		watchTook := time.Since(start)
		watchCPU := cputime.Process() - cpu
		stop()
		if st := stats(); st.Records < truth.Records-int64(len(paths)) {
			b.Fatalf("read %d records of %d", st.Records, truth.Records)
		}
		if scanBest == 0 || scanTook < scanBest {
			scanBest = scanTook
		}
		if watchBest == 0 || watchTook < watchBest {
			watchBest = watchTook
		}
		if scanCPUBest == 0 || scanCPU < scanCPUBest {
			scanCPUBest = scanCPU
		}
		if watchCPUBest == 0 || watchCPU < watchCPUBest {
			watchCPUBest = watchCPU
		}
		if serialBest == 0 || serial < serialBest {
			serialBest = serial
		}
	}
	b.ReportMetric(float64(scanBest.Microseconds())/1000, "scan-ms")
	b.ReportMetric(float64(watchBest.Microseconds())/1000, "catchup-ms")
	b.ReportMetric(watchBest.Seconds()/scanBest.Seconds(), "catchup-x")
	// CPU (user and system, the whole process: the waiting loop's polls
	// are a few ms) says what wall time hides on a loaded machine.
	b.ReportMetric(float64(scanCPUBest.Microseconds())/1000, "scan-cpu-ms")
	b.ReportMetric(float64(watchCPUBest.Microseconds())/1000, "catchup-cpu-ms")
	// The watcher's goroutine alone (its thread's CPU, to the end of Run):
	// the serial part, a floor under catch-up's wall time on any number of
	// cores, and steadier than wall time on a loaded machine.
	b.ReportMetric(float64(serialBest.Microseconds())/1000, "watcher-cpu-ms")
}

// writeBacklog writes a generated log of GRACEGUARD_BENCH_MB megabytes
// (mb when unset) for a catch-up benchmark, and what the generator wrote.
func writeBacklog(b *testing.B, mb int) (string, loggen.Stats) {
	b.Helper()
	paths, truth := writeBacklogFiles(b, mb, 1)
	return paths[0], truth
}

// writeBacklogFiles is writeBacklog spread over n replicas' logs.
func writeBacklogFiles(b *testing.B, mb, n int) ([]string, loggen.Stats) {
	b.Helper()
	if v, _ := strconv.Atoi(os.Getenv("GRACEGUARD_BENCH_MB")); v > 0 {
		mb = v
	}
	var paths []string
	var ws []io.Writer
	var flush []func() error
	for i := range n {
		path := filepath.Join(b.TempDir(), fmt.Sprintf("backlog-%d.log", i))
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<20)
		paths, ws, flush = append(paths, path), append(ws, w), append(flush, w.Flush)
	}
	truth, err := loggen.WriteReplicas(ws, loggen.Config{Size: int64(mb) << 20, Seed: 1})
	for _, f := range flush {
		err = errors.Join(err, f())
	}
	if err != nil {
		b.Fatal(err)
	}
	return paths, truth
}
