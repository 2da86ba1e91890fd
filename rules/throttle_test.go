package rules

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestThrottleMemoryAtItsCap feeds one throttled rule a flood of distinct
// keys (a user each, as a busy IdP or a replay storm gives) and checks the
// cap's eviction: the map never passes the cap, expired keys go first, then
// the oldest, what is dropped is counted, and a full sweep of the map runs
// once per tenth of the cap new keys, not once per key (a sweep per key made
// every alert past 10,000 keys cost 10,000 map steps: the torture's catch-up
// spent a third of its CPU there).
func TestThrottleMemoryAtItsCap(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Minute
	for _, tc := range []struct {
		name string
		keys int
		step time.Duration // log time between two keys
		// want: the first key still held back at the end, the sweeps at most.
		firstHeld bool
		maxSweeps int
	}{
		{"under the cap", maxThrottleKeys, time.Millisecond, true, 0},
		{"three caps inside the window", 3 * maxThrottleKeys, time.Millisecond, false, 2*10 + 2},
		{"keys expiring as they come", 3 * maxThrottleKeys, window / maxThrottleKeys * 2, false, 2*10 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := NewEngine(&Set{})
			r := &Rule{Spec: Spec{Name: "r", Throttle: window}}
			at := func(i int) (*Env, time.Time) {
				return &Env{Event: &EventEnv{User: fmt.Sprintf("uid=u%d", i), IP: "192.0.2.1"}}, t0.Add(time.Duration(i) * tc.step)
			}
			for i := range tc.keys {
				env, now := at(i)
				if e.throttled(r, env, now) {
					t.Fatalf("key %d held back at its first alert", i)
				}
				if n := len(e.throttle["r"]); n > maxThrottleKeys {
					t.Fatalf("%d keys after key %d: past the cap %d", n, i, maxThrottleKeys)
				}
			}
			last := tc.keys - 1
			env, now := at(last)
			if !e.throttled(r, env, now) {
				t.Error("the newest key is not held back at its second alert")
			}
			env, _ = at(0)
			if got := e.throttled(r, env, now); got != tc.firstHeld {
				t.Errorf("the first key held back at the end: %v, want %v", got, tc.firstHeld)
			}
			kept := len(e.throttle["r"])
			if evicted := e.Stats().ThrottleEvicted; int(evicted) != tc.keys+boolInt(!tc.firstHeld)-kept {
				t.Errorf("evicted counted %d, keys %d, kept %d", evicted, tc.keys, kept)
			}
			if e.throttleSweeps > tc.maxSweeps {
				t.Errorf("%d sweeps of the throttle map for %d keys, want at most %d", e.throttleSweeps, tc.keys, tc.maxSweeps)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkThrottleFlood is one new throttle key per op (a user each) with
// the throttle memory at its cap: the cost every alert of a flood of
// distinct users pays.
func BenchmarkThrottleFlood(b *testing.B) {
	e := NewEngine(&Set{})
	r := &Rule{Spec: Spec{Name: "r", Throttle: time.Hour}}
	envs := make([]*Env, 4*maxThrottleKeys)
	for i := range envs {
		envs[i] = &Env{Event: &EventEnv{User: fmt.Sprintf("uid=u%d", i), IP: "192.0.2.1"}}
	}
	for i := range maxThrottleKeys {
		e.throttled(r, envs[i], t0.Add(time.Duration(i)*time.Millisecond))
	}
	b.ReportAllocs()
	i := maxThrottleKeys
	for b.Loop() {
		e.throttled(r, envs[i%len(envs)], t0.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

// Which keys go at the cap does not depend on the map's order: a flood of
// users in one millisecond (a log's stamps are that coarse) keeps the same
// keys in every run, so a scan of the same log alerts the same.
func TestThrottleEvictionIsDeterministic(t *testing.T) {
	t.Parallel()
	r := &Rule{Spec: Spec{Name: "r", Throttle: time.Hour}}
	kept := func() []string {
		e := NewEngine(&Set{})
		for i := range maxThrottleKeys + 1 {
			e.throttled(r, &Env{Event: &EventEnv{User: fmt.Sprintf("uid=u%d", i), IP: "192.0.2.1"}}, t0)
		}
		return slices.Sorted(maps.Keys(e.throttle["r"]))
	}
	first := kept()
	for range 3 {
		if again := kept(); !slices.Equal(again, first) {
			t.Fatalf("two runs kept different keys (%d and %d)", len(first), len(again))
		}
	}
}

// A checkpoint's throttle memory is put back for the rules the set still
// throttles, each within the cap (a checkpoint is read as found, and a
// rule's memory used to stay in every checkpoint after its removal); a
// reload drops the memory of a rule it removes.
func TestThrottleMemoryRestoredWithinTheSet(t *testing.T) {
	t.Parallel()
	rule := func(name string, throttle time.Duration) *Rule {
		return &Rule{Spec: Spec{Name: name, Enabled: true, Throttle: throttle}}
	}
	memory := func(n int) map[string]time.Time {
		keys := map[string]time.Time{}
		for i := range n {
			keys[fmt.Sprintf("uid=u%d|192.0.2.1", i)] = t0.Add(time.Duration(i) * time.Millisecond)
		}
		return keys
	}
	e := NewEngine(&Set{Rules: []*Rule{rule("kept", time.Hour), rule("unthrottled", 0)}})
	e.Restore(ThrottleSnapshot{"kept": memory(3 * maxThrottleKeys), "removed": memory(10), "unthrottled": memory(10)})
	if got := slices.Sorted(maps.Keys(e.Snapshot())); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("restored the memory of %v, want only the throttled rule in the set", got)
	}
	kept := e.throttle["kept"]
	if len(kept) != maxThrottleKeys || e.Stats().ThrottleEvicted != 2*maxThrottleKeys {
		t.Errorf("%d keys restored, %d counted evicted; want the cap %d and the rest counted", len(kept), e.Stats().ThrottleEvicted, maxThrottleKeys)
	}
	if _, ok := kept[fmt.Sprintf("uid=u%d|192.0.2.1", 3*maxThrottleKeys-1)]; !ok {
		t.Error("the newest key was not kept")
	}
	e.SetRules(&Set{Rules: []*Rule{rule("other", time.Hour)}})
	if len(e.Snapshot()) != 0 {
		t.Errorf("a reload that removed the rule kept its memory: %v", slices.Sorted(maps.Keys(e.Snapshot())))
	}
}
