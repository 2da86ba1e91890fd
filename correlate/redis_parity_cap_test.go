package correlate

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestRedisBatchesAgreeWithMemory's stream, in log order, with the users
// and the addresses' TTL at small caps, which that test never reaches (12
// users, default MaxUsers and IPTTL): one event at a time and in batches
// that mix plain groups and script calls, Redis's facts are memory's. It
// holds the gate (redis.lua): a group's users expire and are evicted as the
// memory store's would through the group's events, before its writes, and
// what those writes must lose is cut by the next script call.
func TestRedisBatchesAgreeWithMemoryAtTheCaps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits Limits
		batch  int
	}{
		{"users cap, one at a time", Limits{MaxUsers: 6}, 1},
		{"users cap", Limits{MaxUsers: 6}, 37},
		{"address TTL, one at a time", Limits{IPTTL: 3 * time.Second}, 1},
		{"address TTL", Limits{IPTTL: 3 * time.Second}, 37},
		{"both, long batches", Limits{MaxUsers: 6, IPTTL: 3 * time.Second}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem, shared := NewMemory(tc.limits), newTestRedis(t, tc.limits)
			// In log order: memory and Redis break ties of late events
			// differently at the caps, which is not what is looked at here.
			obs := parityStream(3000)
			slices.SortStableFunc(obs, func(a, b Observation) int { return a.Time.Compare(b.Time) })
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
