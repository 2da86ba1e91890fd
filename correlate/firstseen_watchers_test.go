package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// twoFailovers are two Failovers sharing a Redis, each with its own local
// store, at a cap of two addresses a user.
func twoFailovers(t *testing.T, srv *redistest.Server) (a, b *Failover) {
	t.Helper()
	l := Limits{MaxIPsPerUser: 2}
	mk := func(owner string) *Failover {
		f := NewFailover(context.Background(), NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{Owner: owner, Limits: l}), NewMemory(l), nil)
		t.Cleanup(func() { f.Close() })
		return f
	}
	return mk("a"), mk("b")
}

// An address another watcher's addresses pushed out of Redis (the cap),
// seen again by a watcher whose local store still holds it, is back in the
// user's addresses: its first sight is the return, as the memory store
// has it (evicted, then seen again), not "before any event". Else a reuse
// before the return, judged after it, finds a thief's address known (the
// first case), and another watcher's later first sight of it makes a reuse
// after the return find the address new (the second: a false alert).
func TestFirstSightOfAnAddressBackAfterRedisEvictedIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x, y, z := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	refresh := func(u UserID, d time.Duration, ip netip.Addr, source string, offset int64) Observation {
		return Observation{User: u, Time: t0.Add(d), IP: ip, Action: Refresh, Source: source, Offset: offset}
	}
	learn := func(f *Failover, obs ...Observation) {
		t.Helper()
		if err := f.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
			t.Fatal(err)
		}
	}
	reuseSeen := func(f *Failover, u UserID, d time.Duration) bool {
		t.Helper()
		facts, err := f.Apply(ctx, Observation{User: u, Time: t0.Add(d), IP: x, Action: Reuse, NeedFacts: true, Source: "c", Offset: 1})
		if err != nil {
			t.Fatal(err)
		}
		return facts.IPSeen
	}

	t.Run("a thief's address first seen after the reuse", func(t *testing.T) {
		t.Parallel()
		a, b := twoFailovers(t, redistest.Start(t))
		u := UserID{IdP: "k8sIdp", DN: "uid=thief,o=T"}
		learn(a, refresh(u, time.Minute, x, "a", 1))                                         // the thief's refresh, after the reuse
		learn(b, refresh(u, 2*time.Minute, y, "b", 1), refresh(u, 3*time.Minute, z, "b", 2)) // x goes (the cap)
		learn(a, refresh(u, 4*time.Minute, x, "a", 2))                                       // a's local store holds x
		if reuseSeen(b, u, 0) {
			t.Error("the reuse at t0 finds the thief's address, first seen a minute after it, known")
		}
	})
	t.Run("an address seen again before the reuse", func(t *testing.T) {
		t.Parallel()
		a, b := twoFailovers(t, redistest.Start(t))
		u := UserID{IdP: "k8sIdp", DN: "uid=home,o=T"}
		learn(a, refresh(u, 0, x, "a", 1))
		learn(b, refresh(u, time.Minute, y, "b", 1), refresh(u, 2*time.Minute, z, "b", 2)) // x goes (the cap)
		learn(a, refresh(u, 3*time.Minute, x, "a", 2))                                     // back, a's local store held it
		learn(b, refresh(u, 5*time.Minute, x, "b", 3))                                     // b's first sight of it
		if !reuseSeen(a, u, 4*time.Minute) {
			t.Error("the reuse at 4m finds the address seen at 3m new")
		}
	})
}
