package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// The history moved under "h2:" when learn-only events stopped going
// through the script (the first layout's meta kept the latest refresh, which
// plain commands cannot). A history in the first layout is not read: the
// user is new to this version, and the old keys expire.
func TestRedisDoesNotReadTheFirstLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	m := member(user)
	u := store.prefix + "u:" + m
	at := func(d time.Duration) string { return micros(t0.Add(d)) }
	// What the previous script wrote for one refresh from 198.51.100.23.
	pipe := store.client.Pipeline()
	pipe.HSet(ctx, u+":m", "first", at(0), "last", at(0), "seq", "1", "lt", at(0), "lr", "0000000000000000.0000000100000001@8:1|198.51.100.23|s1")
	pipe.Do(ctx, "ZADD", u+":r", at(0), "0000000000000000.0000000100000001@8:1|198.51.100.23|s1")
	pipe.Do(ctx, "ZADD", u+":i", at(0), "198.51.100.23")
	pipe.Do(ctx, "ZADD", store.prefix+"users", at(0), m)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	obs := []Observation{{User: user, Session: "s1", Time: t0.Add(31 * time.Second), IP: netip.MustParseAddr("203.0.113.9"), Action: Reuse,
		NeedFacts: true, Source: "8:1", Offset: 600, Digest: 1<<32 | 3}}
	facts := make([]Facts, len(obs))
	if err := store.ApplyBatch(ctx, obs, facts); err != nil {
		t.Fatal(err)
	}
	if f := facts[0]; f.Prev != nil || len(f.UserIPs) != 0 || !f.FirstSeen.IsZero() {
		t.Fatalf("facts %+v, want those of a new user", f)
	}
}
