package correlate

import (
	"math/rand/v2"
	"testing"
)

// The thread index answers as the map it replaced, whatever the keys'
// homes: runs of keys sharing one, runs wrapping past the table's end,
// removals from the middle of a run, and growth.
func TestThreadIndexIsAMap(t *testing.T) {
	t.Parallel()
	home := func(h, i uint64) uint64 { return i<<32 | h } // home h in a table of up to 2³² slots
	type op struct {
		set bool // else remove
		key uint64
		at  int
	}
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"one key", []op{{true, 7, 0}, {true, 7, 3}, {false, 7, 0}, {true, 7, 5}}},
		{"a run sharing a home, its head removed", []op{
			{true, home(5, 1), 1}, {true, home(5, 2), 2}, {true, home(5, 3), 3}, {true, home(6, 1), 4},
			{false, home(5, 1), 0}, {true, home(5, 4), 5},
		}},
		{"a run wrapping past the end", []op{
			{true, home(63, 1), 1}, {true, home(63, 2), 2}, {true, home(0, 1), 3}, {true, home(63, 3), 4},
			{false, home(63, 2), 0}, {false, home(63, 1), 0}, {true, home(1, 1), 5},
		}},
		{"removing what is absent", []op{{true, home(9, 1), 1}, {false, home(9, 2), 0}, {false, 0, 0}}},
		{"key zero", []op{{true, 0, 0}, {true, 64, 1}, {false, 0, 0}, {true, 0, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, want := newThreadIndex(), map[uint64]int{}
			for i, o := range tc.ops {
				if o.set {
					x.set(o.key, o.at)
					want[o.key] = o.at
				} else {
					x.remove(o.key)
					delete(want, o.key)
				}
				checkThreadIndex(t, &x, want, tc.ops[:i+1])
			}
		})
	}
	t.Run("random, growing", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		x, want := newThreadIndex(), map[uint64]int{}
		var keys []uint64
		for i := range 20_000 {
			switch k := r.Uint64() & 0x3ff0f; {
			case r.IntN(3) > 0:
				x.set(k, i)
				want[k] = i
				keys = append(keys, k)
			case len(keys) > 0:
				k = keys[r.IntN(len(keys))]
				x.remove(k)
				delete(want, k)
			}
		}
		checkThreadIndex(t, &x, want, nil)
	})
}

func checkThreadIndex(t *testing.T, x *threadIndex, want map[uint64]int, after any) {
	t.Helper()
	if x.n != len(want) {
		t.Fatalf("after %v: %d keys, want %d", after, x.n, len(want))
	}
	for k, at := range want {
		if got, ok := x.get(k); !ok || got != at {
			t.Fatalf("after %v: get(%#x) = %d, %v; want %d", after, k, got, ok, at)
		}
	}
	for _, k := range []uint64{1 << 40, 12345, 1<<63 | 5} {
		if _, ok := want[k]; !ok {
			if _, ok := x.get(k); ok {
				t.Fatalf("after %v: get(%#x) found a key never set", after, k)
			}
		}
	}
}
