package correlate

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// A shared history that vanishes (FLUSHDB here) is counted once by every
// watcher that shared it, whichever way it talks to Redis next: a script
// call for an event whose facts are asked (Apply), a batch whose
// learn-only events go as plain commands behind a gate (ApplyBatch), or
// the Check a Failover makes when Redis answers again after an outage. Before
// the birth mark nothing counted it: the first-seen facts silently started
// over.
func TestRedisCountsTheSharedHistoryLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	byApply, byBatch, byCheck := redisStoreOn(t, srv, Limits{}), redisStoreOn(t, srv, Limits{}), redisStoreOn(t, srv, Limits{})
	steps := []struct {
		name  string
		flush bool
		want  int64
	}{
		{"first calls, an empty Redis", false, 0},
		{"history kept", false, 0},
		{"FLUSHDB", true, 1},
		{"history kept since", false, 1},
		{"FLUSHDB again", true, 2},
	}
	for i, step := range steps {
		if step.flush {
			if err := raw.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		batch := batchOf(u, i+1)
		if _, err := byApply.Apply(ctx, batch[1]); err != nil {
			t.Fatal(err)
		}
		if err := byBatch.ApplyBatch(ctx, batch[:1], make([]Facts, 1)); err != nil {
			t.Fatal(err)
		}
		if err := byCheck.Check(ctx); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]*Redis{"Apply": byApply, "ApplyBatch": byBatch, "Check": byCheck} {
			if got := s.HistoryLost(); got != step.want {
				t.Errorf("%s, then %s: %d losses counted, want %d", step.name, name, got, step.want)
			}
		}
	}
}

// A Redis that comes back from an outage empty (restarted without
// persistence) lost the history: the Failover says so once in its log.
func TestFailoverWarnsWhenRedisCameBackWithoutTheHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	var logs testsync.Buffer
	store := newFailover(ctx, NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{}), NewMemory(Limits{}),
		slog.New(slog.NewTextHandler(&logs, nil)), probeBackoff{min: 10e6, max: 50e6})
	t.Cleanup(func() { store.Close() })
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	if _, err := store.Apply(ctx, batchOf(u, 1)[1]); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	// The next call fails on the dead connection and starts the probe.
	store.Apply(ctx, batchOf(u, 2)[1])
	testsync.WaitFor(t, "the reconnect", store.Up)
	if got := store.HistoryLost(); got != 1 {
		t.Errorf("%d losses counted after Redis came back empty, want 1", got)
	}
	if n := strings.Count(logs.String(), "the shared history in Redis was lost"); n != 1 {
		t.Errorf("the loss logged %d times, want once:\n%s", n, logs.String())
	}
	if _, err := store.Apply(ctx, batchOf(u, 3)[1]); err != nil {
		t.Fatal(err)
	}
	if got := store.HistoryLost(); got != 1 {
		t.Errorf("%d losses counted once the history grew again, want still 1", got)
	}
}

// The birth mark, set to another type by hand, is replaced rather than
// failing every script call and Check.
func TestRedisBirthMarkOfTheWrongTypeIsReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	store := redisStoreOn(t, srv, Limits{})
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	for _, via := range []string{"Check", "script"} {
		if err := raw.Del(ctx, "graceguard:h2:born").Err(); err != nil {
			t.Fatal(err)
		}
		if err := raw.RPush(ctx, "graceguard:h2:born", "by hand").Err(); err != nil {
			t.Fatal(err)
		}
		var err error
		if via == "Check" {
			err = store.Check(ctx)
		} else {
			_, err = store.Apply(ctx, batchOf(u, 1)[1])
		}
		if err != nil {
			t.Fatalf("%s with a list at the birth mark: %v", via, err)
		}
		if typ := raw.Type(ctx, "graceguard:h2:born").Val(); typ != "string" {
			t.Errorf("%s left a %s at the birth mark, want a string", via, typ)
		}
	}
}
