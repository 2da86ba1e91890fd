package correlate

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

// review2: TestRedisBatchesAgreeWithMemory's stream, in log order, with the
// users and the addresses' TTL at small caps, which that test never reaches
// (12 users, default MaxUsers and IPTTL). "users cap, one at a time" passes:
// the baseline. Batched, Redis evicts users by times its users set does not
// hold yet (a round trip's plain writes go after its script calls). And a
// user back after more than the address TTL through a learn-only refresh is
// written plainly before any expiry runs (the n = 0 script call comes after
// the writes), so Redis keeps the old history (first seen, places) that
// memory drops, even one event at a time.
func TestReview2BatchesAgreeWithMemoryAtTheUsersCap(t *testing.T) {
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
		})
	}
}
