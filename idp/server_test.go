package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	validBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte("kubernetes:"))
	tests := []struct {
		name     string
		method   string
		ctype    string
		authz    string
		body     string
		secret   string
		status   int
		code     string
		wwwAuthn bool
	}{
		{"GET", http.MethodGet, "", "", "", "", 405, "invalid_request", false},
		{"json body", http.MethodPost, "application/json", "", `{}`, "", 400, "invalid_request", false},
		{"no content type", http.MethodPost, "", "", "grant_type=password", "", 400, "invalid_request", false},
		{"bad form", http.MethodPost, formType, "", "grant_type=%zz", "", 400, "invalid_request", false},
		{"semicolon form", http.MethodPost, formType, "", "grant_type=password;x=y", "", 400, "invalid_request", false},
		{"missing grant_type", http.MethodPost, formType, "", "client_id=kubernetes", "", 400, "invalid_request", false},
		{"unsupported grant_type", http.MethodPost, formType, "", "grant_type=client_credentials&client_id=kubernetes", "", 400, "unsupported_grant_type", false},
		{"missing refresh_token", http.MethodPost, formType, "", "grant_type=refresh_token&client_id=kubernetes", "", 400, "invalid_request", false},
		{"missing password", http.MethodPost, formType, "", "grant_type=password&username=mmosley&client_id=kubernetes", "", 400, "invalid_request", false},
		{"repeated parameter", http.MethodPost, formType, "", "grant_type=password&grant_type=password&username=a&password=b&client_id=kubernetes", "", 400, "invalid_request", false},
		{"two client auth methods", http.MethodPost, formType, validBasic, "grant_type=refresh_token&refresh_token=x&client_secret=y", "", 400, "invalid_request", false},
		{"client_id mismatch", http.MethodPost, formType, validBasic, "grant_type=refresh_token&refresh_token=x&client_id=other", "", 400, "invalid_request", false},
		{"no client", http.MethodPost, formType, "", "grant_type=refresh_token&refresh_token=x", "", 401, "invalid_client", false},
		{"unknown client", http.MethodPost, formType, "", "grant_type=refresh_token&refresh_token=x&client_id=other", "", 401, "invalid_client", false},
		{"malformed basic", http.MethodPost, formType, "Basic !!!", "grant_type=refresh_token&refresh_token=x", "", 401, "invalid_client", true},
		{"wrong secret post", http.MethodPost, formType, "", "grant_type=refresh_token&refresh_token=x&client_id=kubernetes&client_secret=no", "yes", 401, "invalid_client", false},
		{"wrong secret basic", http.MethodPost, formType, validBasic, "grant_type=refresh_token&refresh_token=x", "yes", 401, "invalid_client", true},
		{"garbage token", http.MethodPost, formType, validBasic, "grant_type=refresh_token&refresh_token=x", "", 400, "invalid_grant", false},
		{"unknown token", http.MethodPost, formType, "", "grant_type=refresh_token&client_id=kubernetes&refresh_token=" + strings.Repeat("B", TokenLen), "", 400, "invalid_grant", false},
		{"bad password", http.MethodPost, formType, "", "grant_type=password&username=mmosley&password=x&client_id=kubernetes", "", 400, "invalid_grant", false},
		{"too large", http.MethodPost, formType, "", "grant_type=password&x=" + strings.Repeat("a", maxFormBytes), "", 400, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.ClientSecret = tt.secret })
			if tt.authz != "" {
				h.header = http.Header{"Authorization": {tt.authz}}
			}
			rec := h.do(tt.method, "/auth/idp/k8sIdp/token", tt.ctype, tt.body)
			if rec.Code != tt.status {
				t.Errorf("status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error != tt.code {
				t.Errorf("error %q (%v), want %q", e.Error, err, tt.code)
			}
			if got := rec.Header().Get("WWW-Authenticate") != ""; got != tt.wwwAuthn {
				t.Errorf("WWW-Authenticate present = %v, want %v", got, tt.wwwAuthn)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if n := strings.Count(h.log.String(), "[AzFail]") + strings.Count(h.log.String(), "[AuFail]"); n != 1 {
				t.Errorf("want one AzFail or AuFail line, log:\n%s", h.log)
			}
		})
	}
}

func TestClientAuthenticationMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.ClientSecret = "p@ss word+/=" })
	form := url.Values{"grant_type": {"password"}, "username": {"mmosley"}, "password": {DemoPassword}}.Encode()
	// client_secret_basic as RFC 6749 2.3.1 and golang.org/x/oauth2 encode it.
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("kubernetes") + ":" + url.QueryEscape("p@ss word+/=")))
	h.header = http.Header{"Authorization": {"Basic " + basic}}
	if rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType, form); rec.Code != http.StatusOK {
		t.Errorf("client_secret_basic: %d %s", rec.Code, rec.Body)
	}
	h.header = nil
	post := form + "&" + url.Values{"client_id": {"kubernetes"}, "client_secret": {"p@ss word+/="}}.Encode()
	if rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType, post); rec.Code != http.StatusOK {
		t.Errorf("client_secret_post: %d %s", rec.Code, rec.Body)
	}
}

