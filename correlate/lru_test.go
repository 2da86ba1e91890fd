package correlate

import (
	"slices"
	"testing"
)

// The table keeps least-recently-used order across its chunks, through
// touches, removals and the reuse of freed places.
func TestTableOrder(t *testing.T) {
	t.Parallel()
	tab := newTable[int]()
	order := func() []int {
		var got []int
		tab.each(func(v *int) error { got = append(got, *v); return nil })
		return got
	}
	const n = 3*chunkLen + 7 // several chunks
	var want []int
	for i := range n {
		tab.add(uint64(i)+100, i)
		want = append(want, i)
	}
	if got := order(); !slices.Equal(got, want) {
		t.Fatalf("after adds: order differs at %d", firstDiff(got, want))
	}
	for _, k := range []int{0, n - 1, chunkLen, 5} {
		if v := tab.touch(uint64(k) + 100); v == nil || *v != k {
			t.Fatalf("touch %d: %v", k, v)
		}
		want = append(slices.DeleteFunc(want, func(x int) bool { return x == k }), k)
	}
	if got := order(); !slices.Equal(got, want) {
		t.Fatalf("after touches: order differs at %d", firstDiff(got, want))
	}
	tab.removeOldest()
	tab.remove(uint64(chunkLen) + 100)
	tab.remove(12345) // absent
	want = slices.DeleteFunc(want[1:], func(x int) bool { return x == chunkLen })
	if got := order(); !slices.Equal(got, want) || tab.len() != n-2 {
		t.Fatalf("after removals: %d entries, order differs at %d", tab.len(), firstDiff(got, want))
	}
	used := tab.used
	tab.add(1, -1)
	tab.add(2, -2)
	if tab.used != used {
		t.Fatalf("freed places not reused: %d nodes, was %d", tab.used, used)
	}
	want = append(want, -1, -2)
	if got := order(); !slices.Equal(got, want) || *tab.oldest() != want[0] || *tab.newest() != -2 {
		t.Fatalf("after reuse: order differs at %d", firstDiff(got, want))
	}
	if tab.peek(1) == nil || tab.peek(uint64(chunkLen)+100) != nil {
		t.Fatal("peek: wrong presence")
	}
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// The table's index finds every key through inserts, growth and removals
// in any order, keys crowding the same slots included (the low bits, where
// a key's slot and tag come from, shared by many).
func TestTableIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  func(i int) uint64
	}{
		{"spread", func(i int) uint64 { return uint64(i) * 0x9E3779B97F4A7C15 }},
		{"same slot", func(i int) uint64 { return uint64(i)<<40 | 7 }},
		{"neighbours", func(i int) uint64 { return uint64(i%5)<<40 | uint64(i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newTable[int]()
			live := map[uint64]int{}
			const n = 2000
			for i := range n {
				tab.add(tc.key(i), i)
				live[tc.key(i)] = i
				if i%3 == 2 { // remove a third as we go, oldest and arbitrary
					if i%2 == 0 {
						k := tc.key(i / 2)
						if _, ok := live[k]; ok {
							tab.remove(k)
							delete(live, k)
						}
					} else {
						v := *tab.oldest()
						tab.removeOldest()
						delete(live, tc.key(v))
					}
				}
			}
			// Then removals alone: an insert can no longer fill a hole one
			// left in a run of slots.
			for range 100 {
				v := *tab.oldest()
				tab.removeOldest()
				delete(live, tc.key(v))
			}
			for i := 0; i < n; i += 7 {
				if _, ok := live[tc.key(i)]; ok {
					tab.remove(tc.key(i))
					delete(live, tc.key(i))
				}
			}
			if tab.len() != len(live) {
				t.Fatalf("%d entries, want %d", tab.len(), len(live))
			}
			for i := range n {
				k := tc.key(i)
				v := tab.peek(k)
				want, ok := live[k]
				if (v != nil) != ok || ok && *v != want {
					t.Fatalf("key %d: got %v, want present %v", i, v, ok)
				}
			}
		})
	}
}

// userHasher remembers the hashes of a few IdPs: each IdP's key must be
// the one a fresh hasher makes, and no two IdPs may share one, however
// the IdPs cycle through the cache (review12).
func TestUserHasherKeysEachIdPAsAFreshOne(t *testing.T) {
	t.Parallel()
	h := newUserHasher()
	seen := map[uint64]string{}
	for range 3 {
		for _, idp := range []string{"", "a", "b", "c", "d", "e", "a", "", "e"} {
			u := UserID{IdP: idp, DN: "uid=x"}
			k := h.hash(u)
			fresh := newUserHasher()
			if fk := fresh.hash(u); k != fk {
				t.Fatalf("IdP %q: key %x from the cache, %x from a fresh hasher", idp, k, fk)
			}
			if other, ok := seen[k]; ok && other != idp {
				t.Fatalf("IdPs %q and %q share the key %x", idp, other, k)
			}
			seen[k] = idp
		}
	}
}
