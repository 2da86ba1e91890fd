package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/idp"
)

func TestSimulateJSONSummary(t *testing.T) {
	t.Parallel()
	issuer, _, _ := startIdpServe(t, nil)
	var out, errOut bytes.Buffer
	err := runSimulate(context.Background(), &simulateOptions{
		io:     streams{in: strings.NewReader(""), out: &out, errOut: &errOut},
		issuer: issuer, users: 2, userFormat: "sim%04d", firstUser: 5, password: "simulate",
		duration: 500 * time.Millisecond, rate: 10, every: time.Second, source: "xff", concurrency: 2,
		clientID: "kubernetes", format: "json", quiet: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep idp.SimReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	if rep.Ops[idp.OpLogin] != 2 || rep.Requests < 3 {
		t.Errorf("report %+v", rep)
	}
	if errOut.Len() != 0 {
		t.Errorf("--quiet still wrote %q", errOut.String())
	}
}

func TestSimulateUnreachableIssuer(t *testing.T) {
	t.Parallel()
	err := runSimulate(context.Background(), &simulateOptions{
		io:     streams{in: strings.NewReader(""), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}},
		issuer: "http://127.0.0.1:1/auth/idp/k8sIdp", users: 1, userFormat: "sim%04d", firstUser: 1, password: "simulate",
		duration: time.Second, every: time.Second, source: "auto", concurrency: 1, clientID: "kubernetes", format: "text", quiet: true,
	})
	var usage usageError
	if err == nil || errors.As(err, &usage) {
		t.Errorf("err = %v, want a runtime error", err)
	}
	// A newcomer who ran simulate before the IdP was told only
	// "connection refused".
	if err != nil && !strings.Contains(err.Error(), "graceguard idp serve") {
		t.Errorf("err = %v, want it to say how to start the bundled IdP", err)
	}
}

func TestFormatSimReport(t *testing.T) {
	t.Parallel()
	r := idp.SimReport{Elapsed: 2 * time.Second, Requests: 7, Behind: 3, RefreshRate: 4999.6,
		Ops:     map[string]uint64{idp.OpLogin: 1, idp.OpRefresh: 6},
		Results: map[string]uint64{idp.ResultRotated: 6},
		Latency: idp.Latency{P50: 831 * time.Microsecond, P99: 11264 * time.Microsecond, Max: 123456 * time.Microsecond}}
	live := formatSimReport(r, false)
	for _, want := range []string{"[  2.0s]", "5000 refreshes/s", "p50 831µs", "p99 11.26ms", "max 123ms", "behind 3", "refreshes 6"} {
		if !strings.Contains(live, want) {
			t.Errorf("live line %q lacks %q", live, want)
		}
	}
	if final := formatSimReport(r, true); strings.Count(final, "\n") != 3 || !strings.HasPrefix(final, "simulated 2s, 7 requests") {
		t.Errorf("final summary %q", final)
	}
}

// The simulator schedules at most ten million operations a second. A rate
// above that, given with --rate or worked out from --users and --every, is
// the caller's to fix: exit 2 on one line naming the flags and the limit,
// not the simulator's own words (which name no flag) with exit 1. So is a
// count or period of zero.
func TestSimulateSettingsOutOfRangeAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "2e7"}, "graceguard: --rate 2e+07: want at most 10000000 operations a second\n"},
		{[]string{"--rate", "10000000.5"}, "graceguard: --rate 1.00000005e+07: want at most 10000000 operations a second\n"},
		{[]string{"--users", "100", "--every", "1us"},
			"graceguard: --users 100 / --every 1µs: 1e+08 operations a second; want at most 10000000 (a longer --every, fewer --users, or --rate)\n"},
		// The default --every (10s) counts too.
		{[]string{"--users", "200000000"},
			"graceguard: --users 200000000 / --every 10s: 2e+07 operations a second; want at most 10000000 (a longer --every, fewer --users, or --rate)\n"},
		// A zero count or period names its flag (helper-102: one message
		// listed all six flags, whichever was wrong).
		{[]string{"--users", "0"}, "graceguard: --users: want more than 0, not 0\n"},
		{[]string{"--every", "0"}, "graceguard: --every: want more than 0, not 0s\n"},
		{[]string{"--duration", "0"}, "graceguard: --duration: want more than 0, not 0s\n"},
		{[]string{"--concurrency", "0"}, "graceguard: --concurrency: want more than 0, not 0\n"},
		// An issuer that is no http(s) URL is mistyped, not an IdP down:
		// it exited 1 with Go's "unsupported protocol scheme".
		{[]string{"--issuer", "127.0.0.1:8443/auth/idp/k8sIdp"}, "graceguard: --issuer \"127.0.0.1:8443/auth/idp/k8sIdp\": want an http:// or https:// URL\n"},
		{[]string{"--issuer", "ftp://u:pw@idp.example/auth/idp/k8sIdp"}, "graceguard: --issuer \"ftp://u:xxxxx@idp.example/auth/idp/k8sIdp\": want an http:// or https:// URL\n"},
		{[]string{"--home-net", "198.51.100.7"}, "graceguard: --home-net \"198.51.100.7\": want a CIDR such as 198.51.100.0/25\n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// An issuer nothing listens on: the run must end before any request.
			args := append([]string{"simulate", "--issuer", "http://127.0.0.1:1/auth/idp/k8sIdp", "-q"}, tt.args...)
			stdout, stderr, code := run(t, nil, args...)
			if code != exitUsage || stdout != "" || stderr != tt.want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and\n%s", code, stdout, stderr, exitUsage, tt.want)
			}
		})
	}
}

// A rate at the limit is the simulator's to run.
func TestSimulateRateAtTheLimitIsAccepted(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--rate", "1e7"},
		{"--users", "10", "--every", "1us"},
		{"--users", "100000000"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			check := func(_ context.Context, o *simulateOptions) error { _, err := o.simConfig(); return err }
			if err := runRoot(t, runners{simulate: check}, append([]string{"simulate"}, args...)...); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}