func TestIDTokenVerifiesAgainstJWKS(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	ecDER, err := x509.MarshalPKCS8PrivateKey(testKey())
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})

	for _, tt := range []struct {
		name string
		pem  []byte
		alg  jose.SignatureAlgorithm
	}{{"ES256", ecPEM, jose.ES256}, {"RS256", rsaPEM, jose.RS256}} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := parseSigningKey(tt.pem)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, func(c *Config) { c.SigningKey = key; c.IDTokenTTL = 90 * time.Second })
			rec := h.do(http.MethodGet, "/auth/idp/k8sIdp/certs", "", "")
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS: %v %s", err, rec.Body)
			}
			if set.Keys[0].Algorithm != string(tt.alg) || set.Keys[0].KeyID == "" || !set.Keys[0].IsPublic() {
				t.Errorf("JWKS key %+v", set.Keys[0])
			}
			tr := h.login("mmosley", DemoPassword, http.StatusOK)
			tr2 := h.refresh(tr.RefreshToken, http.StatusOK)
			var jtis []string
			for _, raw := range []string{tr.IDToken, tr2.IDToken} {
				tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{tt.alg})
				if err != nil {
					t.Fatal(err)
				}
				if tok.Headers[0].KeyID != set.Keys[0].KeyID {
					t.Errorf("kid %q, JWKS has %q", tok.Headers[0].KeyID, set.Keys[0].KeyID)
				}
				var std jwt.Claims
				var extra struct {
					Name  string `json:"name"`
					Email string `json:"email"`
				}
				if err := tok.Claims(set.Keys[0], &std, &extra); err != nil {
					t.Fatalf("signature: %v", err)
				}
				err = std.ValidateWithLeeway(jwt.Expected{Issuer: "https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp",
					Subject: "mmosley", AnyAudience: jwt.Audience{"kubernetes"}, Time: h.clock.Now()}, 0)
				if err != nil {
					t.Error(err)
				}
				// Whole seconds: iat rounds the minting instant down, exp
				// rounds its end up, so the token lives at least 90s.
				if life := std.Expiry.Time().Sub(std.IssuedAt.Time()); life != 91*time.Second || std.NotBefore == nil || std.ID == "" {
					t.Errorf("exp - iat %s (minted at %s), want 91s; claims %+v", life, h.clock.Now().Format("15:04:05.000"), std)
				}
				if extra.Name != "Matt Mosley" || extra.Email != "mmosley@tremolo.dev" {
					t.Errorf("name/email %+v", extra)
				}
				jtis = append(jtis, std.ID)
			}
			if jtis[0] == jtis[1] {
				t.Error("jti repeated across tokens")
			}
			if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 90 || len(tr.RefreshToken) != TokenLen {
				t.Errorf("token response: type %q, expires_in %d, refresh token length %d", tr.TokenType, tr.ExpiresIn, len(tr.RefreshToken))
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rec := h.do(http.MethodGet, "/auth/idp/k8sIdp/.well-known/openid-configuration", "", "")
	var d discoveryDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	const iss = "https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp"
	if d.Issuer != iss || d.TokenEndpoint != iss+"/token" || d.JWKSURI != iss+"/certs" || d.SigningAlgs[0] != "ES256" {
		t.Errorf("discovery %+v", d)
	}
	if rec := h.do(http.MethodHead, "/auth/idp/k8sIdp/certs", "", ""); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD certs: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := h.do(http.MethodGet, "/auth/idp/other/certs", "", ""); rec.Code != 404 {
		t.Errorf("other IdP path: %d", rec.Code)
	}
}

