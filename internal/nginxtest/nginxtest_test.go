package nginxtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// A real nginx logs the X-Forwarded-For client a loopback peer names, in
// ingress-nginx's format, and its upstream sees nginx's bound address and
// no X-Forwarded-For.
func TestNginxLogsForwardedClient(t *testing.T) {
	var mu sync.Mutex
	var peer, xff, reqID string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peer, xff, reqID = r.RemoteAddr, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Request-ID")
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short and stout"))
	}))
	defer up.Close()
	s := Start(t, Options{Upstream: up.Listener.Addr().String(), From: "127.0.0.4"})

	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr+"/auth/idp/k8sIdp/token?x=1", strings.NewReader("a=b"))
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("User-Agent", `curl/8.5.0 "quoted"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testsync.WaitFor(t, "the access log line", func() bool { return strings.Count(s.Log(), "\n") == 1 })
	l, err := ParseLine(s.Log())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	host, _, _ := net.SplitHostPort(peer)
	checks := []struct {
		what      string
		got, want any
	}{
		{"remote_addr", l.RemoteAddr, "203.0.113.9"},
		{"path", l.Path(), "/auth/idp/k8sIdp/token"},
		{"request", l.Request, "POST /auth/idp/k8sIdp/token?x=1 HTTP/1.1"},
		{"status", l.Status, 418},
		{"upstream_status", l.UpstreamStatus, "418"},
		{"body_bytes_sent", l.BodyBytes, int64(len("short and stout"))},
		{"user agent", l.UserAgent, `curl/8.5.0 \x22quoted\x22`},
		{"upstream", l.UpstreamAddr, up.Listener.Addr().String()},
		{"upstream name", l.UpstreamName, "openunison-orchestra-443"},
		{"alternative", l.AlternativeName, ""},
		{"req_id", l.ReqID, reqID},
		{"upstream's peer", host, "127.0.0.4"},
		{"upstream's X-Forwarded-For", xff, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v\n%s", c.what, c.got, c.want, s.Log())
		}
	}
}
