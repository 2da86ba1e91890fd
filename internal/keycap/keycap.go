// Package keycap makes room in a map of keys that each opened a time
// window (a throttle's memory) when it reaches its cap. It owns the order
// in which keys go and nothing else: the maps, their caps and the counting
// of what went stay with their owners (the rules' and the sinks'
// throttles). It must not grow into a cache.
package keycap

import (
	"math"
	"slices"
	"time"
)

// Evict deletes from m the keys whose window (started at start(v), window
// long) is over by now, then, while more than keep are left, the oldest:
// those started before the cut, and of the keys started at the cut time
// only as many as needed, in key order, so that which keys go never depends
// on the map's order and equal times cannot empty the map. It returns how
// many keys went. Freeing a batch at once (keep well under the cap) keeps
// the pass over every key to one per batch of new keys: dropping only the
// single oldest made every new key of a flood pay a pass over the whole map.
func Evict[V any](m map[string]V, start func(V) time.Time, now time.Time, window time.Duration, keep int) int {
	before := len(m)
	live := make([]int64, 0, len(m))
	for k, v := range m {
		t := start(v)
		if now.Sub(t) >= window {
			delete(m, k)
			continue
		}
		live = append(live, order(t))
	}
	excess := len(m) - keep
	if excess <= 0 {
		return before - len(m)
	}
	// cut: the newest start among the excess oldest. Sorted as integers:
	// slices.SortFunc with time.Time.Compare took 8% of a scan whose every
	// third line raised alerts (a sort of 10,000 keys every 1,000 new ones).
	slices.Sort(live)
	cut := live[excess-1]
	var atCut []string
	for k, v := range m {
		switch t := order(start(v)); {
		case t < cut:
			delete(m, k)
			excess--
		case t == cut:
			atCut = append(atCut, k)
		}
	}
	slices.Sort(atCut)
	for _, k := range atCut[:excess] {
		delete(m, k)
	}
	return before - len(m)
}

// Bounds of the instants UnixNano represents.
var (
	earliest = time.Unix(0, math.MinInt64)
	latest   = time.Unix(0, math.MaxInt64)
)

// order is t as an integer that sorts as t does: its Unix nanoseconds,
// held at the ends of int64 for times UnixNano cannot represent (a log
// line may carry any year), so that both passes of Evict agree. Times
// beyond those ends (before 1677-09-21, after 2262-04-11) tie with each
// other and go in key order among themselves.
func order(t time.Time) int64 {
	switch {
	case t.Before(earliest):
		return math.MinInt64
	case t.After(latest):
		return math.MaxInt64
	}
	return t.UnixNano()
}
