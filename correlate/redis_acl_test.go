package correlate

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// An ACL user granted the read, write and scripting commands under the
// prefix (what a managed Redis's admin hands out, no @fast or @admin) can do
// all the store does: its Check, the script's calls, the plain batches,
// the claims and the moved chains. Those are the commands the store calls,
// inside its scripts too: one outside them (TIME is @fast only) passes the
// Check, which does not run the script, and fails every event after it.
func TestRedisWorksForAnACLUserOfReadWriteAndScripting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := rawClient(t, srv)
	if err := raw.Do(ctx, "ACL", "SETUSER", "gg", "on", ">gg-pass", "~graceguard:*",
		"+@read", "+@write", "+@scripting", "+@connection").Err(); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("gg", "gg-pass")
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	store := NewRedis(client, RedisOptions{})
	t.Cleanup(func() { store.Close() })
	if err := store.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// Redis lost everything (FLUSHDB, a restart without persistence)
	// since the Check: the next script call makes the birth mark.
	if err := raw.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	id := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	batch := batchOf(id, 1)
	if _, err := store.Apply(ctx, batch[1]); err != nil {
		t.Errorf("Apply (the script): %v", err)
	}
	if err := store.ApplyBatch(ctx, batchOf(id, 2)[:1], make([]Facts, 1)); err != nil {
		t.Errorf("ApplyBatch (plain commands behind a gate): %v", err)
	}
	if ok, err := store.Claim(ctx, "alert-1", time.Minute); err != nil || !ok {
		t.Errorf("Claim: %v, %v", ok, err)
	}
	if err := store.Unclaim(ctx, "alert-1"); err != nil {
		t.Errorf("Unclaim: %v", err)
	}
	if _, err := store.MovesFrom(ctx, batch[1].IP, batch[1].Time); err != nil {
		t.Errorf("MovesFrom: %v", err)
	}
}
