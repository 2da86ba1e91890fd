package sinks

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

var t0 = time.Date(2026, 11, 23, 10, 1, 32, 401_000_000, time.UTC)

// replay is a fully enriched grace-period replay alert: what a responder
// sees on a real day.
func replay() alert.Alert {
	return alert.Alert{
		ID: "3f2a9c0d1e4b5a6c7d8e", Time: t0, Rule: "reuse-ip-mismatch", Severity: alert.High,
		Description: "grace-period reuse from another IP than the refresh that rotated the token",
		Summary:     "uid=jjackson's refresh token was used again from 192.0.2.66, 2.4s after 198.51.100.23 refreshed it",
		User:        "uid=jjackson,ou=shadow,o=Tremolo", IP: "192.0.2.66", PrevIP: "198.51.100.23", PrevTime: t0.Add(-2400 * time.Millisecond),
		Session: "f77866cff8cd8464d31a6cd4dfc928ac8812b65af", IdP: "k8sIdp",
		URL:        "https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token",
		Source:     "/var/log/pods/openunison_openunison-orchestra-7d9/openunison-orchestra/0.log",
		Geo:        &alert.Geo{Country: "NL", City: "Amsterdam", Lat: f64(52.37), Lon: f64(4.89), RadiusKm: 20, ASN: 64500, Org: "Example Transit B.V."},
		PrevGeo:    &alert.Geo{Country: "GB", City: "London", Lat: f64(51.51), Lon: f64(-0.13), RadiusKm: 10, ASN: 64501, Org: "Example Broadband"},
		DistanceKm: f64(357.6), SpeedKmh: f64(536400), IntervalMs: i64(2400),
		Raw: "[2026-11-23 10:01:32,401][XNIO-1 task-3] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - uid=jjackson,ou=shadow,o=Tremolo - Expired token used within grace period [192.0.2.66] - [f77866cff8cd8464d31a6cd4dfc928ac8812b65af]",
	}
}

// proxied is a replay through ingress-nginx, joined to the controller's
// access log: the client, its agent and the proxy it came through.
func proxied() alert.Alert {
	a := replay()
	a.ID, a.Geo, a.PrevGeo, a.DistanceKm, a.SpeedKmh = "7a6b5c4d3e2f1a0b9c8d", nil, nil, nil, nil
	a.IP, a.PrevIP, a.Peer, a.PrevPeer = "203.0.113.9", "198.51.100.23", "10.1.67.12", "10.1.67.56"
	a.Via, a.Agent, a.PrevAgent, a.Attribution = "ingress-nginx 10.1.67.12", "curl/8.5.0", "Go-http-client/2.0", "joined"
	a.Summary = "refresh token reused inside the grace period from another address: uid=jjackson,ou=shadow,o=Tremolo from 203.0.113.9 via ingress-nginx 10.1.67.12, curl/8.5.0, 2.4s after a refresh from 198.51.100.23, Go-http-client/2.0"
	return a
}

// proxiedUnknownPrev is proxied whose previous refresh came through the
// proxy with a client attribution could not tell: no PrevIP, the proxy's
// address as PrevPeer.
func proxiedUnknownPrev() alert.Alert {
	a := proxied()
	a.ID, a.PrevIP, a.PrevPeer = "8b7c6d5e4f3a2b1c0d9e", "", "10.1.67.12"
	a.Summary = "refresh token reused inside the grace period from another address: uid=jjackson,ou=shadow,o=Tremolo from 203.0.113.9 via ingress-nginx 10.1.67.12, curl/8.5.0, 2.4s after a refresh from an unknown client via proxy 10.1.67.12, Go-http-client/2.0"
	return a
}

// replayGroup is the group one replay raises with the geo rules on: most
// severe first.
func replayGroup() []alert.Alert {
	jump := replay()
	jump.ID, jump.Rule, jump.Severity = "9b1c2d3e4f5a6b7c8d9e", "reuse-geo-jump", alert.Critical
	jump.Description = "travel speed between the refresh and the reuse above 900 km/h, farther than both accuracy radii"
	jump.Summary = "uid=jjackson's token travelled 358 km in 2.4s (536,400 km/h): London, GB → Amsterdam, NL"
	return []alert.Alert{jump, replay()}
}

// plain is an alert without geo or a previous refresh (no GeoIP database,
// a user with no history).
func plain(id string) alert.Alert {
	return alert.Alert{
		ID: id, Time: t0, Rule: "reuse-new-ip", Severity: alert.Medium,
		Description: "grace-period reuse from an IP never seen for this user",
		User:        "uid=mmosley,ou=shadow,o=Tremolo", IP: "10.1.67.56", Session: "null", IdP: "k8sIdp",
		Source: "idp.log",
	}
}

// numbered returns n one-alert groups with distinct ids and users.
func numbered(n int) [][]alert.Alert {
	out := make([][]alert.Alert, n)
	for i := range out {
		out[i] = numberedGroup(i)
	}
	return out
}

// numberedGroup is the i-th of numbered, with a copy of every string, as a
// freshly parsed event would have.
func numberedGroup(i int) []alert.Alert {
	a := plain(fmt.Sprintf("id%05d", i))
	a.User = fmt.Sprintf("uid=user%05d,ou=shadow,o=Tremolo", i)
	a.Time = t0.Add(time.Duration(i) * time.Second)
	a.Rule, a.Description, a.IP, a.IdP, a.Source = strings.Clone(a.Rule), strings.Clone(a.Description), strings.Clone(a.IP), strings.Clone(a.IdP), strings.Clone(a.Source)
	a.Raw = fmt.Sprintf("[2026-11-23 10:01:32,401][XNIO-1 task-3] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - %s - Expired token used within grace period [10.1.67.56] - [f%040d]", a.User, i)
	return []alert.Alert{a}
}

// fakeSink records what it is sent and fails as told.
type fakeSink struct {
	mu     sync.Mutex
	groups [][]alert.Alert
	errs   []error       // returned by successive calls, then nil
	block  chan struct{} // when set, Send waits for it (or ctx)
	closed bool
	calls  atomic.Int32 // Send calls begun
}

func (f *fakeSink) Send(ctx context.Context, group []alert.Alert) error {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return err
		}
	}
	f.groups = append(f.groups, group)
	return nil
}

func (f *fakeSink) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeSink) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, g := range f.groups {
		for _, a := range g {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// digestSink is a fakeSink that also takes digests.
type digestSink struct {
	fakeSink
	digests [][][]alert.Alert
}

func (d *digestSink) sendDigest(_ context.Context, groups [][]alert.Alert) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.digests = append(d.digests, groups)
	d.groups = append(d.groups, groups...)
	return nil
}

func newTestLogger() (*slog.Logger, *testsync.Buffer) {
	lb := &testsync.Buffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
