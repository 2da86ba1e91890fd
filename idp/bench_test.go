package idp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkRefresh measures the token endpoint's refresh path in process:
// form parsing, the atomic rotation, an ES256 id_token, the sealed chain
// and the OpenUnison log line written to a real file. Each goroutine
// refreshes its own session, as independent kubectl users do.
func BenchmarkRefresh(b *testing.B) {
	logFile, err := os.Create(filepath.Join(b.TempDir(), "idp.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	p, err := New(Config{Issuer: "http://127.0.0.1:8443/auth/idp/k8sIdp", Log: logFile, SigningKey: testKey(), Diag: quietLogger(), Grace: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	post := func(form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8443/auth/idp/k8sIdp/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", formType)
		req.RemoteAddr = "127.0.0.1:40000"
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		return rec
	}
	var mu sync.Mutex
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		user := "sim" + strings.Repeat("0", 3) + string(rune('0'+next%10))
		mu.Unlock()
		rec := post(url.Values{"grant_type": {"password"}, "username": {user}, "password": {SimulatedPassword}, "client_id": {"kubernetes"}})
		rt := decodeRefresh(b, rec)
		for pb.Next() {
			rec := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"kubernetes"}})
			rt = decodeRefresh(b, rec)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refreshes/s")
}

func decodeRefresh(b *testing.B, rec *httptest.ResponseRecorder) string {
	body := rec.Body.String()
	const key = `"refresh_token":"`
	i := strings.Index(body, key)
	if rec.Code != http.StatusOK || i < 0 {
		b.Fatalf("status %d", rec.Code)
	}
	return body[i+len(key) : i+len(key)+TokenLen]
}

// BenchmarkRefreshHTTP measures refreshes over real loopback HTTP with
// keep-alive, client and server in one process on the same cores, and
// reports the 99th percentile latency alongside the rate.
func BenchmarkRefreshHTTP(b *testing.B) { benchRefreshHTTP(b, false) }

// BenchmarkRefreshBehindProxy is BenchmarkRefreshHTTP through the
// in-process ingress-nginx stand-in, writing its access log to a file: the
// proxy's cost per refresh is the difference.
func BenchmarkRefreshBehindProxy(b *testing.B) { benchRefreshHTTP(b, true) }

func benchRefreshHTTP(b *testing.B, behindProxy bool) {
	ln, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(b.TempDir(), "idp.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	p, err := New(Config{Issuer: "http://" + ln.Addr().String() + DefaultIssuerPath, Log: logFile, SigningKey: testKey(), Diag: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	opts := ClientOptions{}
	if behindProxy {
		proxyLog, err := os.Create(filepath.Join(b.TempDir(), "ingress.log"))
		if err != nil {
			b.Fatal(err)
		}
		defer proxyLog.Close()
		proxy, err := NewProxy(ProxyConfig{Upstream: "http://" + ln.Addr().String(), Log: proxyLog, Diag: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		pln, err := netListen()
		if err != nil {
			b.Fatal(err)
		}
		go func() { done <- proxy.Serve(ctx, pln) }()
		defer func() { cancel(); <-done }()
		opts.DialAddr = pln.Addr().String()
	}
	c, err := NewClient(ctx, p.Issuer(), opts)
	if err != nil {
		b.Fatal(err)
	}
	var lat latencies
	var mu sync.Mutex
	next := 0
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		next++
		n := next
		mu.Unlock()
		user := "sim" + strings.Repeat("0", 3) + string(rune('0'+n%10))
		t, err := c.Login(ctx, netip.Addr{}, user, SimulatedPassword)
		if err != nil {
			b.Error(err)
			return
		}
		rt := t.RefreshToken
		for pb.Next() {
			t0 := time.Now()
			t, err := c.Refresh(ctx, netip.Addr{}, rt)
			lat.record(time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
			rt = t.RefreshToken
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refreshes/s")
	b.ReportMetric(float64(lat.quantile(0.99))/1e6, "p99-ms")
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
