package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// A rotated generation read to its end stays watched for lines a writer
// appends to it late (source's endedwatch.go), for hours, and across
// restarts (the checkpoint keeps where it was read to). Its writer left
// it a drain's quiet ago: it must hold no event of the other files back.
// Taken for a file that had just reached its end, each one watched held
// every event idleSettle, and a catch-up over many generations (a restart
// after a kill, in the rotation torture) had the merge held the whole
// time, its queue full, and the last alert ten minutes late. The
// watcher's clock stands still here, so a hold would last for ever.
func TestAWatchedRotatedGenerationHoldsNoEventBack(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "state")
			appendRefreshes(t, path, 0, 10)
			r := startWatched(t, path, state)
			r.waitRecords(t, 10)
			old := r.firstFile()
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendRefreshes(t, path, 10, 10)
			r.waitRecords(t, 20)
			// The old generation drained: from here on it is watched.
			r.waitEnded(t, old)
			if restart {
				r.stop(t)
				r = startWatched(t, path, state)
				r.waitEnded(t, old) // read on from its position, drained again
			}
			base := r.records()
			appendRefreshes(t, path, 20, 10)
			r.waitRecords(t, base+10)
			testsync.WaitFor(t, "the new file's events to go through the merge", func() bool {
				return r.metrics.Held.Value() == 0
			})
			r.stop(t)
		})
	}
}

// watchRun is a Watcher and a real follower of one path, its clock
// standing still.
type watchRun struct {
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	ended   map[uint64]bool // inodes whose Ended batch was handled
	first   uint64          // the inode of the first file read
}

func startWatched(t *testing.T, path, state string) *watchRun {
	t.Helper()
	r := &watchRun{metrics: NewMetrics(prom.NewRegistry(), nil), done: make(chan error, 1), ended: map[uint64]bool{}}
	at := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	w, err := NewWatcher(WatchOptions{
		Rules: rules.Builtin(), StateDir: state, Deliver: discardAlerts, Metrics: r.metrics,
		now: func() time.Time { return at },
		handled: func(b source.Batch) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.first == 0 && len(b.Data) > 0 {
				r.first = b.ID.Ino
			}
			if b.Ended {
				r.ended[b.ID.Ino] = true
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	batches := follow(ctx, source.Options{
		Patterns: []string{path}, DrainQuiet: 50 * time.Millisecond,
		Positions: w.Positions(), PositionsWritten: w.PositionsWritten(),
	}, 64)
	go func() { r.done <- w.Run(context.WithoutCancel(ctx), batches) }()
	return r
}

func (r *watchRun) firstFile() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

func (r *watchRun) records() int { return int(r.metrics.Records.Value()) }

func (r *watchRun) waitRecords(t *testing.T, n int) {
	t.Helper()
	testsync.WaitFor(t, fmt.Sprintf("%d records read", n), func() bool { return r.records() >= n })
}

func (r *watchRun) waitEnded(t *testing.T, ino uint64) {
	t.Helper()
	testsync.WaitFor(t, "the rotated generation to drain", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.ended[ino]
	})
}

func (r *watchRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
}

// appendRefreshes appends n refreshes, each its own session, numbered
// from first and a millisecond apart in the log.
func appendRefreshes(t *testing.T, path string, first, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := first; i < first+n; i++ {
		ts := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05,000")
		if _, err := fmt.Fprintf(f, "[%s][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=t%04d,ou=shadow,o=Tremolo - NONE [198.51.100.%d] - [f%040d]\n",
			ts, i%64, i%10, i%250+1, i); err != nil {
			t.Fatal(err)
		}
	}
}
