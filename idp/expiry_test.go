package idp

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// servedAt serves a Provider over loopback HTTP with a settable clock and
// returns it with the package's own client for it.
func servedAt(t *testing.T, clock *fakeClock, grace, ttl time.Duration) (*Provider, *Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p, err := New(Config{Issuer: "http://" + srv.Listener.Addr().String() + DefaultIssuerPath, Grace: grace, IDTokenTTL: ttl,
		Users: fastUsers(), Now: clock.Now, SigningKey: testKey(), Diag: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := NewClient(context.Background(), p.Issuer(), ClientOptions{Timeout: loginTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return p, c
}

// verifiedClaims checks an id_token's signature against the IdP's JWKS and
// its times at instant now with no leeway, as kube-apiserver's OIDC
// authenticator checks exp, and returns its claims.
func verifiedClaims(t *testing.T, p *Provider, raw string, now time.Time) jwt.Claims {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(p.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.Claims(set.Keys[0], &c); err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: p.Issuer(), Time: now}, 0); err != nil {
		t.Errorf("id_token at %s (exp %s): %v", now.Format("15:04:05.000"), c.Expiry.Time().UTC().Format("15:04:05"), err)
	}
	return c
}

// An id_token lives at least the IdP's id_token lifetime from the instant
// it is minted, whatever the fraction of the second that instant falls on:
// JWT times are whole seconds, and rounding exp down took up to a second
// off, all of it with a 1s lifetime. A grace reuse is answered with the
// session's current id_token, minted at the rotation; with the README's
// --grace 5s --id-token-ttl 5s a reuse at the end of the window got one
// that had already expired.
func TestIDTokenLivesItsLifetime(t *testing.T) {
	t.Parallel()
	late := goldenStart.Truncate(time.Second).Add(999 * time.Millisecond) // the last millisecond of a second
	for _, tt := range []struct {
		name       string
		grace, ttl time.Duration
		reuseAfter time.Duration // after the rotation; 0: no reuse
	}{
		{"login and refresh, 1s lifetime", 0, time.Second, 0},
		{"login and refresh, 5s lifetime", 0, 5 * time.Second, 0},
		{"reuse at the end of a 5s window, 5s lifetime", 5 * time.Second, 5 * time.Second, 5*time.Second - time.Millisecond},
		{"reuse at the end of a 4s window, 5s lifetime", 4 * time.Second, 5 * time.Second, 4*time.Second - time.Millisecond},
		{"reuse at the end of a 59s window, 1m lifetime", 59 * time.Second, time.Minute, 59*time.Second - time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(late)
			p, c := servedAt(t, clock, tt.grace, tt.ttl)
			ctx, home := context.Background(), netip.Addr{}
			login, err := c.Login(ctx, home, "mmosley", DemoPassword)
			if err != nil {
				t.Fatal(err)
			}
			if exp := verifiedClaims(t, p, login.IDToken, late).Expiry.Time(); exp.Before(late.Add(tt.ttl)) {
				t.Errorf("login at %s: id_token expires at %s, %s after it was minted, want %s or more",
					late.Format("15:04:05.000"), exp.UTC().Format("15:04:05"), exp.Sub(late), tt.ttl)
			}

			clock.Advance(time.Second) // the rotation, also on a second's last millisecond
			rotated := clock.Now()
			fresh, err := c.Refresh(ctx, home, login.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if exp := verifiedClaims(t, p, fresh.IDToken, rotated).Expiry.Time(); exp.Before(rotated.Add(tt.ttl)) {
				t.Errorf("refresh: id_token expires %s after it was minted, want %s or more", exp.Sub(rotated), tt.ttl)
			}
			if tt.reuseAfter == 0 {
				return
			}

			clock.Advance(tt.reuseAfter)
			now := clock.Now()
			reused, err := c.Refresh(ctx, netip.MustParseAddr("192.0.2.66"), login.RefreshToken)
			if err != nil {
				t.Fatalf("grace reuse %s after the rotation: %v", tt.reuseAfter, err)
			}
			if reused.IDToken != fresh.IDToken {
				t.Fatal("a grace reuse was not answered with the current id_token")
			}
			// verifiedClaims fails an id_token that expired before the
			// reuse was answered.
			exp := verifiedClaims(t, p, reused.IDToken, now).Expiry.Time()
			if left := exp.Sub(now); time.Duration(reused.ExpiresIn)*time.Second > left {
				t.Errorf("grace reuse: expires_in %d, but the id_token has %s left", reused.ExpiresIn, left)
			}
		})
	}
}

// A rotated-out token is answered with the session's current id_token for
// the whole grace period: a grace longer than the id_token's lifetime
// would hand out tokens that expired before the request came, so the
// IdP refuses it.
func TestNewRefusesGraceLongerThanIDTokenTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		grace, ttl time.Duration
		ok         bool
	}{
		{5 * time.Second, 5 * time.Second, true},
		{4 * time.Second, 5 * time.Second, true},
		{time.Minute, 0, true}, // the default lifetime, 1m
		{5*time.Second + time.Millisecond, 5 * time.Second, false},
		{10 * time.Second, 5 * time.Second, false},
		{2 * time.Minute, 0, false},
	} {
		_, err := New(Config{Issuer: "http://x/auth", Grace: tt.grace, IDTokenTTL: tt.ttl, SigningKey: testKey(), Diag: quietLogger()})
		switch {
		case tt.ok && err != nil:
			t.Errorf("grace %s, id_token lifetime %s: %v", tt.grace, tt.ttl, err)
		case !tt.ok && err == nil:
			t.Errorf("grace %s, id_token lifetime %s: accepted", tt.grace, tt.ttl)
		case !tt.ok && !strings.Contains(err.Error(), "grace "+tt.grace.String()):
			t.Errorf("grace %s, id_token lifetime %s: error %q does not name the grace", tt.grace, tt.ttl, err)
		}
	}
}
