package correlate

import (
	"context"
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
