package correlate

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// batchOf is batch i of a user's backlog: a refresh from an address of its
// own, and from the second on a grace reuse after it that needs its facts.
func batchOf(u UserID, i int) []Observation {
	at := t0.Add(time.Duration(i) * time.Minute)
	b := []Observation{{User: u, Time: at, IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), Action: Refresh,
		Source: "8:1234", Offset: int64(i) * 100, Digest: uint64(i) + 1}}
	if i > 0 {
		b = append(b, Observation{User: u, Time: at.Add(time.Second), IP: netip.MustParseAddr("192.0.2.66"), Action: Reuse, NeedFacts: true,
			Source: "8:1234", Offset: int64(i)*100 + 50, Digest: uint64(i) + 1000})
	}
	return b
}

// failoverOptions are the client options of a Failover's tests over srv:
// no retries, so that a failure is the store's to handle at once. Nor
// dials again: go-redis tries a refused dial five times, 100 ms apart, so
// each probe of a stopped Redis took 400 ms.
func failoverOptions(t *testing.T, srv *redistest.Server) *redis.Options {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	return opt
}

// fastProbe is the probe backoff of the tests' Failovers: a test waits for
// the reconnect it looks at, not for the product's backoff (100 ms
// doubling: five probes took 3 s).
var fastProbe = probeBackoff{min: time.Millisecond, max: 20 * time.Millisecond}

func newTestFailover(t *testing.T, srv *redistest.Server) *Failover {
	t.Helper()
	opt := failoverOptions(t, srv)
	f := newFailover(context.Background(), NewRedis(redis.NewClient(opt), RedisOptions{}), NewMemory(Limits{}), nil, fastProbe)
	t.Cleanup(func() { f.Close() })
	return f
}

// learnedElsewhere has another watcher learn u's login an hour before t0,
// so that only Redis knows it, and returns that time.
func learnedElsewhere(t *testing.T, srv *redistest.Server, u UserID) time.Time {
	t.Helper()
	other := NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{Owner: "other"})
	defer other.Close()
	at := t0.Add(-time.Hour)
	if err := other.Learn(context.Background(), []Observation{{User: u, Time: at, IP: netip.MustParseAddr("203.0.113.7"), Action: Login}}); err != nil {
		t.Fatal(err)
	}
	return at
}

// Batches started one after another without waiting reach Redis in the
// order they were started, and each is answered with Redis's facts as they
// stood after the batches before it.
func TestFailoverBatchesOnTheirWayKeepOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	firstSeen := learnedElsewhere(t, srv, u)
	const n = 12
	facts := make([][]Facts, n)
	waits := make([]func(), n)
	for i := range n {
		b := batchOf(u, i)
		facts[i] = make([]Facts, len(b))
		waits[i] = store.StartBatch(ctx, b, facts[i])
	}
	for i := range n {
		waits[i]()
		if i == 0 {
			continue
		}
		f := facts[i][1]
		if !f.FirstSeen.Equal(firstSeen) {
			t.Errorf("batch %d: first seen %v, want Redis's %v", i, f.FirstSeen, firstSeen)
		}
		if f.Prev == nil || f.Prev.IP != netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}) {
			t.Errorf("batch %d: previous refresh %+v, want the batch's own", i, f.Prev)
		}
		if f.Reuses1h != i {
			t.Errorf("batch %d: %d reuses in the hour, want %d", i, f.Reuses1h, i)
		}
	}
}

// When Redis goes while batches are on their way, every one of them is
// answered (with the local facts), and what Redis did not get waits to be
// written back in log order, whichever batch met the outage first.
func TestFailoverBatchesOnTheirWayWhenRedisGoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	const n = 8
	facts := make([][]Facts, n)
	waits := make([]func(), n)
	for i := range n {
		if i == 2 {
			srv.Stop()
		}
		b := batchOf(u, i)
		facts[i] = make([]Facts, len(b))
		waits[i] = store.StartBatch(ctx, b, facts[i])
	}
	for i := range n {
		waits[i]()
		if i > 0 && facts[i][1].Prev == nil {
			t.Errorf("batch %d: no previous refresh in the facts", i)
		}
	}
	if store.Up() {
		t.Fatal("up with Redis stopped")
	}
	store.mu.Lock()
	kept := slices.Clone(store.writeBack)
	store.mu.Unlock()
	if len(kept) < 2*(n-2) {
		t.Errorf("%d observations kept to write back, want at least the %d of the batches after the stop", len(kept), 2*(n-2))
	}
	if !slices.IsSortedFunc(kept, func(a, b Observation) int { return a.Time.Compare(b.Time) }) {
		t.Error("what waits to be written back is not in log order")
	}
	srv.Restart()
	testsync.WaitFor(t, "the reconnect", store.Up)
	f := make([]Facts, 2)
	store.StartBatch(ctx, batchOf(u, n), f)()
	if want := netip.AddrFrom4([4]byte{198, 51, 100, n + 1}); f[1].Prev == nil || f[1].Prev.IP != want {
		t.Errorf("after the reconnect: previous refresh %+v, want %v", f[1].Prev, want)
	}
	// The restarted Redis lost its data: it knows the reuses written back.
	want := 1
	for _, o := range kept {
		if o.Action == Reuse {
			want++
		}
	}
	if f[1].Reuses1h != want {
		t.Errorf("after the reconnect: %d reuses in the hour, want %d (those written back and this one)", f[1].Reuses1h, want)
	}
}
