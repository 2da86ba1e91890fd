package idp_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
)

// expireIDToken blanks the kubeconfig's id-token, so the next client-go
// process refreshes at once instead of waiting for the token to expire.
func expireIDToken(t *testing.T, kubeconfig string) {
	t.Helper()
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	data = regexp.MustCompile(`id-token: \S+`).ReplaceAll(data, []byte(`id-token: ""`))
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKubectlRacesStayQuiet: two client-go processes sharing one
// kubeconfig race on every refresh, round after round, as k9s and kubectl
// do all day. Scanned with the built-in rules, that is a hygiene hint at
// most (low, once), never an alert: every reuse is the same client's race.
func TestKubectlRacesStayQuiet(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	const rounds = 8
	p, log := startIdP(t, 5*time.Second)
	kubeconfig := login(t, p, apiServer(t, p))
	for round := range rounds {
		expireIDToken(t, kubeconfig)
		outs := raceKubectl(t, kubeconfig)
		for _, o := range outs {
			if !strings.HasPrefix(o, "ok 200 ") {
				t.Fatalf("round %d: %q", round, outs)
			}
		}
	}
	if n := strings.Count(log.String(), "[ExpiredRefreshTokenUsed]"); n < 5 {
		t.Fatalf("%d grace reuses in %d rounds; want at least 5 for reuse-burst to count:\n%s", n, rounds, log)
	}
	var got []alert.Alert
	_, err := pipeline.Scan(context.Background(), []pipeline.Input{{Name: "idp.log", R: strings.NewReader(log.String())}},
		pipeline.ScanOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
			got = append(got, g...)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	hints := 0
	for _, a := range got {
		if a.Severity > alert.Low {
			t.Errorf("%s %s: %s", a.Severity, a.Rule, a.Summary)
		}
		hints++
	}
	if hints > 1 {
		t.Errorf("%d hygiene hints for one user in minutes, want at most one a day", hints)
	}
}
