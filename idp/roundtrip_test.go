package idp_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
)

// parseAll reads a log the way graceguard does: records from the Scanner
// (stack traces joined), each through parser.Parse.
func parseAll(t *testing.T, log []byte) []parser.Event {
	t.Helper()
	sc := parser.NewScanner(bytes.NewReader(log))
	var evs []parser.Event
	for sc.Scan() {
		rec := sc.Record()
		ev, err := parser.Parse(rec.Text, time.UTC)
		if err != nil {
			t.Fatalf("line %d: %v\n%s", rec.Line, err, rec.Text)
		}
		if got := parser.Classify(rec.Text); got != ev.Kind {
			t.Errorf("line %d: Classify says %s, Parse says %s", rec.Line, got, ev.Kind)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// checkPairs holds every grace reuse to OpenUnison's shape: the record
// before it on the same thread is the AzSuccess of the same request, same
// user, address and bracketed id.
func checkPairs(t *testing.T, evs []parser.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Kind != parser.KindGraceReuse {
			continue
		}
		if i == 0 {
			t.Fatal("grace reuse without its AzSuccess")
		}
		az := evs[i-1]
		if az.Kind != parser.KindTokenOK || az.Thread != ev.Thread || az.Session != ev.Session || az.IP != ev.IP || az.User != ev.User || az.URL != ev.URL {
			t.Errorf("grace reuse not paired with its AzSuccess:\n%s\n%s", az.Raw, ev.Raw)
		}
	}
}

// TestGoldenLogsParse feeds every golden log to the parser: every record
// parses, and the kinds it finds are the lines the IdP meant.
func TestGoldenLogsParse(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden logs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			evs := parseAll(t, data)
			kinds := map[parser.Kind]int{}
			for _, ev := range evs {
				kinds[ev.Kind]++
				wantApp := "k8sidp" // AccessLog names the application; the grace line has no such field
				if ev.Kind == parser.KindGraceReuse {
					wantApp = ""
				}
				if ev.Kind == parser.KindRefusal {
					// The WARN that opens a refused refresh names no client:
					// its reason is the message, the AzFail after it has the rest.
					if ev.Message != parser.RefusalNoSession && ev.Message != parser.RefusalExpired {
						t.Errorf("refusal %q", ev.Message)
					}
					continue
				}
				if ev.Kind != parser.KindOther && (ev.IdP != "k8sIdp" || ev.App != wantApp || !ev.IP.IsValid() || len(ev.Session) != 41) {
					t.Errorf("fields of %s: idp %q app %q ip %v session %q", ev.Kind, ev.IdP, ev.App, ev.IP, ev.Session)
				}
			}
			text := string(data)
			records := 0
			for _, l := range strings.Split(text, "\n") {
				if strings.HasPrefix(l, "[20") {
					records++
				}
			}
			tokenOK := 0
			for _, l := range strings.Split(text, "\n") {
				if strings.Contains(l, "[AzSuccess] - k8sidp - ") && strings.Contains(l, "/token - ") && !strings.Contains(l, idp.AnonymousDN) {
					tokenOK++
				}
			}
			want := map[parser.Kind]int{
				parser.KindGraceReuse: strings.Count(text, "[ExpiredRefreshTokenUsed]"),
				parser.KindLogin:      strings.Count(text, "[AuSuccess]"),
				parser.KindTokenFail:  strings.Count(text, "[AzFail]"),
				parser.KindTokenOK:    tokenOK,
				parser.KindRefusal:    strings.Count(text, "WARN  OpenIDConnectIdP - "+parser.RefusalNoSession) + strings.Count(text, "WARN  OpenIDConnectIdP - "+parser.RefusalExpired),
			}
			want[parser.KindOther] = records - want[parser.KindGraceReuse] - want[parser.KindLogin] - want[parser.KindTokenFail] - want[parser.KindTokenOK] - want[parser.KindRefusal]
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%s: parser found %d, the log holds %d", k, kinds[k], n)
				}
			}
			if len(evs) != records {
				t.Errorf("%d records parsed, %d written", len(evs), records)
			}
			checkPairs(t, evs)
		})
	}
}

