package kubeclient

import (
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graceguard/graceguard/internal/testcert"
)

// apiServer is an HTTPS server, speaking HTTP/2, that answers 200 with
// who the request came as (its bearer token, basic user or client
// certificate's name) and records the requests' headers.
type apiServer struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
	accept  func(r *http.Request) bool // nil: all
}

// newAPIServer starts one; with ca, it requires client certificates that
// ca signed.
func newAPIServer(t *testing.T, ca *testcert.CA) *apiServer {
	t.Helper()
	s := &apiServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	if ca != nil {
		s.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.headers = append(s.headers, r.Header.Clone())
	accept := s.accept
	s.mu.Unlock()
	if accept != nil && !accept(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	who := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if u, _, ok := r.BasicAuth(); ok {
		who = "basic:" + u
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		who = "cert:" + r.TLS.PeerCertificates[0].Subject.CommonName
	}
	w.Header().Set("X-Proto", r.Proto)
	w.Write([]byte(who))
}

func (s *apiServer) setAccept(f func(r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accept = f
}

func (s *apiServer) lastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers[len(s.headers)-1]
}

func (s *apiServer) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// get sends a GET with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Replaced by a rename, as the kubelet and cert renewers do, so a
	// reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// noInCluster makes the process look as if it ran outside a pod, with HOME
// in a directory of its own.
func noInCluster(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	t.Setenv("KUBECONFIG", "")
	return home
}
