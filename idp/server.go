package idp

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/internal/redact"
)

// SessionIDMode chooses what the IdP writes in the trailing brackets of its
// log lines.
type SessionIDMode string

const (
	// SessionIDRequest writes a fresh "f"+40-hex id per request, as
	// OpenUnison does for cookie-less clients such as kubectl.
	SessionIDRequest SessionIDMode = "request"
	// SessionIDOIDC writes the OIDC session's id, stable along a refresh
	// chain; requests that resolve to no session get a fresh id.
	SessionIDOIDC SessionIDMode = "oidc"
)

// ParseSessionIDMode parses "request" or "oidc".
func ParseSessionIDMode(s string) (SessionIDMode, error) {
	switch m := SessionIDMode(s); m {
	case SessionIDRequest, SessionIDOIDC:
		return m, nil
	}
	return "", fmt.Errorf("session id mode %q: want request or oidc", s)
}

// Defaults of OpenUnison's orchestra chart.
const (
	DefaultIDTokenTTL  = time.Minute
	DefaultSessionTTL  = 15 * time.Minute
	DefaultClientID    = "kubernetes"
	DefaultIssuerPath  = "/auth/idp/k8sIdp"
	DefaultMaxSessions = 100_000
	// defaultMaxRetired is how many rotated-out tokens a session remembers
	// for grace reuse and --revoke-on-reuse; a token pushed out of this
	// history is simply unknown.
	defaultMaxRetired = 16
)

// authChainMessage is the AuSuccess/AuFail message, OpenUnison's
// `LEVEL / CHAIN`, for the password grant the harness authenticates with.
const authChainMessage = "0 / password"

// Config configures a Provider. Issuer is required; zero values elsewhere
// take the documented defaults.
type Config struct {
	// Issuer is the full issuer URL, e.g. http://127.0.0.1:8443/auth/idp/k8sIdp.
	// Its path prefixes every endpoint; its last segment names the IdP.
	Issuer         string
	Grace          time.Duration // rotated-out tokens stay usable until rotation + Grace; at most IDTokenTTL
	IDTokenTTL     time.Duration // default 1m; exp is rounded up to the second
	SessionTTL     time.Duration // sliding, default 15m
	Users          *Users        // default DemoUsers()
	ClientID       string        // default "kubernetes"
	ClientSecret   string        // empty: a public client
	Log            io.Writer     // the OpenUnison-format log; nil discards
	TrustedProxies []netip.Prefix
	SessionID      SessionIDMode // default request
	SigningKey     crypto.Signer // P-256 (ES256) or RSA (RS256); nil generates P-256
	RevokeOnReuse  bool          // a reuse outside grace revokes the whole session
	MaxSessions    int           // default 100,000
	// Workers is the number of "XNIO-1 task-N" worker threads; a request
	// waits for a free one, as in Undertow. Default max(2, NumCPU) * 8.
	Workers int
	Now     func() time.Time // default time.Now
	// Rand is the source of tokens and ids; it must be safe for concurrent
	// use. Default crypto/rand. Tests use a seeded one for golden logs.
	Rand io.Reader
	// Diag receives graceguard's own diagnostics; default slog.Default().
	Diag *slog.Logger
	// Sessions, when set, keeps every session where OpenUnison's
	// Kubernetes session store keeps it, and is asked before every
	// refresh: a session deleted there is gone (kubesessions.go).
	Sessions SessionStore
}

// Stats counts what the provider did since it started.
type Stats struct {
	Sessions    int    `json:"sessions"` // live sessions
	Tokens      int    `json:"tokens"`   // refresh tokens remembered (current and rotated-out)
	Logins      uint64 `json:"logins"`
	Rotations   uint64 `json:"rotations"`
	GraceReuses uint64 `json:"grace_reuses"`
	Expired     uint64 `json:"expired"` // refused because the session had expired
	Swept       uint64 `json:"swept"`   // expired sessions removed by the sweeper
	Revoked     uint64 `json:"revoked"` // sessions revoked by --revoke-on-reuse
	Ended       uint64 `json:"ended"`   // sessions found deleted from the session store (Config.Sessions)
	Full        uint64 `json:"full"`    // logins refused because MaxSessions was reached
	Refused     uint64 `json:"refused"` // token requests answered with an OAuth error
}

