package kubeclient

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testcert"
)

func mustClient(t *testing.T, c *Config) *http.Client {
	t.Helper()
	hc, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// Requests go over HTTP/2 with the token, the user agent and
// impersonation headers.
func TestClientHeaders(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	c := &Config{Host: srv.URL, CAData: srv.caPEM(), Token: "tok", UserAgent: "graceguard",
		Impersonate: Impersonation{User: "jane", UID: "42", Groups: []string{"dev", "ops"}, Extra: map[string][]string{"scopes/x y": {"view"}}}}
	resp, err := mustClient(t, c).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("%s, want HTTP/2", resp.Proto)
	}
	h := srv.lastHeader()
	for k, want := range map[string][]string{
		"Authorization": {"Bearer tok"}, "User-Agent": {"graceguard"}, "Impersonate-User": {"jane"}, "Impersonate-Uid": {"42"},
		"Impersonate-Group": {"dev", "ops"}, "Impersonate-Extra-Scopes%2Fx%20y": {"view"},
	} {
		if got := h.Values(k); !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestClientBasicAuth(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	c := &Config{Host: srv.URL, CAData: srv.caPEM(), Username: "admin", Password: "pw"}
	if code, who := get(t, mustClient(t, c), srv.URL); code != 200 || who != "basic:admin" {
		t.Errorf("%d %q", code, who)
	}
}

// The server's certificate is checked against the CA, unless Insecure.
func TestClientServerCertificate(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	if _, err := mustClient(t, &Config{Host: srv.URL, CAData: testcert.NewCA(t).PEM}).Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("another CA: %v", err)
	}
	if _, err := mustClient(t, &Config{Host: srv.URL}).Get(srv.URL); err == nil {
		t.Error("the system's CAs trust a test server")
	}
	if code, _ := get(t, mustClient(t, &Config{Host: srv.URL, Insecure: true}), srv.URL); code != 200 {
		t.Errorf("insecure: %d", code)
	}
	// The name checked is ServerName's when set: httptest's certificate
	// is for example.com.
	c := &Config{Host: srv.URL, CAData: srv.caPEM(), ServerName: "example.com"}
	if code, _ := get(t, mustClient(t, c), srv.URL); code != 200 {
		t.Errorf("with a server name: %d", code)
	}
	c.ServerName = "kube.example"
	if _, err := mustClient(t, c).Get(srv.URL); err == nil {
		t.Error("a server name the certificate does not carry")
	}
	if _, err := (&Config{Host: srv.URL, CAData: srv.caPEM(), Insecure: true}).Client(); err == nil {
		t.Error("a CA with Insecure")
	}
	if _, err := (&Config{Host: srv.URL, CAData: []byte("junk")}).Client(); err == nil {
		t.Error("a CA that is not one")
	}
}

// A client certificate is offered to a server that requires one: from
// data, or from files read again when they are renewed.
func TestClientCertificate(t *testing.T) {
	t.Parallel()
	ca := testcert.NewCA(t)
	srv := newAPIServer(t, ca)
	cert, key := ca.Client(t, "alice")
	if code, who := get(t, mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), CertData: cert, KeyData: key}), srv.URL); code != 200 || who != "cert:alice" {
		t.Errorf("from data: %d %q", code, who)
	}

	dir := t.TempDir()
	certFile, keyFile := writeFile(t, filepath.Join(dir, "c.crt"), cert), writeFile(t, filepath.Join(dir, "c.key"), key)
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), CertFile: certFile, KeyFile: keyFile})
	if code, who := get(t, hc, srv.URL); code != 200 || who != "cert:alice" {
		t.Errorf("from files: %d %q", code, who)
	}
	// What a new connection's handshake is offered as the files are
	// renewed: the files are read again at most every second, on a
	// clock of the test's, which two real seconds of sleep stood for.
	now := time.Now()
	files, err := newCertFiles(certFile, keyFile, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	offered := func() string {
		t.Helper()
		c, err := files.get(nil)
		if err != nil || c == nil || len(c.Certificate) == 0 {
			return fmt.Sprintf("no certificate (%v)", err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	cert, key = ca.Client(t, "alice-renewed")
	writeFile(t, keyFile, key)
	writeFile(t, certFile, cert)
	if who := offered(); who != "alice" {
		t.Errorf("renewed, within the second: %q, want the pair read at start", who)
	}
	now = now.Add(1100 * time.Millisecond)
	if who := offered(); who != "alice-renewed" {
		t.Errorf("renewed: %q", who)
	}
	// A pair being replaced (key and certificate do not match yet) leaves
	// the last good one.
	writeFile(t, keyFile, pemKey(t))
	now = now.Add(1100 * time.Millisecond)
	if who := offered(); who != "alice-renewed" {
		t.Errorf("mid-renewal: %q", who)
	}

	if _, err := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Token: "t"}).Get(srv.URL); err == nil {
		t.Error("no certificate, yet the handshake went through")
	}
}

// A token file is read again as it rotates: after a minute, and at once
// after a 401.
func TestTokenFileRotation(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	path := writeFile(t, filepath.Join(t.TempDir(), "token"), []byte("token-1\n"))
	var valid atomic.Value
	valid.Store("token-1")
	srv.setAccept(func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+valid.Load().(string) })
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Token: "token-1", TokenFile: path})
	if code, who := get(t, hc, srv.URL); code != 200 || who != "token-1" {
		t.Fatalf("%d %q", code, who)
	}
	writeFile(t, path, []byte("token-2\n"))
	valid.Store("token-2")
	if code, _ := get(t, hc, srv.URL); code != 401 {
		t.Errorf("%d: the file was read again before a minute passed or a 401 came", code)
	}
	if code, who := get(t, hc, srv.URL); code != 200 || who != "token-2" {
		t.Errorf("after a 401: %d %q", code, who)
	}
}

