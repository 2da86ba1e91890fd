package kubeclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Client is an HTTP client for the API server with c's TLS settings and
// credentials. Its transport is the standard library's, with HTTP/2
// (API servers speak it: many log streams share one connection) and
// health pings, so that a stream on a connection that died silently does
// not wait for ever. It follows no redirect: credentials are added below
// the client, and must not go to wherever a redirect points.
func (c *Config) Client() (*http.Client, error) {
	if c.hasToken() && c.hasBasic() {
		return nil, errors.New("username/password or bearer token may be set, but not both")
	}
	if err := checkTLS(c); err != nil {
		return nil, err
	}
	var auth *execAuth
	if c.usesExec() {
		auth = newExecAuth(c.Exec)
	}
	base, err := c.transport(auth)
	if err != nil {
		return nil, err
	}
	rt, err := c.wrap(base, auth)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// transport is the connection layer: TLS, proxy, dialling and HTTP/2.
func (c *Config) transport(auth *execAuth) (*http.Transport, error) {
	tlsConfig, err := c.tlsConfig(auth)
	if err != nil {
		return nil, err
	}
	proxy := http.ProxyFromEnvironment
	if c.ProxyURL != nil {
		proxy = http.ProxyURL(c.ProxyURL)
	}
	dial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	if auth != nil {
		// A new certificate from the plugin is only used by new
		// connections: the old ones are closed when it comes.
		conns := &connTracker{dial: dial, conns: map[*trackedConn]bool{}}
		dial, auth.certChanged = conns.DialContext, conns.closeAll
	}
	return &http.Transport{
		Proxy: proxy, DialContext: dial, TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 8,
		DisableCompression: c.DisableCompression,
		// A follow stream on a connection that died silently must not
		// wait for ever: ping it after 30 s of silence.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}, nil
}

// tlsConfig is client-go's: TLS 1.2 at least, the CA, the server name, and
// a client certificate from data, from files read again as they change, or
// from the exec plugin. The certificate is always offered when the server
// asks, whatever CAs it says it accepts, as client-go does.
func (c *Config) tlsConfig(auth *execAuth) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.Insecure}
	if c.hasCA() {
		pool, err := certPool(c.CAData)
		if err != nil {
			return nil, fmt.Errorf("unable to load root certificates: %w", err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile != "":
		files, err := newCertFiles(c.CertFile, c.KeyFile, time.Now)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = files.get
	case len(c.CertData) > 0:
		cert, err := tls.X509KeyPair(c.CertData, c.KeyData)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	case auth != nil:
		cfg.GetClientCertificate = auth.clientCert
	}
	return cfg, nil
}

// wrap adds credentials, the user agent and impersonation to requests, in
// client-go's order.
func (c *Config) wrap(rt http.RoundTripper, auth *execAuth) (http.RoundTripper, error) {
	if auth != nil {
		rt = &execRoundTripper{auth: auth, next: rt}
	}
	switch {
	case c.hasToken():
		tok := c.Token
		if tok == "" {
			var err error
			if tok, err = readToken(c.TokenFile); err != nil {
				return nil, err
			}
		}
		rt = &bearer{src: newTokenSource(tok, c.TokenFile), next: rt}
	case c.hasBasic():
		rt = headerSetter(rt, func(h http.Header) bool { return h.Get("Authorization") == "" }, func(r *http.Request) {
			r.SetBasicAuth(c.Username, c.Password)
		})
	}
	if c.UserAgent != "" {
		rt = headerSetter(rt, func(h http.Header) bool { return h.Get("User-Agent") == "" }, func(r *http.Request) {
			r.Header.Set("User-Agent", c.UserAgent)
		})
	}
	if c.Impersonate.set() {
		rt = headerSetter(rt, func(h http.Header) bool { return h.Get("Impersonate-User") == "" }, c.Impersonate.setHeaders)
	}
	return rt, nil
}

func (i Impersonation) setHeaders(r *http.Request) {
	r.Header.Set("Impersonate-User", i.User)
	if i.UID != "" {
		r.Header.Set("Impersonate-Uid", i.UID)
	}
	for _, g := range i.Groups {
		r.Header.Add("Impersonate-Group", g)
	}
	for k, vs := range i.Extra {
		for _, v := range vs {
			r.Header.Add("Impersonate-Extra-"+headerKeyEscape(k), v)
		}
	}
}

// headerKeyEscape %-encodes the bytes of an extra's key that may not be in
// a header name, and %, as client-go does: the server decodes them.
func headerKeyEscape(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if c := key[i]; isTokenByte(c) && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// isTokenByte reports whether c may be in an HTTP header name (RFC 7230's
// tchar).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// headerSetter sets headers, with set, on a copy of the requests for which
// unset holds.
func headerSetter(next http.RoundTripper, unset func(http.Header) bool, set func(*http.Request)) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if unset(req.Header) {
			req = req.Clone(req.Context())
			set(req)
		}
		return next.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// certFiles is a client certificate in files, read again at a handshake
// once a second has passed, as client-go does; a pair that cannot be read
// (being replaced) leaves the last good one.
type certFiles struct {
	certFile, keyFile string
	now               func() time.Time // time.Now; a test's clock

	mu     sync.Mutex
	cert   *tls.Certificate
	readAt time.Time
}

func newCertFiles(certFile, keyFile string, now func() time.Time) (*certFiles, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &certFiles{certFile: certFile, keyFile: keyFile, now: now, cert: &cert, readAt: now()}, nil
}

func (f *certFiles) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.now().Sub(f.readAt) > time.Second {
		if cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile); err == nil {
			f.cert = &cert
		}
		f.readAt = f.now()
	}
	return f.cert, nil
}

// connTracker remembers the connections it dialled, to close them all.
type connTracker struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu    sync.Mutex
	conns map[*trackedConn]bool
}

func (t *connTracker) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := t.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, t: t}
	t.mu.Lock()
	t.conns[tc] = true
	t.mu.Unlock()
	return tc, nil
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	conns := t.conns
	t.conns = map[*trackedConn]bool{}
	t.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	t *connTracker
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}
