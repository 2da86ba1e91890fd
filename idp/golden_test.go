package idp

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/golden"
)

// TestGoldenLogs runs every case of openunison-logs.md's token endpoint table
// (and the harness's own additions) through the provider and compares the
// log it wrote with testdata/golden/<case>.log. Clock, randomness and
// addresses are fixed, so the files are byte-for-byte stable.
func TestGoldenLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  func(*Config)
		run  func(h *harness)
	}{
		{
			name: "login",
			run: func(h *harness) {
				h.login("mmosley", DemoPassword, http.StatusOK)
			},
		},
		{
			name: "login_bad_password",
			run: func(h *harness) {
				h.login("mmosley", "wrong", http.StatusBadRequest)
				h.login("nobody", "wrong", http.StatusBadRequest)
			},
		},
		{
			name: "refresh",
			run: func(h *harness) {
				rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.clock.Advance(50 * time.Second)
				rt = h.refresh(rt, http.StatusOK).RefreshToken
				h.clock.Advance(50 * time.Second)
				h.refresh(rt, http.StatusOK)
			},
		},
		{
			name: "grace_reuse",
			cfg:  func(c *Config) { c.Grace = 5 * time.Second },
			run: func(h *harness) {
				old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.clock.Advance(50 * time.Second)
				cur := h.refresh(old, http.StatusOK).RefreshToken
				h.clock.Advance(1500 * time.Millisecond)
				h.remote = "198.51.100.23:40001"
				if got := h.refresh(old, http.StatusOK).RefreshToken; got != cur {
					h.t.Errorf("grace reuse returned another refresh token than the session's current one")
				}
			},
		},
		{
			name: "outside_grace",
			cfg:  func(c *Config) { c.Grace = 5 * time.Second },
			run: func(h *harness) {
				old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.refresh(old, http.StatusOK)
				h.clock.Advance(5 * time.Second) // the window is open until rotation + grace, exclusive
				h.refresh(old, http.StatusBadRequest)
			},
		},
		{
			name: "grace_zero",
			run: func(h *harness) {
				old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.refresh(old, http.StatusOK)
				h.refresh(old, http.StatusBadRequest)
			},
		},
		{
			name: "unknown_session",
			run: func(h *harness) {
				h.refresh(strings.Repeat("A", TokenLen), http.StatusBadRequest)
			},
		},
		{
			name: "session_expired",
			run: func(h *harness) {
				rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.clock.Advance(DefaultSessionTTL)
				h.refresh(rt, http.StatusBadRequest)
				// OpenUnison deletes the expired session: the token is now unknown.
				h.refresh(rt, http.StatusBadRequest)
			},
		},
		{
			name: "session_slides",
			run: func(h *harness) {
				rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				for range 3 {
					h.clock.Advance(DefaultSessionTTL - time.Second)
					rt = h.refresh(rt, http.StatusOK).RefreshToken
				}
			},
		},
		{
			name: "bad_client_secret",
			cfg:  func(c *Config) { c.ClientSecret = "s3cret-value" },
			run: func(h *harness) {
				h.secret = "s3cret-value"
				rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.secret = "wrong-value"
				h.refresh(rt, http.StatusUnauthorized)
				h.secret = ""
				h.refresh(rt, http.StatusUnauthorized)
			},
		},
		{
			name: "garbage_token",
			run: func(h *harness) {
				h.refresh("eyJub3QiOiJhIHJlZnJlc2ggdG9rZW4ifQ", http.StatusBadRequest)
			},
		},
		{
			name: "revoke_on_reuse",
			cfg:  func(c *Config) { c.Grace = 5 * time.Second; c.RevokeOnReuse = true },
			run: func(h *harness) {
				old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				cur := h.refresh(old, http.StatusOK).RefreshToken
				h.clock.Advance(time.Minute)
				h.remote = "203.0.113.99:443"
				h.refresh(old, http.StatusBadRequest)
				h.remote = "10.1.67.56:51234"
				h.refresh(cur, http.StatusBadRequest)
			},
		},
		{
			name: "session_id_oidc",
			cfg:  func(c *Config) { c.Grace = 5 * time.Second; c.SessionID = SessionIDOIDC },
			run: func(h *harness) {
				old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
				h.refresh(old, http.StatusOK)
				h.refresh(old, http.StatusOK)
				h.refresh("not a token", http.StatusBadRequest)
			},
		},
		{
			name: "noise",
			run: func(h *harness) {
				h.remote = "127.0.0.1:50000"
				h.host = "127.0.0.1:8443"
				h.do(http.MethodGet, "/auth/idp/k8sIdp/.well-known/openid-configuration", "", "")
				h.do(http.MethodGet, "/auth/idp/k8sIdp/certs", "", "")
				h.do(http.MethodGet, "/auth/idp/k8sIdp/auth%0A[forged]", "", "")
				h.do(http.MethodPost, "/auth/idp/k8sIdp/certs", "", "")
			},
		},
		{
			name: "addresses",
			cfg: func(c *Config) {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
			},
			run: func(h *harness) {
				h.remote = "[::1]:50000"
				rt := h.login("jjackson", DemoPassword, http.StatusOK).RefreshToken
				h.remote = "127.0.0.1:50000"
				h.header = http.Header{"X-Forwarded-For": {"192.0.2.200, 203.0.113.7, 10.0.0.3"}}
				rt = h.refresh(rt, http.StatusOK).RefreshToken
				h.remote = "198.51.100.1:50000" // not a trusted proxy: its X-Forwarded-For is ignored
				h.refresh(rt, http.StatusOK)
			},
		},
		{
			name: "invalid_requests",
			run: func(h *harness) {
				for _, c := range []struct {
					method, ctype, body string
					want                int
				}{
					{http.MethodGet, "", "", http.StatusMethodNotAllowed},
					{http.MethodPost, "application/json", `{"grant_type":"refresh_token"}`, http.StatusBadRequest},
					{http.MethodPost, formType, "client_id=kubernetes", http.StatusBadRequest},
					{http.MethodPost, formType, "grant_type=authorization_code&code=x&client_id=kubernetes", http.StatusBadRequest},
					{http.MethodPost, formType, "grant_type=refresh_token&client_id=kubernetes", http.StatusBadRequest},
					{http.MethodPost, formType, "grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=kubernetes", http.StatusBadRequest},
					{http.MethodPost, formType, "grant_type=refresh_token&refresh_token=a", http.StatusUnauthorized},
					{http.MethodPost, formType, "grant_type=refresh_token&refresh_token=a&client_id=kubectl", http.StatusUnauthorized},
				} {
					if rec := h.do(c.method, "/auth/idp/k8sIdp/token", c.ctype, c.body); rec.Code != c.want {
						h.t.Errorf("%s %q: status %d, want %d", c.method, c.body, rec.Code, c.want)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			tt.run(h)
			golden.Check(t, filepath.Join("testdata", "golden", tt.name+".log"), h.log.Bytes())
			assertNoSecrets(t, h)
		})
	}
}

// assertNoSecrets checks that nothing secret reached the log: the client
// secret, passwords, and refresh tokens in either encoding a client sees.
func assertNoSecrets(t *testing.T, h *harness) {
	t.Helper()
	log := h.log.String()
	for _, s := range []string{"s3cret-value", "wrong-value", DemoPassword} {
		if strings.Contains(log, s) {
			t.Errorf("log contains secret %q", s)
		}
	}
	h.p.st.mu.RLock()
	defer h.p.st.mu.RUnlock()
	for sel := range h.p.st.tokens {
		if strings.Contains(log, base64.RawURLEncoding.EncodeToString(sel[:])) {
			t.Errorf("log contains a refresh token selector")
		}
	}
}

func TestInvalidClientChallengesBasicClients(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.ClientSecret = "right" })
	body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}.Encode()
	h.header = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("kubernetes:wrong"))}}
	rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType, body)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("Basic client with a wrong secret: status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if strings.Contains(rec.Body.String(), "wrong") || strings.Contains(h.log.String(), "wrong") {
		t.Errorf("the presented secret was echoed")
	}
}
