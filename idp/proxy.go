package idp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/internal/redact"
	"github.com/graceguard/graceguard/parser"
)

// DefaultProxyUpstreamName is what the proxy logs as $proxy_upstream_name:
// ingress-nginx names an upstream <namespace>-<service>-<port>, and
// OpenUnison's chart serves orchestra on 443 in namespace openunison.
const DefaultProxyUpstreamName = "openunison-orchestra-443"

// DefaultProxyFrom is the loopback address the proxy connects to the IdP
// from on Linux, so that the IdP logs an address no simulated client uses,
// as OpenUnison logs the ingress controller's pod address.
var DefaultProxyFrom = netip.MustParseAddr("127.0.0.3")

// ProxyConfig configures a Proxy. Upstream is required.
type ProxyConfig struct {
	// Upstream is the IdP's base URL (scheme and host), e.g.
	// http://127.0.0.1:8443. Requests keep their path and Host header.
	Upstream string
	// Log receives one line per request in ingress-nginx's default
	// log-format-upstream; nil discards.
	Log io.Writer
	// From is the local address of connections to the upstream: what the
	// IdP logs as the peer. Zero: DefaultProxyFrom on Linux (where all of
	// 127.0.0.0/8 is local), the system's choice elsewhere.
	From netip.Addr
	// TrustedClients are the peers whose X-Forwarded-For names the client
	// ($remote_addr), as ingress-nginx's use-forwarded-headers with
	// proxy-real-ip-cidr does. Default: loopback, so that a simulator can
	// play clients from documentation addresses.
	TrustedClients []netip.Prefix
	UpstreamName   string            // $proxy_upstream_name; default DefaultProxyUpstreamName
	Transport      http.RoundTripper // towards the upstream; default a transport dialing from From
	Now            func() time.Time  // default time.Now
	Rand           io.Reader         // $req_id; default crypto/rand
	Diag           *slog.Logger      // default slog.Default()
}

// Proxy is an in-process stand-in for an ingress-nginx controller in front
// of the bundled IdP: it forwards every request to the upstream, from its
// own address, without X-Forwarded-For (OpenUnison would ignore it, so the
// IdP is never given the chance to believe it), and writes ingress-nginx's
// access-log line for it. Behind it the IdP logs the proxy, as OpenUnison
// logs the controller pod; the client is only in the proxy's log.
type Proxy struct {
	cfg      ProxyConfig
	upstream *url.URL
	rp       *httputil.ReverseProxy
	log      *accessLog
	now      func() time.Time
	rnd      io.Reader
	diag     *slog.Logger
}

// NewProxy checks cfg and builds a Proxy.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	u, err := url.Parse(cfg.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("proxy upstream %q: want an http or https URL", redact.URL(cfg.Upstream))
	}
	if cfg.UpstreamName == "" {
		cfg.UpstreamName = DefaultProxyUpstreamName
	}
	if strings.ContainsAny(cfg.UpstreamName, " []\n") {
		return nil, fmt.Errorf("proxy upstream name %q: no spaces or brackets", cfg.UpstreamName)
	}
	if !cfg.From.IsValid() && runtime.GOOS == "linux" {
		cfg.From = DefaultProxyFrom
	}
	if cfg.TrustedClients == nil {
		cfg.TrustedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	defaultHooks(&cfg.Now, &cfg.Rand, &cfg.Diag)
	if cfg.Transport == nil {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		if cfg.From.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: cfg.From.AsSlice()}
		}
		cfg.Transport = &http.Transport{
			DialContext: d.DialContext, MaxIdleConnsPerHost: 64, IdleConnTimeout: 60 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		}
	}
	p := &Proxy{cfg: cfg, upstream: u, log: newAccessLog(cfg.Log, cfg.Diag), now: cfg.Now, rnd: cfg.Rand, diag: cfg.Diag}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: upstreamTimer{cfg.Transport},
		ErrorLog:  slog.NewLogLogger(cfg.Diag.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cfg.Diag.Warn("proxy: upstream failed", "err", err)
			w.WriteHeader(http.StatusBadGateway) // nginx's answer when the upstream is gone
		},
	}
	return p, nil
}

// LogErr is the first error writing the access log returned, if any.
func (p *Proxy) LogErr() error { return p.log.Err() }

// From is the address the proxy connects to the upstream from, what the
// IdP logs; invalid when the system chooses it.
func (p *Proxy) From() netip.Addr { return p.cfg.From }

