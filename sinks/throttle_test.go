package sinks

import (
	"fmt"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// TestThrottleAtItsCap feeds a sink's throttle a flood of alerts for
// distinct users and checks the cap's eviction: never past the cap, expired
// windows go first, then the oldest, and a full sweep of the map runs once
// per tenth of the cap new keys, not once per key (a sweep per key made
// every alert past 10,000 users cost 10,000 map steps).
func TestThrottleAtItsCap(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Minute
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		keys      int
		step      time.Duration // alert time between two users
		firstHeld bool          // the first user's next alert held back at the end
		maxSweeps int
	}{
		{"under the cap", maxThrottleKeys, time.Millisecond, true, 0},
		{"three caps inside the window", 3 * maxThrottleKeys, time.Millisecond, false, 2*10 + 2},
		{"windows ending as users come", 3 * maxThrottleKeys, window / maxThrottleKeys * 2, false, 2*10 + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th := newThrottle(window, []string{"user"})
			at := func(i, at int) *alert.Alert {
				return &alert.Alert{User: fmt.Sprintf("uid=u%d", i), Time: t0.Add(time.Duration(at) * tc.step)}
			}
			for i := range tc.keys {
				if !th.admit(at(i, i)) {
					t.Fatalf("user %d held back at its first alert", i)
				}
				if n := len(th.entries); n > maxThrottleKeys {
					t.Fatalf("%d keys after user %d: past the cap %d", n, i, maxThrottleKeys)
				}
			}
			last := tc.keys - 1
			if th.admit(at(last, last)) {
				t.Error("the newest user's second alert went through")
			}
			if got := !th.admit(at(0, last)); got != tc.firstHeld {
				t.Errorf("the first user's alert at the end held back: %v, want %v", got, tc.firstHeld)
			}
			if th.sweeps > tc.maxSweeps {
				t.Errorf("%d sweeps of the throttle map for %d users, want at most %d", th.sweeps, tc.keys, tc.maxSweeps)
			}
		})
	}
}
