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

// A Redis that evicts keys when full loses histories and claims without a
// word, so a watcher starting on one says so; a limit with noeviction, or
// a policy without a limit, evicts nothing.
func TestFailoverWarnsWhenRedisEvicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	admin := redis.NewClient(failoverOptions(t, srv))
	defer admin.Close()
	for _, tt := range []struct {
		maxmemory, policy string
		warn              bool
	}{
		{"0", "noeviction", false},
		{"0", "allkeys-lru", false},
		{"100mb", "noeviction", false},
		{"100mb", "allkeys-lru", true},
		{"100mb", "volatile-ttl", true},
	} {
		if err := admin.ConfigSet(ctx, "maxmemory", tt.maxmemory).Err(); err != nil {
			t.Fatal(err)
		}
		if err := admin.ConfigSet(ctx, "maxmemory-policy", tt.policy).Err(); err != nil {
			t.Fatal(err)
		}
		var logs testsync.Buffer
		store := NewFailover(ctx, NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{}), NewMemory(Limits{}), slog.New(slog.NewTextHandler(&logs, nil)))
		store.Close()
		warned := strings.Contains(logs.String(), "Redis evicts keys")
		if warned != tt.warn || warned && !strings.Contains(logs.String(), "policy="+tt.policy) {
			t.Errorf("maxmemory %s, policy %s: warned %v, want %v:\n%s", tt.maxmemory, tt.policy, warned, tt.warn, logs.String())
		}
	}
}

func TestParseEviction(t *testing.T) {
	t.Parallel()
	info := "# Memory\r\nused_memory:1048576\r\nmaxmemory:104857600\r\nmaxmemory_human:100.00M\r\nmaxmemory_policy:allkeys-lfu\r\n"
	if e := parseEviction(info); e != (Eviction{Policy: "allkeys-lfu", MaxBytes: 104857600}) || !e.Evicts() {
		t.Errorf("parsed %+v", e)
	}
	if e := parseEviction("# Memory\r\n"); e.Evicts() {
		t.Errorf("an INFO without the fields evicts: %+v", e)
	}
}