func TestTokenSourcePeriod(t *testing.T) {
	t.Parallel()
	path := writeFile(t, filepath.Join(t.TempDir(), "token"), []byte("a"))
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	src := newTokenSource("initial", path)
	src.now = func() time.Time { return now }
	if got := src.get(); got != "a" {
		t.Errorf("first request: %q, want the file's", got)
	}
	writeFile(t, path, []byte("b"))
	now = now.Add(59 * time.Second)
	if got := src.get(); got != "a" {
		t.Errorf("within the minute: %q", got)
	}
	now = now.Add(time.Second)
	if got := src.get(); got != "b" {
		t.Errorf("after the minute: %q", got)
	}
	writeFile(t, path, []byte("  \n")) // being rewritten
	now = now.Add(time.Minute)
	if got := src.get(); got != "b" {
		t.Errorf("an empty file: %q, want the last token", got)
	}
	writeFile(t, path, []byte("c"))
	if got := src.get(); got != "c" {
		t.Errorf("once the file is back: %q", got)
	}
	// A 401 to a request sent before the token was read does not make
	// the file be read again; one sent after does.
	src.expire(now.Add(-time.Second))
	writeFile(t, path, []byte("d"))
	if got := src.get(); got != "c" {
		t.Errorf("after an old 401: %q", got)
	}
	src.expire(now.Add(time.Second))
	if got := src.get(); got != "d" {
		t.Errorf("after a 401: %q", got)
	}
}

// No redirect is followed: the credentials would go along.
func TestClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization") != "")
	}))
	defer elsewhere.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	defer srv.Close()
	code, _ := get(t, mustClient(t, &Config{Host: srv.URL, Insecure: true, Token: "tok"}), srv.URL)
	if code != http.StatusFound || leaked.Load() {
		t.Errorf("%d, token sent elsewhere: %v", code, leaked.Load())
	}
}

func TestClientRefusesTokenAndBasic(t *testing.T) {
	t.Parallel()
	if _, err := (&Config{Host: "https://k", Token: "t", Username: "u"}).Client(); err == nil {
		t.Error("a token and basic auth")
	}
}

func TestServerURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		tls  bool
		want string
		bad  bool
	}{
		{host: "https://k:6443", want: "https://k:6443"},
		{host: "k:6443", want: "http://k:6443"},
		{host: "k:6443", tls: true, want: "https://k:6443"},
		{host: "", want: "http://localhost"},
		{host: "https://k/prefix", want: "https://k/prefix"},
		{host: "k/prefix", bad: true},
		{host: "k:6443%zz", bad: true},
	}
	for _, tt := range tests {
		c := &Config{Host: tt.host, Insecure: tt.tls}
		u, err := c.ServerURL()
		if tt.bad {
			if err == nil {
				t.Errorf("%q: %v", tt.host, u)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.host, u, err, tt.want)
		}
	}
}