// Provider is the bundled IdP: an http.Handler serving discovery, JWKS and
// the token endpoint under the issuer's path.
type Provider struct {
	cfg       Config
	issuer    string
	path      string
	app       string
	log       *Logger
	sig       *signer
	st        *store
	threads   *threads
	discovery []byte
	rnd       io.Reader
	now       func() time.Time
	diag      *slog.Logger
	secret    [sha256.Size]byte
	refused   atomic.Uint64
}

// New checks cfg and builds a Provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("issuer %q: want an http or https URL without query or fragment", redact.URL(cfg.Issuer))
	}
	issuer := strings.TrimSuffix(cfg.Issuer, "/")
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	name := path[strings.LastIndexByte(path, '/')+1:]
	if name == "" {
		name = "idp"
	}
	if cfg.Grace < 0 || cfg.IDTokenTTL < 0 || cfg.SessionTTL < 0 {
		return nil, errors.New("grace, id token TTL and session TTL must not be negative")
	}
	if cfg, err = cfg.withDefaults(); err != nil {
		return nil, err
	}
	sig, err := newSigner(cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:     cfg,
		issuer:  issuer,
		path:    path,
		app:     strings.ToLower(name),
		log:     newLogger(cfg.Log, cfg.Now, cfg.Diag),
		sig:     sig,
		st:      newStore(cfg.Rand, cfg.MaxSessions, defaultMaxRetired),
		threads: newThreads(cfg.Workers),
		rnd:     cfg.Rand,
		now:     cfg.Now,
		diag:    cfg.Diag,
		secret:  sha256.Sum256([]byte(cfg.ClientSecret)),
	}
	if p.discovery, err = json.MarshalIndent(p.discoveryDoc(), "", "  "); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	return p, nil
}

// defaultHooks fills the clock, the randomness and the diagnostics log
// the IdP and its proxy take from their config (tests pass their own).
func defaultHooks(now *func() time.Time, rnd *io.Reader, diag **slog.Logger) {
	if *now == nil {
		*now = time.Now
	}
	if *rnd == nil {
		*rnd = rand.Reader
	}
	if *diag == nil {
		*diag = slog.Default()
	}
}

