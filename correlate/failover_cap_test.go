package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// writeBackObs is the i-th observation a watcher learned while Redis was down.
func writeBackObs(i int) Observation {
	return Observation{
		User:   UserID{DN: "uid=u,o=Tremolo"},
		Time:   time.Unix(0, 0).Add(time.Duration(i) * time.Millisecond),
		IP:     netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
		Action: Refresh,
	}
}

// TestWriteBackKeepsTheNewestAtItsCap: past the cap the oldest go, counted,
// and what stays is the newest, oldest first, for any order of single keeps
// and batches.
func TestWriteBackKeepsTheNewestAtItsCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cap   int
		kept  int
		batch int
	}{
		{"under the cap", 8, 5, 1},
		{"past it one at a time", 8, 37, 1},
		{"past it in batches", 8, 37, 5},
		{"a batch larger than the cap", 8, 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Failover{writeBackCap: tc.cap}
			for i := 0; i < tc.kept; i += tc.batch {
				var obs []Observation
				for j := i; j < min(i+tc.batch, tc.kept); j++ {
					obs = append(obs, writeBackObs(j))
				}
				f.keepLocked(obs...)
				if len(f.writeBack) > tc.cap {
					t.Fatalf("after %d observations %d wait, over the cap of %d", i+len(obs), len(f.writeBack), tc.cap)
				}
			}
			wantKept := min(tc.kept, tc.cap)
			if got := int(f.WriteBackDropped()); got != tc.kept-wantKept {
				t.Errorf("dropped %d, want %d", got, tc.kept-wantKept)
			}
			if len(f.writeBack) != wantKept {
				t.Fatalf("%d wait, want %d", len(f.writeBack), wantKept)
			}
			for k, o := range f.writeBack {
				if want := writeBackObs(tc.kept - wantKept + k); o.Time != want.Time {
					t.Errorf("waiting[%d] is from %v, want the newest in order (%v)", k, o.Time, want.Time)
				}
			}
		})
	}
}

// BenchmarkKeepAtWriteBackCap is what one more observation costs a watcher
// whose Redis has been down long enough to fill the write-back (100,000).
func BenchmarkKeepAtWriteBackCap(b *testing.B) {
	f := &Failover{}
	for i := range maxWriteBack {
		f.keepLocked(writeBackObs(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.keepLocked(writeBackObs(i))
	}
}

// The metrics read how much waits to be written back while a write-back
// runs: it holds the lock across its round trips, and a scrape waited
// behind all of them (helper-76: 5.5 s for 100,000 observations), then saw
// the count jump from all to none.
func TestWriteBackPendingAnswersDuringAWriteBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newTestFailover(t, srv)
	f.mu.Lock()
	for i := range 3 * writeBackChunk {
		f.keepLocked(writeBackObs(i))
	}
	f.mu.Unlock()
	// Redis answers nothing for a while: the write-back's first round trip
	// waits, holding the lock.
	admin := redis.NewClient(failoverOptions(t, srv))
	defer admin.Close()
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "800", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { done <- f.wroteBack(context.Background()) }()
	testsync.WaitFor(t, "the write-back to take the lock", func() bool {
		if !f.mu.TryLock() {
			return true
		}
		f.mu.Unlock()
		return false
	})
	start := time.Now()
	n := f.WriteBackPending()
	if waited := time.Since(start); waited > 200*time.Millisecond || n != 3*writeBackChunk {
		t.Errorf("WriteBackPending() = %d after %v; want %d at once", n, waited, 3*writeBackChunk)
	}
	if !<-done {
		t.Fatal("the write-back failed")
	}
	if n := f.WriteBackPending(); n != 0 {
		t.Errorf("WriteBackPending() = %d after the write-back, want 0", n)
	}
}