// rewrite sends the request on as ingress-nginx does, less the
// X-Forwarded-For chain: OpenUnison has no use for it, and an IdP started
// with --trusted-proxies must still log the proxy.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.upstream)
	pr.Out.Host = pr.In.Host
	ex := exchangeOf(pr.In.Context())
	h := pr.Out.Header
	h.Del("X-Forwarded-For")
	h.Del("Forwarded")
	h.Set("X-Request-ID", ex.reqID)
	h.Set("X-Real-IP", ex.client.String())
	h.Set("X-Forwarded-Host", pr.In.Host)
	h.Set("X-Forwarded-Proto", schemeOf(pr.In))
}

func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// proxyExchange is one request as the access log sees it.
type proxyExchange struct {
	client netip.Addr
	reqID  string

	mu          sync.Mutex
	upstream    string // ip:port of the connection that carried the request
	upStatus    int
	upStart     time.Time
	upEnd       time.Time
	upBodyBytes int64
}

type exchangeKey struct{}

func exchangeOf(ctx context.Context) *proxyExchange {
	ex, _ := ctx.Value(exchangeKey{}).(*proxyExchange)
	if ex == nil {
		ex = &proxyExchange{}
	}
	return ex
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.now()
	ex := &proxyExchange{client: p.clientOf(r), reqID: p.newRequestID()}
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	cw := &countingWriter{ResponseWriter: w}
	p.rp.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
	end := p.now()
	p.log.write(p.line(r, cw, ex, body.n, start, end))
}

// clientOf is nginx's realip with real_ip_recursive on: the TCP peer, or,
// when the peer is trusted, the right-most X-Forwarded-For address that is
// not, or the left-most when every one is trusted.
func (p *Proxy) clientOf(r *http.Request) netip.Addr {
	return forwardedClient(peerAddr(r.RemoteAddr), r.Header.Values("X-Forwarded-For"), p.cfg.TrustedClients)
}

func (p *Proxy) newRequestID() string {
	var b [16]byte
	if _, err := io.ReadFull(p.rnd, b[:]); err != nil {
		return "00000000000000000000000000000000"
	}
	return hex.EncodeToString(b[:])
}

// Serve answers on ln until ctx is done, then shuts down gracefully.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog:    slog.NewLogLogger(p.diag.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("proxy: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	<-errc
	if t, ok := p.cfg.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("proxy shutdown: %w", err)
	}
	return nil
}

// upstreamTimer records, for the access log, which upstream address served
// a request, when it was sent, and when its answer was read to the end.
type upstreamTimer struct{ next http.RoundTripper }

func (u upstreamTimer) RoundTrip(r *http.Request) (*http.Response, error) {
	ex := exchangeOf(r.Context())
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		ex.mu.Lock()
		ex.upstream = ci.Conn.RemoteAddr().String()
		ex.mu.Unlock()
	}}
	ex.mu.Lock()
	ex.upStart = time.Now()
	ex.mu.Unlock()
	resp, err := u.next.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	if err != nil {
		ex.mu.Lock()
		ex.upEnd = time.Now()
		ex.upStatus = http.StatusBadGateway
		ex.mu.Unlock()
		return nil, err
	}
	ex.mu.Lock()
	ex.upStatus = resp.StatusCode
	ex.mu.Unlock()
	resp.Body = &timedBody{ReadCloser: resp.Body, ex: ex}
	return resp, nil
}

type timedBody struct {
	io.ReadCloser
	ex *proxyExchange
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.ex.mu.Lock()
	b.ex.upBodyBytes += int64(n)
	if err != nil {
		b.ex.upEnd = time.Now()
	}
	b.ex.mu.Unlock()
	return n, err
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Flush lets a streamed answer through.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// peerAddr reads an http.Request's RemoteAddr.
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// forwardedClient is the client a proxy believes: the peer, or when the
// peer is trusted, the right-most X-Forwarded-For address that is not
// itself trusted (the left-most when all are). The header is read as
// nginx's realip module reads it (parser.LastForwarded), since the
// stand-in plays ingress-nginx and a balancer in front of the IdP writes
// what nginx accepts. Several headers are read as nginx reads them, the
// last first and each a list of its own, not joined: an entry nginx would
// refuse (a name, a zone, a bad port, an empty header, a leading comma)
// ends what can be believed, and when it is the first read, the peer is
// the client.
func forwardedClient(peer netip.Addr, hops []string, trusted []netip.Prefix) netip.Addr {
	ip := peer
	if !ip.IsValid() || !inPrefixes(ip, trusted) {
		return ip
	}
	for i := len(hops) - 1; i >= 0; i-- {
		for list := hops[i]; ; {
			a, before, ok := parser.LastForwarded(list)
			if !ok {
				return ip
			}
			ip = a
			if !inPrefixes(ip, trusted) {
				return ip
			}
			if before == "" {
				break
			}
			list = before
		}
	}
	return ip
}

func inPrefixes(ip netip.Addr, list []netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
