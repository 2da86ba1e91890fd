package idp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// loginTimeout is the tests' clients' wait for an answer, in place of
// the client's 10 s: a login is a bcrypt (cost 10) compare, 1.6 s under
// -race alone, and past 10 s on a loaded machine beside the tests' other
// logins. The tests are of what the IdP answers, not of how soon.
const loginTimeout = time.Minute

// fakeClock is a settable clock; golden logs need fixed timestamps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seededRand is a deterministic, concurrency-safe io.Reader for golden tests.
type seededRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newSeededRand(seed byte) *seededRand {
	var s [32]byte
	s[0] = seed
	return &seededRand{r: rand.NewChaCha8(s)}
}

func (s *seededRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// testKey is a fixed P-256 key so tests do not pay for key generation.
var testKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), newSeededRand(7))
	if err != nil {
		panic(err)
	}
	return k
})

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness drives a Provider in process through ServeHTTP.
type harness struct {
	t      testing.TB
	p      *Provider
	clock  *fakeClock
	log    *bytes.Buffer
	host   string
	remote string
	secret string
	header http.Header
}

// goldenStart is the clock every golden scenario starts at.
var goldenStart = time.Date(2026, 11, 23, 10, 0, 0, 123_000_000, time.UTC)

// fastUsers are the demo users with their password hashed at bcrypt's
// least cost. The harness's scenarios log in over and over; at the demo
// file's cost 10 those logins were most of the package's CPU, 48 s of the
// race detector's. What the harness checks (the IdP's answers and log
// lines) is the same at any cost; TestDemoUsers checks the demo file's own
// hashes, and an unknown user still pays for the decoy hash.
var fastUsers = sync.OnceValue(func() *Users {
	hash, err := bcrypt.GenerateFromPassword([]byte(DemoPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	cost10 := regexp.MustCompile(`\$2a\$10\$[./A-Za-z0-9]{53}`)
	if !cost10.Match(demoUsersYAML) {
		panic("the demo users' cost-10 hash is not where fastUsers looks for it")
	}
	u, err := parseUsers(cost10.ReplaceAllLiteral(demoUsersYAML, hash))
	if err != nil {
		panic(err)
	}
	return u
})

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(goldenStart), log: &bytes.Buffer{},
		host: "k8sou.lab.tremolo.dev", remote: "10.1.67.56:51234"}
	cfg := Config{
		Users:      fastUsers(),
		Issuer:     "https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp",
		Log:        h.log,
		Now:        h.clock.Now,
		Rand:       newSeededRand(1),
		SigningKey: testKey(),
		Diag:       quietLogger(),
		Workers:    4,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.p = p
	return h
}

func (h *harness) do(method, path, ctype string, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, "https://"+h.host+path, strings.NewReader(body))
	req.RemoteAddr = h.remote
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range h.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.p.ServeHTTP(rec, req)
	return rec
}

const formType = "application/x-www-form-urlencoded"

func (h *harness) token(form url.Values, want int) tokenResponse {
	h.t.Helper()
	if _, ok := form["client_id"]; !ok {
		form.Set("client_id", DefaultClientID)
	}
	if h.secret != "" {
		form.Set("client_secret", h.secret)
	}
	rec := h.do(http.MethodPost, "/auth/idp/k8sIdp/token", formType, form.Encode())
	if rec.Code != want {
		h.t.Fatalf("POST token %v: status %d, want %d; body %s", redactForm(form), rec.Code, want, rec.Body)
	}
	var tr tokenResponse
	if want == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
			h.t.Fatalf("token response: %v", err)
		}
	}
	return tr
}

func (h *harness) login(user, password string, want int) tokenResponse {
	h.t.Helper()
	return h.token(url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}, want)
}

func (h *harness) refresh(rt string, want int) tokenResponse {
	h.t.Helper()
	return h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, want)
}

func redactForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if k == "refresh_token" || k == "password" || k == "client_secret" {
			vs = []string{"…"}
		}
		out[k] = vs
	}
	return out
}
