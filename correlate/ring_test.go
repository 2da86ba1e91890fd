package correlate

import (
	"slices"
	"testing"
)

// newestOf lists a ring's values, newest first.
func newestOf(r *ring[int]) []int {
	out := make([]int, r.len())
	for i := range out {
		out[i] = r.newest(i)
	}
	return out
}

// A ring that grows into arrays another ring outgrew holds exactly what a
// ring of fresh arrays holds: the spare is emptied and copied into, never
// shared.
func TestRingOnSparesKeepsTheNewestValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		pushes, limit int
	}{
		{"one", 1, 16},
		{"growing", 5, 16},
		{"at the cap", 16, 16},
		{"wrapped", 40, 16},
		{"reuse cap", 100, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sp, none spares[int]
			var first, fresh, reused ring[int]
			for i := range tc.pushes {
				first.push(1000+i, tc.limit, &sp) // fills sp with what it outgrows
			}
			for i := range tc.pushes {
				fresh.push(i, tc.limit, &none)
				reused.push(i, tc.limit, &sp)
			}
			if got, want := newestOf(&reused), newestOf(&fresh); !slices.Equal(got, want) {
				t.Fatalf("ring grown on spares holds %v, want %v", got, want)
			}
			if got, want := newestOf(&first)[0], 1000+tc.pushes-1; got != want {
				t.Fatalf("first ring's newest is %d, want %d: a spare was shared", got, want)
			}
		})
	}
}

// The second user growing through the same capacities takes the arrays the
// first outgrew instead of allocating: what keeps a scan's new heap down.
func TestRingGrowsIntoTheArraysAnotherOutgrew(t *testing.T) {
	t.Parallel()
	var sp spares[int]
	var a ring[int]
	outgrown := map[*int]bool{}
	for i := range 16 {
		before := a.vals
		a.push(i, 16, &sp)
		if cap(before) > 0 && cap(a.vals) != cap(before) {
			outgrown[&before[:1][0]] = true
		}
	}
	if len(outgrown) == 0 {
		t.Fatal("the ring never grew")
	}
	var b ring[int]
	for i := 0; ; i++ {
		b.push(i, 16, &sp)
		if cap(b.vals) == 16 {
			break // the first ring still holds its array of the cap
		}
		if !outgrown[&b.vals[:1][0]] {
			t.Fatalf("after %d pushes the ring holds a new array of capacity %d, not one the first ring outgrew", i+1, cap(b.vals))
		}
	}
}