// TestRotationIsAtomic fires many concurrent refreshes with one current
// token: whatever the interleaving, exactly one rotates and the rest are
// grace reuses that get the same new token (or, with grace 0, are refused).
func TestRotationIsAtomic(t *testing.T) {
	t.Parallel()
	const (
		rounds     = 30
		goroutines = 48
	)
	for _, grace := range []time.Duration{0, 5 * time.Second} {
		t.Run("grace="+grace.String(), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Grace = grace; c.Workers = goroutines; c.Now = time.Now })
			rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
			body := func(rt string) string {
				return url.Values{"grant_type": {"refresh_token"}, "client_id": {"kubernetes"}, "refresh_token": {rt}}.Encode()
			}
			for round := range rounds {
				h.log.Reset()
				start := make(chan struct{})
				var wg sync.WaitGroup
				codes := make([]int, goroutines)
				tokens := make([]string, goroutines)
				for i := range goroutines {
					wg.Go(func() {
						<-start
						rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType, body(rt))
						codes[i] = rec.Code
						var tr tokenResponse
						_ = json.Unmarshal(rec.Body.Bytes(), &tr)
						tokens[i] = tr.RefreshToken
					})
				}
				close(start)
				wg.Wait()
				ok, next := 0, ""
				for i, c := range codes {
					if c != http.StatusOK {
						continue
					}
					ok++
					if next == "" {
						next = tokens[i]
					} else if tokens[i] != next {
						t.Fatalf("round %d: two different refresh tokens handed out: two rotations", round)
					}
				}
				reuses := strings.Count(h.log.String(), "[ExpiredRefreshTokenUsed]")
				wantOK, wantReuses := goroutines, goroutines-1
				if grace == 0 {
					wantOK, wantReuses = 1, 0
				}
				if ok != wantOK || reuses != wantReuses {
					t.Fatalf("round %d: %d ok and %d reuses, want %d and %d", round, ok, reuses, wantOK, wantReuses)
				}
				rt = next
			}
			s := h.p.Stats()
			if s.Rotations != rounds {
				t.Errorf("rotations %d, want %d", s.Rotations, rounds)
			}
		})
	}
}

// TestGraceReuseFollowsChain: a token two rotations old, still inside its
// grace window, is answered with the session's current tokens.
func TestGraceReuseFollowsChain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Grace = 10 * time.Second })
	t0 := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
	t1 := h.refresh(t0, http.StatusOK)
	h.clock.Advance(time.Second)
	t2 := h.refresh(t1.RefreshToken, http.StatusOK)
	h.clock.Advance(time.Second)
	got := h.refresh(t0, http.StatusOK)
	if got.RefreshToken != t2.RefreshToken || got.IDToken != t2.IDToken {
		t.Errorf("reuse of the oldest token did not return the current tokens")
	}
	// minted a second ago at .123 with a 60s lifetime, exp rounded up
	if got.ExpiresIn != 59 {
		t.Errorf("expires_in %d, want the current id_token's remaining 59s", got.ExpiresIn)
	}
	if s := h.p.Stats(); s.Rotations != 2 || s.GraceReuses != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestSweepBoundsSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxSessions = 3; c.SessionTTL = time.Minute })
	for range 3 {
		h.login("sim0001", SimulatedPassword, http.StatusOK)
	}
	// Full: the fourth login is refused until sessions expire.
	rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType,
		url.Values{"grant_type": {"password"}, "username": {"sim0002"}, "password": {SimulatedPassword}, "client_id": {"kubernetes"}}.Encode())
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("login into a full store: %d", rec.Code)
	}
	h.clock.Advance(time.Minute)
	h.login("sim0002", SimulatedPassword, http.StatusOK) // makes room by sweeping
	if s := h.p.Stats(); s.Sessions != 1 || s.Swept != 3 || s.Full != 1 || s.Tokens != 1 {
		t.Errorf("stats %+v", s)
	}
	h.clock.Advance(time.Minute)
	if n := h.p.Sweep(); n != 1 {
		t.Errorf("Sweep removed %d, want 1", n)
	}
}

func TestRetiredHistoryIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Grace = time.Minute }) // the clock stands still: every rotated-out token stays in grace
	first := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
	rt := first
	for range defaultMaxRetired + 4 {
		rt = h.refresh(rt, http.StatusOK).RefreshToken
	}
	if s := h.p.Stats(); s.Tokens != defaultMaxRetired+1 {
		t.Errorf("tokens remembered %d, want %d", s.Tokens, defaultMaxRetired+1)
	}
	h.refresh(first, http.StatusBadRequest) // pushed out of the history: unknown
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Issuer: ""},
		{Issuer: "ftp://x/auth"},
		{Issuer: "http://x/auth?q=1"},
		{Issuer: "http://x/auth", Grace: -time.Second},
		{Issuer: "http://x/auth", IDTokenTTL: time.Millisecond},
		{Issuer: "http://x/auth", SessionID: "cookie"},
	} {
		c.SigningKey, c.Diag = testKey(), quietLogger()
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func TestParseSigningKeyRejects(t *testing.T) {
	t.Parallel()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":    nil,
		"cert":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"garbage":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"rsa-1024": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
	} {
		if _, err := parseSigningKey(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tok, err := newToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := tok.String()
	if len(s) != TokenLen {
		t.Fatalf("len %d, want %d", len(s), TokenLen)
	}
	back, ok := parseToken(s)
	if !ok || back != tok {
		t.Fatal("parseToken(String()) differs")
	}
	for _, bad := range []string{"", s[:TokenLen-1], s + "A", strings.Repeat("*", TokenLen), strings.Repeat("=", TokenLen)} {
		if _, ok := parseToken(bad); ok {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}
