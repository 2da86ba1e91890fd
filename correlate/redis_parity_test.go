package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Batched, learn-only refreshes and logins go as plain commands grouped per
// key, the rest through the script: a stream where users come back within a
// batch, change address, reuse tokens, share sessions and arrive a little
// out of order gives, batched, the facts the memory store gives one
// observation at a time. The session table is left at its default size in
// both cases: the stores bound it differently (memory's is direct-mapped and
// forgets a session when another takes its slot, below the cap; Redis
// forgets the least recently seen past the cap), which the store tests'
// "sessions over the cap are evicted" holds for each.
func TestRedisBatchesAgreeWithMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits Limits
		batch  int
	}{
		{"default caps, whole batches", Limits{}, 512},
		{"small caps, small batches", Limits{MaxIPsPerUser: 3, MaxRefreshes: 4}, 37},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem, shared := NewMemory(tc.limits), newTestRedis(t, tc.limits)
			obs := parityStream(3000)
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
			for i := range obs {
				if !obs[i].NeedFacts {
					continue
				}
				if w, g := agreed(want[i]), agreed(got[i]); !reflect.DeepEqual(w, g) {
					t.Fatalf("observation %d (%+v):\nredis  %+v\nmemory %+v", i, obs[i], g, w)
				}
			}
		})
	}
}

// agreed is what both stores must agree on. Memory keeps a session's
// addresses in learning order and Redis as written; both are compared as
// sets.
func agreed(f Facts) Facts {
	if f.Prev != nil {
		p := *f.Prev
		f.Prev = &p
	}
	f.SessionIPs = sortedAddrs(f.SessionIPs)
	return f
}

func sortedAddrs(a []netip.Addr) []netip.Addr {
	out := append([]netip.Addr(nil), a...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Less(out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
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
