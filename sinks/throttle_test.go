package sinks

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
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
			if int(th.evicted) != tc.keys-len(th.entries) {
				t.Errorf("%d evictions counted, %d users and %d kept", th.evicted, tc.keys, len(th.entries))
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

// A sink's throttle forgetting keys at its cap lets alerts through early:
// /metrics counts them, read over HTTP as Prometheus reads it.
func TestThrottleEvictionsOnMetrics(t *testing.T) {
	t.Parallel()
	reg := prom.NewRegistry()
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	sink := &fakeSink{}
	d, err := newDispatcher(DispatcherOptions{Metrics: NewMetrics(reg)},
		Route{Name: "s", Sink: sink, Delivery: Delivery{Throttle: time.Hour, ThrottleKey: []string{"user"}}})
	if err != nil {
		t.Fatal(err)
	}
	group := make([]alert.Alert, maxThrottleKeys+1) // one user past the cap
	for i := range group {
		group[i] = plain(fmt.Sprintf("id%d", i))
		group[i].User = fmt.Sprintf("uid=u%d", i)
	}
	if err := d.Send(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the group", func() bool { return len(sink.ids()) == len(group) })
	closeNow(t, d)
	if got := d.Stats()[0].ThrottleEvicted; got != throttleEvictBatch {
		t.Errorf("stats: %d throttle keys evicted, want %d", got, throttleEvictBatch)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("graceguard_sink_throttle_evicted_total{sink=\"s\"} %d\n", throttleEvictBatch)
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, grepLines(string(body), "throttle"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// Which keys go at the cap does not depend on the map's order: alerts of a
// flood of users in one millisecond keep the same keys in every run.
func TestThrottleEvictionIsDeterministic(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	kept := func() []string {
		th := newThrottle(time.Hour, []string{"user"})
		for i := range maxThrottleKeys + 1 {
			th.admit(&alert.Alert{User: fmt.Sprintf("uid=u%d", i), Time: t0})
		}
		return slices.Sorted(maps.Keys(th.entries))
	}
	first := kept()
	for range 3 {
		if again := kept(); !slices.Equal(again, first) {
			t.Fatalf("two runs kept different keys (%d and %d)", len(first), len(again))
		}
	}
}
