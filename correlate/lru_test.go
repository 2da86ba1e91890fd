package correlate

import (
	"slices"
	"testing"
)

// The table keeps least-recently-used order across its chunks, through
// touches, removals and the reuse of freed places.
func TestTableOrder(t *testing.T) {
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
