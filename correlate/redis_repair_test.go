package correlate

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// A key of the history holding another type (planted by hand) fails every
// round trip that writes it. The failover store used to take that for an
// outage, reconnect at once (Redis answers), fail the write-back on the
// same key and so on forever: up, yet no batch of any user reached Redis,
// the write-back grew to its cap and another replica never saw a refresh
// again. The write-back now deletes the key (logging it) and carries on,
// and what the stream taught is in Redis for the other replica, as the
// memory store would have it.
func TestFailoverRepairsAKeyOfTheWrongType(t *testing.T) {
	t.Parallel()
	// In log order: a late event's facts depend on whether the failed
	// round trip had applied what was logged before it, which memory has
	// not learned yet; that is no repair's to tell.
	stream := parityStream(400)
	slices.SortStableFunc(stream, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	u0 := stream[0].User
	for _, tc := range []struct{ name, key string }{
		{"addresses, written plainly", "u:" + member(u0) + ":i"},
		{"reuses, written by the script", "u:" + member(u0) + ":x"},
		{"the session table", "st"},
		{"the users index", "users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := redistest.Start(t)
			raw := rawClient(t, srv)
			if err := raw.Set(ctx, "graceguard:h2:"+tc.key, "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			store := newFailover(ctx, NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{}), NewMemory(Limits{}),
				slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), fastProbe)
			t.Cleanup(func() { store.Close() })
			for i := 0; i < len(stream); i += 40 {
				batch := append([]Observation(nil), stream[i:min(i+40, len(stream))]...)
				store.ApplyBatch(ctx, batch, make([]Facts, len(batch)))
			}
			// A failure met by the last batch leaves the store down until
			// its probe answers; the next flush writes back.
			testsync.WaitFor(t, "the reconnect", store.Up)
			store.Flush(ctx)
			if !store.Up() || store.WriteBackPending() != 0 || store.WriteBackDropped() != 0 {
				t.Fatalf("up %v, %d to write back, %d dropped: the shared state must recover", store.Up(), store.WriteBackPending(), store.WriteBackDropped())
			}
			if n := store.Errors(); n > 2 {
				t.Errorf("%d failures: the key must be repaired once, not failed on at every batch\n%s", n, logs.String())
			}
			if typ := raw.Type(ctx, "graceguard:h2:"+tc.key).Val(); typ != "zset" && typ != "hash" && typ != "none" {
				t.Errorf("the key is still a %s", typ)
			}
			if !strings.Contains(logs.String(), "graceguard:h2:"+tc.key) {
				t.Errorf("the log must name the key deleted:\n%s", logs.String())
			}

			// The other replica judges each user's replay against Redis,
			// the reference against one memory store that saw it all.
			other := NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{Owner: "other"})
			t.Cleanup(func() { other.Close() })
			mem := NewMemory(Limits{})
			for _, o := range stream {
				if _, err := mem.Apply(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			end := stream[len(stream)-1].Time.Add(time.Minute)
			for _, u := range []UserID{u0, stream[1].User} {
				reuse := Observation{User: u, Time: end, IP: stream[0].IP, Action: Reuse, NeedFacts: true, Source: "9:1", Offset: 1, Digest: 7}
				want, _ := mem.Apply(ctx, reuse)
				got, err := other.Apply(ctx, reuse)
				if err != nil {
					t.Fatal(err)
				}
				// Not whether the reuses were foreign: a round trip failing in
				// its script calls applied its plain writes, so the write-back
				// judges a reuse's rotating refresh with later refreshes in
				// the user's capped refreshes (left for another change).
				got.ForeignReuses1h, want.ForeignReuses1h = 0, 0
				if !reflect.DeepEqual(agreed(got), agreed(want)) {
					t.Errorf("%s's replay on the other replica:\n got %+v\nwant %+v", u.DN, agreed(got), agreed(want))
				}
			}
		})
	}
}

// Check's probe key of another type failed every probe: the store stayed
// down for good, though Redis could do all its work.
func TestCheckRepairsItsProbeKeyOfTheWrongType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	if err := rawClient(t, srv).HSet(ctx, "graceguard:probe:graceguard", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if store := newTestFailover(t, srv); !store.Up() {
		t.Fatal("down over its probe key's type")
	}
}