// withDefaults fills what the config leaves unset and checks what New
// cannot default.
func (cfg Config) withDefaults() (Config, error) {
	cfg.IDTokenTTL = cmp.Or(cfg.IDTokenTTL, DefaultIDTokenTTL)
	if cfg.IDTokenTTL < time.Second {
		return cfg, fmt.Errorf("id token TTL %s: want at least 1s (JWT times are in seconds)", cfg.IDTokenTTL)
	}
	// A grace reuse is answered with the current id_token, minted at the
	// rotation: a window longer than its lifetime hands out tokens that
	// expired before the request came.
	if cfg.Grace > cfg.IDTokenTTL {
		return cfg, fmt.Errorf("grace %s is longer than the id token TTL %s: a reuse late in the window would be answered with an id_token that has already expired; want grace at most the id token TTL", cfg.Grace, cfg.IDTokenTTL)
	}
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, DefaultSessionTTL)
	if cfg.Users == nil {
		cfg.Users = DemoUsers()
	}
	cfg.ClientID = cmp.Or(cfg.ClientID, DefaultClientID)
	cfg.SessionID = cmp.Or(cfg.SessionID, SessionIDRequest)
	if _, err := ParseSessionIDMode(string(cfg.SessionID)); err != nil {
		return cfg, err
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Workers <= 0 {
		cfg.Workers = max(2, runtime.NumCPU()) * 8
	}
	defaultHooks(&cfg.Now, &cfg.Rand, &cfg.Diag)
	if cfg.SigningKey == nil {
		var err error
		if cfg.SigningKey, err = generateSigningKey(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Issuer is the issuer URL, without a trailing slash.
func (p *Provider) Issuer() string { return p.issuer }

// TokenURL is the token endpoint.
func (p *Provider) TokenURL() string { return p.issuer + "/token" }

// JWKS is the JSON Web Key Set document served at <issuer>/certs.
func (p *Provider) JWKS() []byte { return append([]byte(nil), p.sig.jwks...) }

// Algorithm is the id_token signature algorithm, ES256 or RS256.
func (p *Provider) Algorithm() string { return string(p.sig.alg) }

// LogErr is the first error writing the OpenUnison log returned, if any.
func (p *Provider) LogErr() error { return p.log.Err() }

// Stats returns the provider's counters.
func (p *Provider) Stats() Stats {
	sessions, tokens := p.st.size()
	return Stats{
		Sessions: sessions, Tokens: tokens,
		Logins: p.st.logins.Load(), Rotations: p.st.rotations.Load(), GraceReuses: p.st.reuses.Load(),
		Expired: p.st.expired.Load(), Swept: p.st.swept.Load(), Revoked: p.st.revoked.Load(), Ended: p.st.ended.Load(),
		Full: p.st.full.Load(), Refused: p.refused.Load(),
	}
}

// Sweep removes expired sessions now and returns how many; Serve also runs
// it periodically.
func (p *Provider) Sweep() int { return p.st.sweep(p.now()) }

type discoveryDoc struct {
	Issuer           string   `json:"issuer"`
	TokenEndpoint    string   `json:"token_endpoint"`
	JWKSURI          string   `json:"jwks_uri"`
	ResponseTypes    []string `json:"response_types_supported"`
	SubjectTypes     []string `json:"subject_types_supported"`
	SigningAlgs      []string `json:"id_token_signing_alg_values_supported"`
	GrantTypes       []string `json:"grant_types_supported"`
	TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	Scopes           []string `json:"scopes_supported"`
	Claims           []string `json:"claims_supported"`
}

func (p *Provider) discoveryDoc() discoveryDoc {
	return discoveryDoc{
		Issuer:           p.issuer,
		TokenEndpoint:    p.TokenURL(),
		JWKSURI:          p.issuer + "/certs",
		ResponseTypes:    []string{"id_token"},
		SubjectTypes:     []string{"public"},
		SigningAlgs:      []string{string(p.sig.alg)},
		GrantTypes:       []string{grantPassword, grantRefresh},
		TokenAuthMethods: []string{"client_secret_basic", "client_secret_post", "none"},
		Scopes:           []string{"openid", "profile", "email", "offline_access"},
		Claims:           []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "name", "email", "sid"},
	}
}

// exchange is one request as the log sees it.
type exchange struct {
	p      *Provider
	thread string
	ip     netip.Addr
	url    string
	reqID  string
}

// requestID is the per-request web-session id, made on first use.
func (ex *exchange) requestID() string {
	if ex.reqID == "" {
		id, err := newSessionID(ex.p.rnd)
		if err != nil {
			return "null"
		}
		ex.reqID = id
	}
	return ex.reqID
}

// sessionID is what goes in the trailing brackets of this request's lines.
func (ex *exchange) sessionID(s *session) string {
	if s != nil && ex.p.cfg.SessionID == SessionIDOIDC {
		return s.id
	}
	return ex.requestID()
}

func (ex *exchange) access(event, app, dn, msg string, s *session) logLine {
	return logLine{level: levelInfo, logger: loggerAccess, msg: accessMessage(event, app, ex.url, dn, msg, ex.ip, ex.sessionID(s))}
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	thread, ok := p.threads.acquire(r.Context())
	if !ok {
		return // the client went away while every worker was busy
	}
	defer p.threads.release(thread)
	ex := &exchange{p: p, thread: p.threads.name(thread), ip: p.clientIP(r), url: requestURL(r)}
	switch r.URL.Path {
	case p.path + "/.well-known/openid-configuration":
		p.serveStatic(w, r, ex, "application/json", p.discovery)
	case p.path + "/certs":
		p.serveStatic(w, r, ex, "application/json", p.sig.jwks)
	case p.path + "/token":
		p.token(w, r, ex)
	default:
		p.log.write(ex.thread, ex.access(eventNotFound, "UNKNOWN", AnonymousDN, "NONE", nil))
		http.NotFound(w, r)
	}
}

// requestURL is the servlet's getRequestURL: scheme, Host header and the
// path as sent, without the query string.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + sanitize(r.Host) + sanitize(r.URL.EscapedPath())
}

// clientIP is the TCP peer, or the X-Forwarded-For client when the peer is a
// trusted proxy: the right-most address that is not itself a trusted proxy.
func (p *Provider) clientIP(r *http.Request) netip.Addr {
	return forwardedClient(peerAddr(r.RemoteAddr), r.Header.Values("X-Forwarded-For"), p.cfg.TrustedProxies)
}

func (p *Provider) serveStatic(w http.ResponseWriter, r *http.Request, ex *exchange, ctype string, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.log.write(ex.thread, ex.access(eventNotFound, "UNKNOWN", AnonymousDN, "NONE", nil))
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.log.write(ex.thread, ex.access(eventAzSuccess, p.app, AnonymousDN, "NONE", nil))
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request, ex *exchange) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oe := invalidRequest("token requests must be POST")
		oe.status = http.StatusMethodNotAllowed
		p.fail(w, ex, oe, nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		p.fail(w, ex, invalidRequest("request body too large or unreadable"), nil)
		return
	}
	req, oe := parseTokenRequest(r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body)
	if oe == nil {
		oe = p.authenticateClient(req)
	}
	if oe != nil {
		p.fail(w, ex, oe, nil)
		return
	}
	switch req.grantType {
	case grantPassword:
		p.passwordGrant(r.Context(), w, ex, req)
	case grantRefresh:
		p.refreshGrant(r.Context(), w, ex, req)
	}
}

