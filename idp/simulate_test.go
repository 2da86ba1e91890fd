package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
)

// serve runs a Provider on a loopback port until the test ends.
func serve(t *testing.T, mod func(*Config)) (*Provider, *testsync.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := &testsync.Buffer{}
	cfg := Config{Issuer: "http://" + ln.Addr().String() + DefaultIssuerPath, Log: log, SigningKey: testKey(), Diag: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, log
}

type truthDoc struct {
	Config  map[string]any `json:"config"`
	Records []TruthRecord  `json:"records"`
	Summary SimReport      `json:"summary"`
}

// TestSimulate is not parallel with the package's other tests: its in-grace
// replays must reach the IdP within 400 ms of their rotation, which the
// CPU-bound neighbours (bcrypt logins, the golden logs) delayed past the
// grace period when eight ran at once. Its two sources share the time.
func TestSimulate(t *testing.T) {
	sources := []SourceMode{SourceXFF}
	if runtime.GOOS == "linux" {
		sources = append(sources, SourceBind)
	}
	for _, src := range sources {
		t.Run(string(src), func(t *testing.T) {
			t.Parallel()
			const grace = 400 * time.Millisecond
			p, log := serve(t, func(c *Config) {
				c.Grace = grace
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			})
			var truth bytes.Buffer
			var progress []SimReport
			rep, err := Simulate(context.Background(), SimConfig{
				Issuer: p.Issuer(), Users: 6, Duration: 2500 * time.Millisecond, Rate: 40, Grace: grace,
				Mix: Mix{Race: 0.2, Replay: 0.2, OutsideGrace: 0.3}, Source: src, Truth: &truth, Concurrency: 8,
				Progress: func(r SimReport) { progress = append(progress, r) }, ProgressEvery: 500 * time.Millisecond, Seed: 42,
			})
			if err != nil {
				t.Fatal(err)
			}
			var doc truthDoc
			if err := json.Unmarshal(truth.Bytes(), &doc); err != nil {
				t.Fatalf("truth file is not JSON: %v", err)
			}
			if uint64(len(doc.Records)) != rep.Requests || doc.Summary.Requests != rep.Requests {
				t.Errorf("truth has %d records, report says %d requests", len(doc.Records), rep.Requests)
			}
			if len(progress) < 3 {
				t.Errorf("%d progress reports in 2.5s at 500ms", len(progress))
			}
			if rep.Ops[OpLogin] != 6 || rep.Ops[OpRace] == 0 || rep.Ops[OpReplay] == 0 || rep.Ops[OpOutsideGrace] == 0 || rep.Ops[OpRefresh] == 0 {
				t.Errorf("ops %v", rep.Ops)
			}
			if rep.Results[ResultError] != 0 {
				t.Errorf("results %v", rep.Results)
			}

			home, replay := netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("192.0.2.0/25")
			if src == SourceBind {
				home, replay = netip.MustParsePrefix("127.0.1.0/24"), netip.MustParsePrefix("127.0.2.0/24")
			}
			logText := log.String()
			// A replay or a race member refused is a failure only where it
			// surely reached the IdP inside the grace period: it ended
			// within grace of the start of the request that rotated its
			// token. On a loaded machine under -race a replay sent at once
			// could sit 400 ms in flight and be refused, rightly.
			rotStart := map[string]time.Time{} // user and end of a user's request → its start
			raceSpan := map[int64][2]time.Time{}
			for _, r := range doc.Records {
				if r.Role == "user" {
					rotStart[r.User+"|"+r.End.String()] = r.Start
				}
				if r.Op == OpRace {
					span, ok := raceSpan[r.Group]
					if !ok || r.Start.Before(span[0]) {
						span[0] = r.Start
					}
					if r.End.After(span[1]) {
						span[1] = r.End
					}
					raceSpan[r.Group] = span
				}
			}
			late, judged := 0, 0
			for _, r := range doc.Records {
				ip := netip.MustParseAddr(r.IP)
				switch {
				case r.Role == "user" && !home.Contains(ip), r.Role == "attacker" && !replay.Contains(ip):
					t.Errorf("record %d: %s from %s", r.Seq, r.Role, ip)
				case r.Op == OpReplay && r.Role == "attacker" && r.Result == ResultRefused && r.PrevTime != nil &&
					!(r.End.Sub(rotStart[r.User+"|"+r.PrevTime.String()]) <= grace):
					late++
				case r.Op == OpReplay && r.Role == "attacker":
					judged++
					if r.Result != ResultReused || r.Expect != ExpectReplay || r.PrevIP == "" {
						t.Errorf("in-grace replay %+v", r)
					}
					// The IdP saw the replayer's address: the detector's whole input.
					if !strings.Contains(logText, "Expired token used within grace period ["+r.IP+"]") {
						t.Errorf("no ExpiredRefreshTokenUsed line from %s", r.IP)
					}
				case r.Op == OpOutsideGrace:
					if r.Result != ResultRefused || r.Error != "invalid_grant" || r.Expect != ExpectRefusedReplay {
						t.Errorf("outside-grace replay %+v", r)
					}
					if r.Start.Sub(*r.PrevTime) <= grace {
						t.Errorf("outside-grace replay sent %s after rotation", r.Start.Sub(*r.PrevTime))
					}
				case r.Op == OpRace && r.Result != ResultOK && raceSpan[r.Group][1].Sub(raceSpan[r.Group][0]) > grace:
					late++
				case r.Op == OpRace && r.Result != ResultOK:
					t.Errorf("race member with grace %s: %+v", grace, r)
				}
			}
			if late > 0 {
				t.Logf("%d replays or race members were refused after more than %s in flight: not judged", late, grace)
			}
			if judged == 0 {
				t.Errorf("no replay reached the IdP surely inside the grace period (%d late): nothing judged", late)
			}
			if s := p.Stats(); s.GraceReuses < rep.Ops[OpRace]+rep.Ops[OpReplay]-uint64(late) {
				t.Errorf("IdP counted %d grace reuses for %d races and %d replays, %d of them late", s.GraceReuses, rep.Ops[OpRace], rep.Ops[OpReplay], late)
			}
		})
	}
}

// TestSimulateGraceZeroRaces: without a grace period a client-go race loses
// one request, and the simulated user carries on with the winner's token.
func TestSimulateGraceZeroRaces(t *testing.T) {
	t.Parallel()
	p, _ := serve(t, nil)
	rep, err := Simulate(context.Background(), SimConfig{Issuer: p.Issuer(), Users: 2, Duration: time.Second, Rate: 20,
		Mix: Mix{Race: 1}, Source: SourceXFF, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[ResultOK] != rep.Ops[OpRace] || rep.Results[ResultRefused] != rep.Ops[OpRace] || rep.Ops[OpRelogin] != 0 {
		t.Errorf("want one ok and one refused per race and no relogin: ops %v results %v", rep.Ops, rep.Results)
	}
}

// TestSimulateRevokeOnReuse: an outside-grace replay against
// --revoke-on-reuse kills the user's session, and the user logs in again.
// The simulation ends at the first relogin, or after its duration, which
// only a failure waits out: a fixed two seconds, run alone, held too few
// requests for one to come after the revocation beside the CPU-bound
// tests, and beside nothing it still cost the package two seconds.
func TestSimulateRevokeOnReuse(t *testing.T) {
	t.Parallel()
	p, _ := serve(t, func(c *Config) { c.RevokeOnReuse = true })
	ctx, relogged := context.WithCancel(context.Background())
	defer relogged()
	rep, err := Simulate(ctx, SimConfig{Issuer: p.Issuer(), Users: 1, Duration: 10 * time.Second, Rate: 10,
		Mix: Mix{OutsideGrace: 0.5}, Source: SourceXFF, Seed: 3, ProgressEvery: 10 * time.Millisecond,
		Progress: func(r SimReport) {
			if r.Ops[OpRelogin] > 0 {
				relogged()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats().Revoked == 0 || rep.Ops[OpRelogin] == 0 {
		t.Errorf("revoked %d sessions, %d relogins; ops %v", p.Stats().Revoked, rep.Ops[OpRelogin], rep.Ops)
	}
}

func TestSimulateNoUsers(t *testing.T) {
	t.Parallel()
	p, _ := serve(t, nil)
	_, err := Simulate(context.Background(), SimConfig{Issuer: p.Issuer(), Users: 2, UserFormat: "ghost%d", Duration: time.Second, Timeout: loginTimeout})
	var te *TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Errorf("err = %v, want the login's invalid_grant", err)
	}
}

func TestSimConfigRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []SimConfig{
		{},
		{Issuer: "http://x", Grace: -1},
		{Issuer: "http://x", Mix: Mix{Race: 0.7, Replay: 0.7}},
		{Issuer: "http://x", Mix: Mix{Race: -0.1}},
		{Issuer: "http://x", HomeNet: netip.MustParsePrefix("10.0.0.0/31")},
		{Issuer: "http://x", ReplayNet: netip.MustParsePrefix("2001:db8::/64")},
		{Issuer: "http://x", Mix: Mix{Race: math.NaN()}},
		{Issuer: "http://x", Mix: Mix{Replay: math.Inf(1)}},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestSimulateRefusesRatesItCannotSchedule: a rate is turned into the
// interval between operations, in nanoseconds. --rate inf, or --every 1ns
// for ten users (ten billion a second), made that interval zero and the
// scheduler divided by it: a panic instead of an error. NaN slipped past
// every check and scheduled nothing.
func TestSimulateRefusesRatesItCannotSchedule(t *testing.T) {
	t.Parallel()
	p, _ := serve(t, nil)
	for _, c := range []struct {
		name string
		cfg  SimConfig
	}{
		{"rate +Inf", SimConfig{Rate: math.Inf(1)}},
		{"rate NaN", SimConfig{Rate: math.NaN()}},
		{"rate above a billion a second", SimConfig{Rate: 2e9}},
		{"every 1ns for 10 users", SimConfig{Users: 10, Every: time.Nanosecond}},
	} {
		c.cfg.Issuer, c.cfg.Duration = p.Issuer(), 50*time.Millisecond
		if _, err := Simulate(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), "operations a second") {
			t.Errorf("%s: %v, want an error about the rate", c.name, err)
		}
	}
}

func TestNthAddr(t *testing.T) {
	t.Parallel()
	p := netip.MustParsePrefix("127.0.1.0/24")
	for n, want := range map[int]string{0: "127.0.1.1", 253: "127.0.1.254", 254: "127.0.1.1", 1000: "127.0.1.239"} {
		if got := nthAddr(p, n).String(); got != want {
			t.Errorf("nthAddr(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestAutoSource(t *testing.T) {
	t.Parallel()
	want := SourceXFF
	if runtime.GOOS == "linux" {
		want = SourceBind
	}
	for issuer, w := range map[string]SourceMode{
		"http://127.0.0.1:8443/auth/idp/k8sIdp": want,
		"http://localhost:8443/x":               want,
		"https://k8sou.example.com/x":           SourceXFF,
		"http://[::1]:8443/x":                   SourceXFF,
	} {
		if got := autoSource(issuer); got != w {
			t.Errorf("autoSource(%s) = %s, want %s", issuer, got, w)
		}
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	p, _ := serve(t, nil)
	ctx := context.Background()
	c, err := NewClient(ctx, p.Issuer(), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenURL() != p.TokenURL() {
		t.Errorf("discovered %s, want %s", c.TokenURL(), p.TokenURL())
	}
	_, err = c.Refresh(ctx, netip.Addr{}, "nope")
	if !IsInvalidGrant(err) || strings.Contains(err.Error(), "nope") {
		t.Errorf("refresh of garbage: %v", err)
	}
	if _, err := NewClient(ctx, p.Issuer()+"/wrong", ClientOptions{}); err == nil {
		t.Error("discovery of a wrong issuer succeeded")
	}
}
