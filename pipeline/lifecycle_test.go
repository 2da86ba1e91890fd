package pipeline

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/rules"
)

// TestLifecycleHour is issue 12's "done when": an hour of traffic with
// clients reaching OpenUnison directly (heavy racers, an office NAT, races
// landing outside the grace period, in-cluster clients, movers, bots
// replaying 5 ms after a refresh, thieves who refresh first, chains taken
// outside the grace period), scanned with the built-in rules and no GeoIP:
// every attack is alerted naming the attacker's address, and nothing else
// alerts above low.
func TestLifecycleHour(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2, 3} {
		var buf bytes.Buffer
		truth, err := loggen.Lifecycle(&buf, loggen.LifecycleConfig{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		var got []alert.Alert
		_, err = Scan(context.Background(), []Input{{Name: "openunison.log", R: &buf}}, ScanOptions{Rules: rules.Builtin(),
			Deliver: func(_ context.Context, g []alert.Alert) error { got = append(got, g...); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if len(truth.Attacks) == 0 || truth.Refusals == 0 || truth.Reuses == 0 {
			t.Fatalf("seed %d: the scenario lacks its cast: %+v", seed, truth)
		}
		for _, at := range truth.Attacks {
			if !slices.ContainsFunc(got, func(a alert.Alert) bool { return names(a, at) && a.Severity >= alert.Medium }) {
				t.Errorf("seed %d: %s of %s from %s at %s not alerted", seed, at.Kind, at.User, at.Thief, at.At.Format(alert.TimeFormat))
			}
		}
		for _, a := range got {
			t.Logf("seed %d: %s %s %s ip %s prev %s", seed, a.Severity, a.Rule, a.User, a.IP, a.PrevIP)
			if a.Severity <= alert.Low {
				continue
			}
			if !slices.ContainsFunc(truth.Attacks, func(at loggen.Attack) bool { return names(a, at) }) {
				t.Errorf("seed %d: benign traffic alerted: %s %s %s: %s", seed, a.Severity, a.Rule, a.User, a.Summary)
			}
		}
	}
}

// names reports whether an alert is about an attack: its user and the
// attacker's address, as ip or prev_ip (a thief who refreshed first is the
// refresh before the victim's reuse).
func names(a alert.Alert, at loggen.Attack) bool {
	return strings.Contains(a.User, at.User) && (a.IP == at.Thief || a.PrevIP == at.Thief)
}