// TestRoundTrip runs a live IdP through login, refresh, a client-go race, a
// replay from another address inside the grace period, one outside it and a
// garbage token, then reads the IdP's own log back with the parser.
//
// Not parallel: the thief's replay must reach the IdP within the 300 ms grace
// period of its rotation, which CPU-bound neighbours can delay.
func TestRoundTrip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log testsync.Buffer
	p, err := idp.New(idp.Config{Issuer: "http://" + ln.Addr().String() + idp.DefaultIssuerPath, Grace: 300 * time.Millisecond, Users: idptest.FastUsers(t),
		Log: &log, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Diag: quietDiag()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	start := time.Now().UTC().Truncate(time.Millisecond)
	c, err := idp.NewClient(ctx, p.Issuer(), idp.ClientOptions{Source: idp.SourceXFF})
	if err != nil {
		t.Fatal(err)
	}
	home, thief := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.66")
	t0, err := c.Login(ctx, home, "mmosley", idp.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := c.Refresh(ctx, home, t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	race := c.Race(ctx, home, t1.RefreshToken)
	if race[0].Err != nil || race[1].Err != nil {
		t.Fatalf("race: %v / %v", race[0].Err, race[1].Err)
	}
	if _, err := c.Refresh(ctx, thief, t1.RefreshToken); err != nil { // still inside 300ms of its rotation
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := c.Refresh(ctx, thief, t0.RefreshToken); !idp.IsInvalidGrant(err) {
		t.Fatalf("outside grace: %v", err)
	}
	if _, err := c.Refresh(ctx, thief, "garbage"); !idp.IsInvalidGrant(err) {
		t.Fatalf("garbage: %v", err)
	}
	end := time.Now().UTC()

	evs := parseAll(t, []byte(log.String()))
	checkPairs(t, evs)
	var got []string
	for _, ev := range evs {
		if ev.Time.Before(start) || ev.Time.After(end) || ev.Time.Location() != time.UTC {
			t.Errorf("time %v outside [%v, %v]", ev.Time, start, end)
		}
		if ev.Kind == parser.KindOther {
			continue // discovery, the other WARN lines and the trace
		}
		if ev.Kind == parser.KindRefusal {
			got = append(got, "refusal "+ev.Message)
			continue
		}
		got = append(got, ev.Kind.String()+" "+ev.IP.String()+" "+ev.User)
	}
	const dn = "uid=mmosley,ou=shadow,o=Tremolo"
	want := []string{
		"login 198.51.100.10 " + dn,
		"token_ok 198.51.100.10 " + dn, // the login's token exchange
		"token_ok 198.51.100.10 " + dn, // refresh
		"token_ok 198.51.100.10 " + dn, // race: the rotation …
		"token_ok 198.51.100.10 " + dn, // … and the grace reuse of the same token
		"grace_reuse 198.51.100.10 " + dn,
		"token_ok 203.0.113.66 " + dn, // the replay inside the grace period
		"grace_reuse 203.0.113.66 " + dn,
		"refusal " + parser.RefusalNoSession,
		"token_fail 203.0.113.66 " + idp.AnonymousDN, // outside it
		"token_fail 203.0.113.66 " + idp.AnonymousDN, // garbage
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n%s\nwant\n%s\nlog:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), log.String())
	}
	traces := 0
	for _, ev := range evs {
		if strings.Contains(ev.Raw, "\n\tat com.tremolosecurity.idp.providers.OpenIDConnectIdP.refreshToken(") {
			traces++
			if ev.Level != "WARN" || ev.Message != "Could not refresh token" {
				t.Errorf("trace record %q %q", ev.Level, ev.Message)
			}
		}
	}
	if traces != 1 {
		t.Errorf("%d stack-trace records, want 1 (the trace joined to its WARN line)", traces)
	}
}

func quietDiag() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
