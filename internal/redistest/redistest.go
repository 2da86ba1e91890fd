// Package redistest starts a real redis-server for tests, on a free loopback
// port, in a temporary directory, with persistence off. It owns nothing but
// the server process; it must not be imported by non-test code.
//
// Without redis-server on PATH a test is skipped with the command that
// installs it, except in CI (CI=true), where a skipped Redis test would hide
// a whole store from the suite, so it fails instead.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr     string // host:port
	Password string // "" for none
	// CAFile is the PEM certificate that signed a TLS server's certificate
	// (WithTLS); "" for a plain server.
	CAFile string
	tls    *tls.Config
	t      testing.TB
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	// databases is how many databases the server has; 0 for Redis's
	// default (16).
	databases int
}

// Option changes how the server starts.
type Option func(*Server)

// WithPassword makes the server require a password.
func WithPassword(p string) Option { return func(s *Server) { s.Password = p } }

// WithTLS makes the server speak TLS only, with a certificate for 127.0.0.1
// signed by a CA made for the test (Server.CAFile).
func WithTLS() Option { return func(s *Server) { s.tls = &tls.Config{} } }

// Start starts a redis-server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	needRedis(t)
	s := &Server{t: t, dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	if s.tls != nil {
		s.makeCerts(t)
	}
	if err := s.start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// needRedis skips the test without redis-server on PATH, or fails it in CI.
func needRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server is not on PATH (install it: apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; in CI a skipped Redis test is a failure")
		}
		t.Skip(msg)
	}
}

// start launches the server on a free port.
func (s *Server) start() error {
	var err error
	for range 5 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.launch(); err == nil {
			return nil
		}
	}
	return err
}

// Shared is a redis-server that a package's tests share, each test in a
// database of its own (DB), so that none sees another's keys. A server
// costs some 40 ms of CPU to start and wait for, and correlate, where
// every Redis store test and subtest started its own, started 138 of them
// in a run, a third of the package's CPU. What a test does to the server
// as a whole it does to every test on it: a test that stops, restarts or
// reconfigures the server, flushes its scripts or reads its server-wide
// statistics (INFO) must Start one of its own. The server is plain (no
// password, no TLS); it starts at the first DB and ends with Close,
// which the package's TestMain calls.
type Shared struct {
	mu   sync.Mutex
	srv  *Server
	err  error
	next int
}

// sharedDatabases is how many databases a Shared server has: a test
// beyond them gets a server of its own.
const sharedDatabases = 1024

// DB returns the shared server and a database on it no other test has,
// emptied when the test ends. The server must not be stopped or restarted.
func (sh *Shared) DB(t testing.TB) (*Server, int) {
	t.Helper()
	needRedis(t)
	sh.mu.Lock()
	if sh.srv == nil && sh.err == nil {
		sh.srv, sh.err = startShared()
	}
	srv, err, db := sh.srv, sh.err, sh.next
	sh.next++
	sh.mu.Unlock()
	if err != nil {
		t.Fatalf("start the shared redis-server: %v", err)
	}
	if db >= sharedDatabases {
		return Start(t), 0
	}
	t.Cleanup(func() {
		if err := srv.flushDB(db); err != nil {
			t.Errorf("empty database %d of the shared redis-server: %v", db, err)
		}
	})
	return srv, db
}

// Close stops the shared server, if it was started, and removes its
// directory.
func (sh *Shared) Close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv != nil {
		sh.srv.Stop()
		os.RemoveAll(sh.srv.dir)
		sh.srv = nil
	}
}

func startShared() (*Server, error) {
	dir, err := os.MkdirTemp("", "redistest-shared-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, databases: sharedDatabases}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// URL returns the server's redis:// (or rediss://) URL for database db.
func (s *Server) URL(db int) string {
	scheme := "redis"
	if s.tls != nil {
		scheme = "rediss"
	}
	if s.Password != "" {
		return fmt.Sprintf("%s://:%s@%s/%d", scheme, s.Password, s.Addr, db)
	}
	return fmt.Sprintf("%s://%s/%d", scheme, s.Addr, db)
}

// Stop kills the server; Restart brings it back on the same port.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on its old address (with its data gone:
// persistence is off). Not a Shared server's.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 50 { // the port may linger for a moment
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("restart redis-server on %s: %v", s.Addr, err)
}

func (s *Server) launch() error {
	host, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--bind", host, "--port", port, "--dir", s.dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}
	if s.Password != "" {
		args = append(args, "--requirepass", s.Password)
	}
	if s.databases > 0 {
		args = append(args, "--databases", strconv.Itoa(s.databases))
	}
	if s.tls != nil {
		args[3] = "0" // no plain port
		args = append(args, "--tls-port", port, "--tls-cert-file", s.dir+"/server.pem", "--tls-key-file", s.dir+"/server-key.pem",
			"--tls-ca-cert-file", s.CAFile, "--tls-auth-clients", "no")
	}
	cmd := exec.Command("redis-server", args...)
	stderr, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if err := ping(s.Addr, s.Password, s.tls, cmd.Process.Pid); err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(s.dir + "/redis.log")
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(string(log)))
		case <-ctx.Done():
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer", s.Addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ping speaks just enough RESP to know the server answers, and that it is
// the process we started, not another test's that won a race for the port.
func ping(addr, password string, tlsConfig *tls.Config, pid int) error {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: time.Second}
	if tlsConfig != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(password), password)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("auth: %q %v", line, err)
		}
	}
	fmt.Fprint(c, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
	head, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if !strings.HasPrefix(head, "$") || err != nil {
		return fmt.Errorf("info: %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	if !strings.Contains(string(body), fmt.Sprintf("process_id:%d\r\n", pid)) {
		return fmt.Errorf("%s is another redis-server", addr)
	}
	return nil
}

// flushDB empties database db of a plain server.
func (s *Server) flushDB(db int) error {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	n := strconv.Itoa(db)
	fmt.Fprintf(c, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n*2\r\n$7\r\nFLUSHDB\r\n$5\r\nASYNC\r\n", len(n), n)
	r := bufio.NewReader(c)
	for _, cmd := range []string{"SELECT", "FLUSHDB"} {
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("%s: %q %v", cmd, line, err)
		}
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// UsedCPU is the CPU time, in seconds, the server says it has used (its
// used_cpu_sys and used_cpu_user), from the text of INFO cpu.
func UsedCPU(info string) float64 {
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}
