package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Batched, learn-only refreshes and logins go as plain commands grouped per
// key, the rest through the script: a stream where users come back within a
// batch, change address, reuse tokens, share sessions and arrive a little
// out of order gives, batched, the facts the memory store gives one
// observation at a time, a session's addresses in the same order (the
// session table is the same table: TestRedisSessionTableIsTheMemoryStores).
//
// At small caps the stream goes in log order (memory and Redis break ties
// of late events differently at the caps, which is not what is looked at
// here; and a plain group learns a user's addresses at once, so one the
// memory store evicted and saw again inside the group keeps, in Redis, its
// first sight from before, which only a reuse logged between the two and
// learned after them can tell), one event at a time and in batches that mix
// plain groups and script calls; out of order only one at a time. That
// holds the gate (redis.lua): a group's users expire and are evicted as the
// memory store's would through the group's events, before its writes, and
// what those writes must lose is cut by the next script call.
func TestRedisBatchesAgreeWithMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		limits   Limits
		batch    int
		logOrder bool
	}{
		{"default caps, whole batches", Limits{}, 512, false},
		{"small caps, out of order, one at a time", Limits{MaxIPsPerUser: 3, MaxRefreshes: 4}, 1, false},
		{"small caps, small batches", Limits{MaxIPsPerUser: 3, MaxRefreshes: 4}, 37, true},
		{"users cap, one at a time", Limits{MaxUsers: 6}, 1, true},
		{"users cap", Limits{MaxUsers: 6}, 37, true},
		{"address TTL, one at a time", Limits{IPTTL: 3 * time.Second}, 1, true},
		{"address TTL", Limits{IPTTL: 3 * time.Second}, 37, true},
		{"users cap and address TTL, long batches", Limits{MaxUsers: 6, IPTTL: 3 * time.Second}, 500, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem, shared := NewMemory(tc.limits), newTestRedis(t, tc.limits)
			// One at a time, every event is a round trip: 1,000 of them
			// fail on each slip of the caps, the TTL and the gate that
			// 3,000 failed on (an off-by-one in the address TTL, the
			// addresses' cap and the users' cap, tried), in a third of
			// the time.
			obs := parityStream(3000)
			if tc.batch == 1 {
				obs = obs[:1000]
			}
			if tc.logOrder {
				slices.SortStableFunc(obs, func(a, b Observation) int { return a.Time.Compare(b.Time) })
			}
			want := make([]Facts, len(obs))
			for i, o := range obs {
				want[i], _ = mem.Apply(ctx, o)
			}
			got := make([]Facts, len(obs))
			for start := 0; start < len(obs); start += tc.batch {
				end := min(start+tc.batch, len(obs))
				if err := shared.ApplyBatch(ctx, obs[start:end], got[start:end]); err != nil {
					t.Fatal(err)
				}
			}
			bad := 0
			for i := range obs {
				if !obs[i].NeedFacts {
					continue
				}
				if w, g := agreed(want[i]), agreed(got[i]); !reflect.DeepEqual(w, g) {
					if bad == 0 {
						t.Errorf("observation %d (%+v):\nredis  %+v\nmemory %+v", i, obs[i], g, w)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d observations' facts differ", bad)
			}
			ms, rs := statsOf(t, mem), statsOf(t, shared)
			if ms.UsersEvicted != rs.UsersEvicted || ms.UsersExpired != rs.UsersExpired || ms.Users != rs.Users {
				t.Errorf("redis: %d users, %d evicted, %d expired; memory: %d, %d, %d",
					rs.Users, rs.UsersEvicted, rs.UsersExpired, ms.Users, ms.UsersEvicted, ms.UsersExpired)
			}
		})
	}
}

// agreed is what both stores must agree on.
func agreed(f Facts) Facts {
	if f.Prev != nil {
		p := *f.Prev
		f.Prev = &p
	}
	return f
}

// parityStream is n named observations of 12 users over 6 addresses, in
// log order but for one in 20 that comes up to 5 s late.
func parityStream(n int) []Observation {
	r := rand.New(rand.NewPCG(7, 11))
	out := make([]Observation, n)
	for i := range out {
		at := time.Duration(i) * 200 * time.Millisecond
		if r.IntN(20) == 0 {
			at -= time.Duration(r.IntN(5000)) * time.Millisecond
		}
		u := r.IntN(12)
		o := Observation{
			User:    UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", u)},
			Session: fmt.Sprintf("s%d-%d", u, r.IntN(3)),
			Time:    t0.Add(at),
			IP:      netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + r.IntN(6))}),
			Action:  Refresh,
			Source:  "8:1", Offset: int64(i) * 300, Digest: uint64(i) + 1<<32,
			Attribution: parser.AttrJoined,
		}
		switch k := r.IntN(10); {
		case k == 0:
			o.Action, o.NeedFacts = Reuse, true
		case k == 1:
			o.Action = Login
		case k == 2:
			o.NeedFacts = true
		}
		out[i] = o
	}
	return out
}
