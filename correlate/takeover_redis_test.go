package correlate

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/parser"
)

// Two replicas, a watcher each, one Redis history: the victim's refresh and
// the thief's are logged by replica A, the refusal by replica B. B's
// watcher attributes it through the shared index of moved chains: asked at
// once, or, for a watcher sending batches (a Failover store, as watch
// runs), in turn with the batches on their way.
func TestTakeoverAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, batched := range []bool{false, true} {
		t.Run(map[bool]string{false: "one at a time", true: "batched"}[batched], func(t *testing.T) {
			testTakeoverAcrossReplicas(t, batched)
		})
	}
}

func testTakeoverAcrossReplicas(t *testing.T, batched bool) {
	srv := redistest.Start(t)
	ctx := context.Background()
	correlator := func() *Correlator {
		opt, err := redis.ParseURL(srv.URL(0))
		if err != nil {
			t.Fatal(err)
		}
		shared := NewRedis(redis.NewClient(opt), RedisOptions{})
		if !batched {
			t.Cleanup(func() { shared.Close() })
			return NewCorrelator(shared, 0)
		}
		f := NewFailover(ctx, shared, NewMemory(Limits{}), nil)
		t.Cleanup(func() { f.Close() })
		c := NewCorrelator(f, 0)
		c.Defer = 512
		return c
	}
	a, b := correlator(), correlator()
	var got []Context
	judge := func(_ context.Context, c *Context) error { got = append(got, copyContext(c)); return nil }
	feed := func(c *Correlator, events ...parser.Event) {
		for i := range events {
			if err := c.Observe(ctx, &events[i], judge); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(ctx, judge); err != nil {
			t.Fatal(err)
		}
		if err := c.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.store.(interface{ Flush(context.Context) error }).Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	feed(a,
		ev(parser.KindTokenOK, 0, "198.51.100.23", source("pod-a")),
		ev(parser.KindTokenOK, 30*time.Second, "192.0.2.66", source("pod-a")))
	// A late race of another user at an address no chain left stays unattributed.
	feed(b, refusal(time.Minute, "w9"), azFail(time.Minute, "198.51.100.99", "w9"))
	feed(b, refusal(time.Minute+time.Second, "w8"), azFail(time.Minute+time.Second, "198.51.100.23", "w8"))
	fs := fails(got)
	if len(fs) != 2 || fs[0].Takeover != nil || fs[1].Takeover == nil {
		t.Fatalf("takeovers %v; want none for the first refusal and one for the second", fs)
	}
	m := fs[1].Takeover.Moves
	if len(m) != 1 || m[0].User.DN != "uid=a,o=T" || m[0].To.String() != "192.0.2.66" || !m[0].FromTime.Equal(t0) {
		t.Fatalf("moves %+v", m)
	}
	// The user refreshing from the old address again clears the move.
	feed(a, ev(parser.KindTokenOK, 2*time.Minute, "198.51.100.23", source("pod-a")))
	got = nil
	feed(b, refusal(2*time.Minute+time.Second, "w7"), azFail(2*time.Minute+time.Second, "198.51.100.23", "w7"))
	if fs := fails(got); len(fs) != 1 || fs[0].Takeover != nil {
		t.Fatalf("after the user came back: %+v", fs)
	}
}

// roundTrips counts a client's round trips: its pipelines, with the
// commands each held, and its single commands. The first pipeline waits
// for hold to close.
type roundTrips struct {
	mu        sync.Mutex
	pipelines [][]string
	singles   []string
	hold      chan struct{}
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.singles = append(h.singles, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		first := len(h.pipelines) == 0
		var names []string
		for _, c := range cmds {
			names = append(names, c.Name())
		}
		h.pipelines = append(h.pipelines, names)
		h.mu.Unlock()
		if first {
			<-h.hold
		}
		return next(ctx, cmds)
	}
}

// A refusal held while batches are on their way (a watcher catching up)
// asks for its moves at the end of the round trip of the batch before it,
// not in one of its own: after that batch's refreshes (the move it finds)
// and before the next batch's (a refresh from the refused address after
// the move, which would hide it).
func TestRefusalLookupRidesTheBatchBeforeIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	store := NewFailover(ctx, pooled(NewRedis(client, RedisOptions{})), NewMemory(Limits{}), nil)
	t.Cleanup(func() { store.Close() })
	hook := &roundTrips{hold: make(chan struct{})}
	client.AddHook(hook)

	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	refresh := func(i int, ip netip.Addr) Observation {
		return Observation{User: user, Session: "s1", Time: t0.Add(time.Duration(i) * time.Second), IP: ip, Action: Refresh,
			Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
	}
	other := Observation{User: UserID{IdP: "k8sIdp", DN: "uid=z,o=T"}, Time: t0, IP: b, Action: Refresh, Source: "8:1", Offset: 1, Digest: 1 << 32}
	held := store.StartBatch(ctx, []Observation{other}, make([]Facts, 1)) // waits in the hook
	before := store.StartBatch(ctx, []Observation{refresh(1, a), refresh(2, b)}, make([]Facts, 2))
	moves := store.StartMovesFrom(ctx, a, t0.Add(10*time.Second))
	after := store.StartBatch(ctx, []Observation{refresh(3, a)}, make([]Facts, 1))
	close(hook.hold)
	held()
	before()
	got := moves()
	after()
	if len(got) != 1 || got[0].To != b || !got[0].FromTime.Equal(t0.Add(time.Second)) {
		t.Errorf("moves away from %s: %+v, want the move to %s at 2 s", a, got, b)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	// The connection's own set-up (HELLO, CLIENT SETINFO) aside.
	var batches [][]string
	for _, p := range hook.pipelines {
		if slices.Contains(p, "evalsha") {
			batches = append(batches, p)
		}
	}
	scripts := slices.DeleteFunc(slices.Clone(hook.singles), func(n string) bool { return n != "eval" && n != "evalsha" })
	if len(scripts) > 0 || len(batches) != 3 || !slices.Contains(batches[1], "eval") {
		t.Errorf("round trips: batches %q, scripts alone %q; want 3 batches, the lookup in the second's", batches, scripts)
	}
}