func (p *Provider) authenticateClient(req tokenRequest) *oauthError {
	if req.clientID != p.cfg.ClientID {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "unknown client", warn: "Invalid client_id", basicChallenge: req.basic}
	}
	if p.cfg.ClientSecret == "" {
		return nil // a public client, as kubectl's usually is
	}
	// Hashing first makes the comparison independent of the secret's length.
	got := sha256.Sum256([]byte(req.clientSecret))
	if subtle.ConstantTimeCompare(got[:], p.secret[:]) != 1 {
		return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: "client authentication failed", warn: "Invalid client_secret", basicChallenge: req.basic}
	}
	return nil
}

func (p *Provider) passwordGrant(ctx context.Context, w http.ResponseWriter, ex *exchange, req tokenRequest) {
	user, ok := p.cfg.Users.Authenticate(req.username, req.password)
	if !ok {
		p.refused.Add(1)
		p.log.write(ex.thread, ex.access(eventAuFail, p.app, AnonymousDN, authChainMessage, nil))
		writeOAuthError(w, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "invalid username or password"})
		return
	}
	res, err := p.st.create(p.now(), p.cfg.SessionTTL, user, req.clientID, p.mint)
	if errors.Is(err, errStoreFull) {
		p.fail(w, ex, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "too many sessions", warn: "Too many sessions"}, nil)
		return
	}
	if err != nil {
		p.internalError(w, ex, err)
		return
	}
	if err := p.storeSession(ctx, res.sess); err != nil {
		p.internalError(w, ex, err)
		return
	}
	p.log.write(ex.thread,
		ex.access(eventAuSuccess, p.app, user.DN, authChainMessage, res.sess),
		ex.access(eventAzSuccess, p.app, user.DN, "NONE", res.sess))
	p.writeTokens(w, res)
}

func (p *Provider) refreshGrant(ctx context.Context, w http.ResponseWriter, ex *exchange, req tokenRequest) {
	tok, ok := parseToken(req.refreshToken)
	if !ok {
		p.fail(w, ex, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "invalid refresh token",
			warn: "Could not refresh token", trace: couldNotRefreshTrace}, nil)
		return
	}
	if err := p.checkSession(ctx, tok); err != nil {
		p.internalError(w, ex, err)
		return
	}
	res, err := p.st.refresh(tok, req.clientID, p.now, p.cfg.Grace, p.cfg.SessionTTL, p.cfg.RevokeOnReuse, p.mint,
		func(res refreshResult) { p.logRefresh(ex, res) })
	if err != nil {
		p.internalError(w, ex, err)
		return
	}
	switch res.outcome {
	case outcomeRotated, outcomeGraceReuse:
		p.writeTokens(w, res)
	case outcomeExpired:
		p.refused.Add(1)
		writeOAuthError(w, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "session expired"})
	default:
		p.refused.Add(1)
		writeOAuthError(w, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", desc: "invalid refresh token"})
	}
}

