package correlate

import (
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A tool racing its own refresh reuses from the refresh's client; those
// reuses are never foreign, however many. A reuse from another client is,
// and stays counted for the hour.
func TestForeignReuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ips  []string // reuse i follows a refresh from 198.51.100.23 by 40 ms
		want []int    // ForeignReuses1h seen by each reuse
	}{
		{"every reuse the refresh's client", []string{"198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.23"}, []int{0, 0, 0, 0, 0, 0}},
		{"one reuse from elsewhere", []string{"198.51.100.23", "192.0.2.66", "198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.23"}, []int{0, 1, 1, 1, 1, 1}},
		{"two clients", []string{"192.0.2.66", "203.0.113.9", "198.51.100.23"}, []int{1, 2, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, Limits{}, func(t *testing.T, store Store) {
				var events []parser.Event
				for i, ip := range tc.ips {
					at := time.Duration(i) * time.Minute
					events = append(events, ev(parser.KindTokenOK, at, "198.51.100.23"),
						ev(parser.KindGraceReuse, at+40*time.Millisecond, ip))
				}
				rs := reuses(run(t, store, events...))
				for i, r := range rs {
					if r.ForeignReuses1h != tc.want[i] {
						t.Errorf("reuse %d: foreign %d, want %d", i, r.ForeignReuses1h, tc.want[i])
					}
				}
			})
		})
	}
}

func TestForeignReusesAfterAnHour(t *testing.T) {
	t.Parallel()
	forEachStore(t, Limits{}, func(t *testing.T, store Store) {
		rs := reuses(run(t, store,
			ev(parser.KindTokenOK, 0, "198.51.100.23"),
			ev(parser.KindGraceReuse, time.Second, "192.0.2.66"),
			ev(parser.KindTokenOK, 61*time.Minute, "198.51.100.23"),
			ev(parser.KindGraceReuse, 61*time.Minute+time.Second, "198.51.100.23"),
		))
		if len(rs) != 2 || rs[0].ForeignReuses1h != 1 || rs[1].ForeignReuses1h != 0 {
			t.Fatalf("foreign counts %d, %d; want 1 then 0 an hour later", rs[0].ForeignReuses1h, rs[1].ForeignReuses1h)
		}
	})
}
