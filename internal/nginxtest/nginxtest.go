// Package nginxtest starts a real nginx for tests, configured as an
// ingress-nginx controller in front of one upstream: on a free loopback
// port, in a temporary prefix, with ingress-nginx's default access-log
// format (upstreaminfo) and X-Forwarded-For trusted from loopback so that
// a test client can name the client address nginx logs. It owns nothing
// but the server process and its files; it must not be imported by
// non-test code.
//
// ingress-nginx's own variables ($proxy_upstream_name and friends, $req_id)
// do not exist in plain nginx; they are defined with map, with the values
// the controller would print for OpenUnison's Service ($req_id is nginx's
// $request_id, as in the controller).
//
// Without nginx a test is skipped with the command that installs it,
// except in CI (CI=true), where it fails instead.
package nginxtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// Server is a running nginx.
type Server struct {
	Addr    string // host:port it listens on
	LogPath string // its access log, one UpstreamInfo line per request
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Options shape the configuration.
type Options struct {
	// Upstream is the HOST:PORT requests are passed to (plain http).
	Upstream string
	// From is the local address nginx connects to the upstream from
	// (proxy_bind): what the upstream logs as the peer. Empty: the
	// system's choice.
	From string
	// UpstreamName is $proxy_upstream_name; default
	// "openunison-orchestra-443".
	UpstreamName string
}

// Binary finds nginx: on PATH, or Debian's /usr/sbin/nginx (sbin is often
// not on a user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nginx"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", fmt.Errorf("nginx is neither on PATH nor at %s", debian)
}

// Start starts nginx and stops it when the test ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		msg := err.Error() + " (install it: apt-get install nginx)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; in CI a skipped nginx test is a failure")
		}
		t.Skip(msg)
	}
	if opt.UpstreamName == "" {
		opt.UpstreamName = "openunison-orchestra-443"
	}
	s := &Server{dir: t.TempDir()}
	s.LogPath = filepath.Join(s.dir, "access.log")
	for attempt := range 5 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.launch(bin, opt); err == nil {
			break
		}
		t.Logf("nginx attempt %d: %v", attempt+1, err)
	}
	if err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Log returns the access log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Stop kills nginx.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// conf is nginx.conf. A single process (master_process off) keeps the
// test's one child the only one to kill. The realip module trusts
// X-Forwarded-For from loopback, recursively, as ingress-nginx with
// use-forwarded-headers does; the header is not passed on, so the upstream
// logs nginx's address and nothing else.
var conf = template.Must(template.New("nginx.conf").Parse(`daemon off;
master_process off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 256; }
http {
    client_body_temp_path {{.Dir}}/tmp/body;
    proxy_temp_path {{.Dir}}/tmp/proxy;
    fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
    uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
    scgi_temp_path {{.Dir}}/tmp/scgi;
    map $host $proxy_upstream_name { default "{{.UpstreamName}}"; }
    map $host $proxy_alternative_upstream_name { default ""; }
    map $request_id $req_id { default $request_id; }
    log_format upstreaminfo '{{.Format}}';
    access_log {{.Dir}}/access.log upstreaminfo;
    set_real_ip_from 127.0.0.0/8;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    server {
        listen {{.Addr}};
        location = /__nginxtest { access_log off; return 200 "{{.Token}}"; }
        location / {
            proxy_pass http://{{.Upstream}};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Request-ID $req_id;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For "";
{{- if .From}}
            proxy_bind {{.From}};
{{- end}}
        }
    }
}
`))

func (s *Server) launch(bin string, opt Options) error {
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	if err := os.MkdirAll(filepath.Join(s.dir, "tmp"), 0o700); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(s.dir, "nginx.conf"))
	if err != nil {
		return err
	}
	err = conf.Execute(f, map[string]string{
		"Dir": s.dir, "Addr": s.Addr, "Upstream": opt.Upstream, "From": opt.From,
		"UpstreamName": opt.UpstreamName, "Format": UpstreamInfo, "Token": token,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(s.dir, "nginx.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(bin, "-p", s.dir, "-c", filepath.Join(s.dir, "nginx.conf"), "-e", filepath.Join(s.dir, "error.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if answers(s.Addr, token) {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			msg, _ := os.ReadFile(filepath.Join(s.dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			return fmt.Errorf("nginx exited: %s %s", strings.TrimSpace(string(msg)), strings.TrimSpace(string(elog)))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("nginx on %s did not answer", s.Addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// answers reports whether our nginx (not another test's that won the port)
// serves addr.
func answers(addr, token string) bool {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/__nginxtest")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return string(b) == token
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