// logRefresh writes the lines OpenUnison writes for each refresh outcome.
func (p *Provider) logRefresh(ex *exchange, res refreshResult) {
	switch res.outcome {
	case outcomeRotated:
		p.log.write(ex.thread, ex.access(eventAzSuccess, p.app, res.sess.user.DN, "NONE", res.sess))
	case outcomeGraceReuse:
		p.log.write(ex.thread,
			ex.access(eventAzSuccess, p.app, res.sess.user.DN, "NONE", res.sess),
			logLine{level: levelInfo, logger: loggerOIDC, msg: expiredMessage(ex.url, res.sess.user.DN, ex.ip, ex.sessionID(res.sess))})
	case outcomeExpired:
		p.logFail(ex, "Session expired", "", res.sess)
	case outcomeRevoked:
		p.logFail(ex, "Refresh token reused after its grace period, session revoked - "+res.sess.user.DN, "", res.sess)
	default:
		p.logFail(ex, "Session does not exist from refresh_token", "", res.sess)
	}
}

// fail logs OpenUnison's WARN + anonymous AzFail pair and answers with an
// RFC 6749 error.
func (p *Provider) fail(w http.ResponseWriter, ex *exchange, oe *oauthError, s *session) {
	p.refused.Add(1)
	p.logFail(ex, oe.warn, oe.trace, s)
	writeOAuthError(w, oe)
}

// logFail writes the WARN line (when there is one) and the anonymous AzFail.
func (p *Provider) logFail(ex *exchange, warn, trace string, s *session) {
	azFail := ex.access(eventAzFail, p.app, AnonymousDN, "NONE", s)
	if warn == "" {
		p.log.write(ex.thread, azFail)
		return
	}
	p.log.write(ex.thread, logLine{level: levelWarn, logger: loggerOIDC, msg: warn, trace: trace}, azFail)
}

func (p *Provider) internalError(w http.ResponseWriter, ex *exchange, err error) {
	p.diag.Error("token endpoint", "err", err)
	p.log.write(ex.thread,
		logLine{level: levelError, logger: loggerOIDC, msg: "Could not refresh token"},
		ex.access(eventAzFail, p.app, AnonymousDN, "NONE", nil))
	writeOAuthError(w, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "internal error"})
}

func (p *Provider) mint(s *session, now time.Time) (string, time.Time, error) {
	var jti [16]byte
	if _, err := io.ReadFull(p.rnd, jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("random jti: %w", err)
	}
	// JWT times are whole seconds. exp is rounded up, so that the token
	// lives at least IDTokenTTL (what expires_in says): rounded down, a
	// token minted late in a second lost up to a second of it, all of a 1s
	// lifetime, and a grace reuse near the end of its window was handed a
	// current id_token that had already expired. iat and nbf round down,
	// never into the future.
	exp := ceilSecond(now.Add(p.cfg.IDTokenTTL))
	tok, err := p.sig.sign(&idClaims{
		Issuer: p.issuer, Subject: s.user.Username, Audience: s.clientID,
		Expiry: exp.Unix(), IssuedAt: now.Unix(), NotBefore: now.Unix(),
		ID: hex.EncodeToString(jti[:]), Name: s.user.Name, Email: s.user.Email, SessionID: s.id,
	})
	return tok, exp, err
}

// ceilSecond is t rounded up to a whole second.
func ceilSecond(t time.Time) time.Time {
	if d := t.Truncate(time.Second); !d.Equal(t) {
		return d.Add(time.Second)
	}
	return t
}

