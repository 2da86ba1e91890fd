package keycap

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestEvict(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	id := func(t time.Time) time.Time { return t }
	for _, tc := range []struct {
		name string
		m    map[string]time.Time
		now  time.Time
		keep int
		want []string // the keys left
	}{
		{"room enough: only the expired go", map[string]time.Time{"a": at(0), "b": at(50), "c": at(55)}, at(70), 5, []string{"b", "c"}},
		{"expired first, then the oldest", map[string]time.Time{"a": at(0), "b": at(50), "c": at(55), "d": at(60)}, at(70), 2, []string{"c", "d"}},
		{"ties at the cut go in key order", map[string]time.Time{"d": at(50), "b": at(50), "a": at(50), "c": at(60)}, at(60), 2, []string{"c", "d"}},
		{"equal times never empty the map", map[string]time.Time{"x": at(5), "y": at(5), "z": at(5)}, at(6), 1, []string{"z"}},
		// Years UnixNano cannot hold sort after every other, tied.
		{"times past 2262 are the newest", map[string]time.Time{"a": at(50), "b": time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "c": time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC), "d": at(55)}, at(60), 2, []string{"b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := len(tc.m)
			n := Evict(tc.m, id, tc.now, 30*time.Second, tc.keep)
			got := slices.Sorted(maps.Keys(tc.m))
			if !slices.Equal(got, tc.want) {
				t.Errorf("left %v, want %v", got, tc.want)
			}
			if n != before-len(tc.m) {
				t.Errorf("returned %d, %d went", n, before-len(tc.m))
			}
		})
	}
}
