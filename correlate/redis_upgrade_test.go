package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// A history written before meta kept the latest refresh (no lt, lr or mf)
// is read as it was: the first refresh after the upgrade finds the one
// before it in the refreshes, so the move it makes is recorded and a reuse
// after it is judged against it; from then on meta knows the latest.
func TestRedisReadsAHistoryFromBeforeMetaKeptTheLatestRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	m := member(user)
	u := store.prefix + "u:" + m
	at := func(d time.Duration) string { return micros(t0.Add(d)) }
	// What the previous script wrote for one refresh from 198.51.100.23.
	pipe := store.client.Pipeline()
	pipe.HSet(ctx, u+":m", "first", at(0), "last", at(0), "seq", "1")
	pipe.Do(ctx, "ZADD", u+":r", at(0), "0000000000000000.0000000100000001@8:1|198.51.100.23|s1")
	pipe.Do(ctx, "ZADD", u+":i", at(0), "198.51.100.23")
	pipe.Do(ctx, "ZADD", store.prefix+"users", at(0), m)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	obs := []Observation{
		{User: user, Session: "s1", Time: t0.Add(30 * time.Second), IP: netip.MustParseAddr("192.0.2.66"), Action: Refresh, Source: "8:1", Offset: 300, Digest: 1<<32 | 2},
		{User: user, Session: "s1", Time: t0.Add(31 * time.Second), IP: netip.MustParseAddr("203.0.113.9"), Action: Reuse, NeedFacts: true, Source: "8:1", Offset: 600, Digest: 1<<32 | 3},
	}
	facts := make([]Facts, len(obs))
	if err := store.ApplyBatch(ctx, obs, facts); err != nil {
		t.Fatal(err)
	}
	if p := facts[1].Prev; p == nil || p.IP != obs[0].IP || !p.Time.Equal(obs[0].Time) {
		t.Fatalf("the reuse's prev is %+v, want the refresh from %s", p, obs[0].IP)
	}
	moves, err := store.MovesFrom(ctx, netip.MustParseAddr("198.51.100.23"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 1 || moves[0].To != obs[0].IP || !moves[0].FromTime.Equal(t0) {
		t.Fatalf("moves away from the refresh written before the upgrade: %+v, want one to %s", moves, obs[0].IP)
	}
	lt, err := store.client.HGet(ctx, u+":m", "lt").Result()
	if err != nil || lt != at(30*time.Second) {
		t.Fatalf("meta's latest refresh is %q (%v), want the refresh's time %s", lt, err, at(30*time.Second))
	}
}