// tokenResponse is the token endpoint's JSON; writeTokens builds the same
// bytes by hand on the hot path, and tests decode into this.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (p *Provider) writeTokens(w http.ResponseWriter, res refreshResult) {
	// A fresh id_token lives IDTokenTTL; a grace reuse hands out the current
	// one, which has less left.
	expiresIn := int64(p.cfg.IDTokenTTL / time.Second)
	if res.outcome == outcomeGraceReuse {
		expiresIn = max(int64(res.idTokenExp.Sub(p.now())/time.Second), 0)
	}
	// Every value is base64url, dots or digits, so nothing needs escaping.
	// client-go reads only id_token, but golang.org/x/oauth2 refuses a
	// response without access_token; OpenUnison sends a JWT in both.
	rt := res.refresh.String()
	b := make([]byte, 0, 2*len(res.idToken)+len(rt)+128)
	b = append(b, `{"access_token":"`...)
	b = append(b, res.idToken...)
	b = append(b, `","id_token":"`...)
	b = append(b, res.idToken...)
	b = append(b, `","refresh_token":"`...)
	b = append(b, rt...)
	b = append(b, `","token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, b)
}

func writeOAuthError(w http.ResponseWriter, oe *oauthError) {
	if oe.basicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="graceguard"`)
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.code, oe.desc})
	writeJSON(w, oe.status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Serve answers on ln until ctx is done, sweeping expired sessions as it
// goes, then shuts down gracefully. Wrap ln with tls.NewListener for HTTPS.
func (p *Provider) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.diag.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	p.diag.Warn("graceguard idp is a test harness, not for production",
		"issuer", redact.URL(p.issuer), "listen", ln.Addr().String(), "alg", p.sig.alg, "grace", p.cfg.Grace,
		"id_token_ttl", p.cfg.IDTokenTTL, "session_ttl", p.cfg.SessionTTL, "revoke_on_reuse", p.cfg.RevokeOnReuse)

	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go p.sweepEvery(sweepCtx, min(p.cfg.SessionTTL/4, 30*time.Second))

	// Shutdown waits up to five seconds for connections that were opened
	// but never sent a request (an HTTP client dials spares when requests
	// race); they carry nothing, so they are closed at once instead.
	var mu sync.Mutex
	fresh := map[net.Conn]struct{}{}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StateNew {
			fresh[c] = struct{}{}
		} else {
			delete(fresh, c)
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(shutdownCtx) }()
	mu.Lock()
	for c := range fresh {
		_ = c.Close()
	}
	mu.Unlock()
	err := <-shut
	<-errc
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (p *Provider) sweepEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(max(every, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := p.Sweep(); n > 0 {
				p.diag.Debug("swept expired sessions", "n", n)
			}
		}
	}
}

// threads hands out Undertow-style worker names, "XNIO-1 task-N". A request
// holds one for its whole life, so both lines of a pair carry the same name
// and two concurrent requests never do. The worker that went idle last is
// handed out first, as Undertow's pool (jboss-threads' EnhancedQueueExecutor)
// does: a request right after another runs on the thread it freed, so two
// requests of one OIDC session, a refresh and its replay, log the same
// thread and session id (attribute's twins must tell them apart).
type threads struct {
	slots chan struct{} // one per idle worker: what a request waits on
	mu    sync.Mutex
	idle  []int // the idle workers, the last freed on top
	names []string
}

func newThreads(n int) *threads {
	t := &threads{slots: make(chan struct{}, n), idle: make([]int, 0, n), names: make([]string, n+1)}
	for i := n; i >= 1; i-- {
		t.names[i] = "XNIO-1 task-" + strconv.Itoa(i)
		t.idle = append(t.idle, i) // task-1 on top: the first request's
		t.slots <- struct{}{}
	}
	return t
}

func (t *threads) acquire(ctx context.Context) (int, bool) {
	select {
	case <-t.slots:
	default:
		select {
		case <-t.slots:
		case <-ctx.Done():
			return 0, false
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.idle[len(t.idle)-1]
	t.idle = t.idle[:len(t.idle)-1]
	return i, true
}

// release puts i back on top before freeing its slot, so a request that
// takes the slot finds a worker.
func (t *threads) release(i int) {
	t.mu.Lock()
	t.idle = append(t.idle, i)
	t.mu.Unlock()
	t.slots <- struct{}{}
}

func (t *threads) name(i int) string { return t.names[i] }
