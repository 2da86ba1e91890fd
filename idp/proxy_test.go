package idp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/nginxtest"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
)

// proxied is the bundled IdP behind its in-process ingress-nginx stand-in,
// both on loopback ports; the issuer is the proxy's URL, as OpenUnison's is
// the ingress host.
type proxied struct {
	idpLog, proxyLog *testsync.Buffer
	idpAddr          string
	issuer           string
	client           *idp.Client
}

func startProxied(t *testing.T, trustXFF bool) *proxied {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxied{idpLog: &testsync.Buffer{}, proxyLog: &testsync.Buffer{}, idpAddr: idpLn.Addr().String(),
		issuer: "http://" + proxyLn.Addr().String() + idp.DefaultIssuerPath}
	cfg := idp.Config{Issuer: px.issuer, Grace: 5e9, Users: idptest.FastUsers(t), Log: px.idpLog, Diag: quiet()}
	if trustXFF {
		// Even an IdP that believes X-Forwarded-For from loopback logs the
		// proxy: the proxy sends none.
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	p, err := idp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := idp.NewProxy(idp.ProxyConfig{Upstream: "http://" + px.idpAddr, Log: px.proxyLog, Diag: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = p.Serve(ctx, idpLn); done <- struct{}{} }()
	go func() { _ = proxy.Serve(ctx, proxyLn); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	if px.client, err = idp.NewClient(ctx, px.issuer, idp.ClientOptions{Source: idp.SourceXFF, Timeout: loginTimeout}); err != nil {
		t.Fatal(err)
	}
	return px
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Behind the proxy the IdP logs the proxy's address for every client, and
// the proxy's ingress-nginx line names the client, the token path, the
// status and the IdP as upstream.
func TestProxyLogsClientIdPLogsProxy(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(map[bool]string{false: "idp trusts nothing", true: "idp trusts loopback XFF"}[trust], func(t *testing.T) {
			t.Parallel()
			px := startProxied(t, trust)
			ctx := context.Background()
			client := netip.MustParseAddr("203.0.113.9")
			tok, err := px.client.Login(ctx, client, "mmosley", idp.DemoPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := px.client.Refresh(ctx, client, tok.RefreshToken); err != nil {
				t.Fatal(err)
			}
			_, err = px.client.Refresh(ctx, netip.MustParseAddr("192.0.2.66"), "not-a-token")
			if !idp.IsInvalidGrant(err) {
				t.Fatalf("a bogus refresh: %v, want invalid_grant", err)
			}

			evs := parseAll(t, []byte(px.idpLog.String()))
			var token int
			for _, ev := range evs {
				if ev.IP.IsValid() && ev.IP != idp.DefaultProxyFrom {
					t.Errorf("the IdP logged %s, want the proxy's %s: %s", ev.IP, idp.DefaultProxyFrom, ev.Raw)
				}
				if ev.Kind == parser.KindTokenOK || ev.Kind == parser.KindTokenFail {
					token++
				}
			}
			if token < 3 {
				t.Errorf("%d token events in the IdP's log, want 3 or more:\n%s", token, px.idpLog)
			}

			var lines []nginxtest.Line
			for _, s := range strings.Split(strings.TrimSpace(px.proxyLog.String()), "\n") {
				l, err := nginxtest.ParseLine(s)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, l)
			}
			// discovery, then the three token requests
			want := []struct {
				client, path string
				status       int
			}{
				{"127.0.0.1", idp.DefaultIssuerPath + "/.well-known/openid-configuration", 200},
				{"203.0.113.9", idp.DefaultIssuerPath + "/token", 200},
				{"203.0.113.9", idp.DefaultIssuerPath + "/token", 200},
				{"192.0.2.66", idp.DefaultIssuerPath + "/token", 400},
			}
			if len(lines) != len(want) {
				t.Fatalf("%d proxy lines, want %d:\n%s", len(lines), len(want), px.proxyLog)
			}
			for i, w := range want {
				l := lines[i]
				if l.RemoteAddr != w.client || l.Path() != w.path || l.Status != w.status || l.UpstreamStatus != strconv.Itoa(w.status) {
					t.Errorf("line %d: client %s path %s status %d/%s, want %s %s %d", i, l.RemoteAddr, l.Path(), l.Status, l.UpstreamStatus, w.client, w.path, w.status)
				}
				if l.UpstreamAddr != px.idpAddr || l.UpstreamName != idp.DefaultProxyUpstreamName || l.UserAgent != "Go-http-client/1.1" {
					t.Errorf("line %d: upstream %s [%s], agent %q; want %s [%s], Go-http-client/1.1", i, l.UpstreamAddr, l.UpstreamName, l.UserAgent, px.idpAddr, idp.DefaultProxyUpstreamName)
				}
				if !strings.HasPrefix(l.Request, "POST ") && w.path != lines[0].Path() {
					t.Errorf("line %d: request %q", i, l.Request)
				}
			}
			if lines[1].ReqID == lines[2].ReqID {
				t.Error("two requests share a $req_id")
			}
			checkProxyRecords(t, px.proxyLog.String())
		})
	}
}

// A proxy whose upstream is gone answers 502 and still logs the request,
// with no upstream address, as nginx does.
func TestProxyUpstreamDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	log := &testsync.Buffer{}
	proxy, err := idp.NewProxy(idp.ProxyConfig{Upstream: "http://" + dead, Log: log, Diag: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, pln) }()
	resp, err := http.Post("http://"+pln.Addr().String()+idp.DefaultIssuerPath+"/token", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
	l, err := nginxtest.ParseLine(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if l.Status != 502 {
		t.Errorf("logged status %d, want 502", l.Status)
	}
}

func TestNewProxyRefuses(t *testing.T) {
	t.Parallel()
	for _, cfg := range []idp.ProxyConfig{
		{},
		{Upstream: "ftp://127.0.0.1:1"},
		{Upstream: "http://127.0.0.1:1", UpstreamName: "two words"},
	} {
		if _, err := idp.NewProxy(cfg); err == nil {
			t.Errorf("NewProxy(%+v) accepted", cfg)
		}
	}
}

// checkProxyRecords holds an access log (the in-process proxy's or a real
// nginx's) to what graceguard's parser must make of it: every token
// request is a proxy record of ingress-nginx's format naming the client,
// its agent, the status and the upstream the access log says.
func checkProxyRecords(t *testing.T, log string) {
	t.Helper()
	n := 0
	for _, s := range strings.Split(strings.TrimSpace(log), "\n") {
		l, err := nginxtest.ParseLine(s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Path() != idp.DefaultIssuerPath+"/token" {
			continue
		}
		n++
		ev, err := parser.Parse([]byte(s), time.UTC)
		if err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
		p := ev.Proxy
		if ev.Kind != parser.KindProxy || p == nil {
			t.Fatalf("parsed as %s, want a proxy record: %s", ev.Kind, s)
		}
		up := ""
		if len(p.Upstreams) > 0 {
			up = p.Upstreams[len(p.Upstreams)-1].String()
		}
		if p.Format != parser.ProxyNginx || p.Client.String() != l.RemoteAddr || p.Agent != l.UserAgent || p.Status != l.Status || up != l.UpstreamAddr {
			t.Errorf("parsed %+v from %s", *p, s)
		}
	}
	if n == 0 {
		t.Error("no token request in the access log")
	}
}

// FuzzProxyAccessLine sends arbitrary requests, read off the wire, through
// the ingress-nginx stand-in from an arbitrary peer: whatever the request
// line and headers hold, the proxy writes exactly one line for it, and
// graceguard's parser reads a token request's line back as a proxy record
// with the request's path, its status, and as client the peer or an address
// its X-Forwarded-For names. A request must never be able to forge a line
// or a field of one.
func FuzzProxyAccessLine(f *testing.F) {
	for _, s := range []struct{ raw, remote string }{
		{"POST /auth/idp/k8sIdp/token HTTP/1.1\r\nHost: a\r\nUser-Agent: kubectl\r\nX-Forwarded-For: 203.0.113.9:51234, 127.0.0.5\r\nContent-Length: 3\r\n\r\nabc", "127.0.0.1:4444"},
		{"GET /auth/idp/k8sIdp/token?x=%22 HTTP/1.1\r\nHost: a\r\nUser-Agent: a \"b\" \\c\r\nReferer: x\r\n\r\n", "192.0.2.1:1"},
		{"POST /auth/idp/k8sIdp/token HTTP/1.0\r\nAuthorization: Basic YSBiOmM=\r\nX-Forwarded-For: fe80::1%eth0\r\n\r\n", "[::1]:9"},
		{"POST http://h/auth/idp/k8sIdp/token HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: , ,\r\nX-Forwarded-For: [2001:db8::1]:443\r\n\r\n", "127.0.0.1:1"},
		{"GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: \xff\x00\r\n\r\n", "198.51.100.7:2"},
		{"POST /auth/idp/k8sIdp/token HTTP/1.1\r\nHost: a\r\n\r\n", "@"},                // a unix socket's peer
		{"POST /auth/idp/k8sIdp/token HTTP/1.1\r\nHost: a\r\n\r\n", "[fe80::1%eth0]:5"}, // a link-local peer
	} {
		f.Add(s.raw, s.remote)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Query().Has("fail") {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	f.Cleanup(upstream.Close)
	log := &testsync.Buffer{}
	proxy, err := idp.NewProxy(idp.ProxyConfig{Upstream: upstream.URL, Log: log, Diag: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw, remote string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // the server would have refused it before any handler
		}
		req.RemoteAddr = remote
		before := len(log.String())
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, req)
		line := log.String()[before:]
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("one request, %d lines: %q", strings.Count(line, "\n"), line)
		}
		if req.URL.Path != idp.DefaultIssuerPath+"/token" || !strings.HasPrefix(req.RequestURI, "/") {
			return
		}
		ev, err := parser.Parse([]byte(strings.TrimSuffix(line, "\n")), time.UTC)
		if err != nil || ev.Kind != parser.KindProxy || ev.Proxy == nil {
			t.Fatalf("a token request's line is no proxy record (%v, %v): %q", ev.Kind, err, line)
		}
		p := ev.Proxy
		if p.Path != req.URL.EscapedPath() || p.Status != rec.Code {
			t.Errorf("read back path %q status %d, want %q %d: %q", p.Path, p.Status, req.URL.EscapedPath(), rec.Code, line)
		}
		if !clientFromRequest(p.Client, remote, req.Header.Values("X-Forwarded-For")) {
			t.Errorf("client %v is neither the peer %q nor in X-Forwarded-For %q: %q", p.Client, remote, req.Header.Values("X-Forwarded-For"), line)
		}
	})
}

// clientFromRequest reports whether c is the peer (none when the peer has
// no address, as over a unix socket) or an address one of the
// X-Forwarded-For entries names (with or without a port).
func clientFromRequest(c netip.Addr, remote string, xff []string) bool {
	peer, err := netip.ParseAddr(remote)
	if err != nil {
		ap, perr := netip.ParseAddrPort(remote)
		if perr != nil {
			return !c.IsValid()
		}
		peer = ap.Addr()
	}
	if peer.Unmap().WithZone("") == c {
		return true
	}
	for _, part := range strings.FieldsFunc(strings.Join(xff, ","), func(r rune) bool { return r == ',' || r == ' ' }) {
		a, err := netip.ParseAddr(part)
		if err != nil {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(part)
			a = ap.Addr()
		}
		if err == nil && a.Unmap() == c {
			return true
		}
	}
	return false
}
