package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// refusedPassword has characters that URL escaping changes, so that the
// escaped form is looked for too.
const refusedPassword = "wr0ng pa/ss+wörd?"

// notPrinted fails t if out holds secret in any form a log or an error
// could carry it: as is, URL-escaped either way, or base64 (a Basic
// header, a dumped AUTH).
func notPrinted(t *testing.T, out, secret string) {
	t.Helper()
	forms := map[string]string{
		"plain":             secret,
		"query-escaped":     url.QueryEscape(secret),
		"path-escaped":      url.PathEscape(secret),
		"userinfo-escaped":  strings.TrimSuffix(strings.TrimPrefix(url.UserPassword("", secret).String(), ":"), "@"),
		"base64":            base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 raw url":    base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"base64 of :secret": base64.StdEncoding.EncodeToString([]byte(":" + secret)),
	}
	for name, form := range forms {
		if strings.Contains(out, form) {
			t.Errorf("the password was printed (%s, %q):\n%s", name, form, out)
		}
	}
}

// redisURL is srv's redis:// URL for db with user and password (either
// may be empty).
func redisURL(addr, user, password string, db string) string {
	u := &url.URL{Scheme: "redis", Host: addr, Path: "/" + db}
	switch {
	case user != "" || password != "":
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// silentListener accepts connections and never answers: a Redis that
// hangs (a stalled server, a black-holed packet path). The connections
// are held until the test ends.
func silentListener(t *testing.T) string {
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	return acceptingListener(t, func(c net.Conn) { held = append(held, c) })
}

// resettingListener accepts connections and closes them at once: a
// proxy in front of a Redis that is not there.
func resettingListener(t *testing.T) string {
	return acceptingListener(t, func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, not a FIN
		}
		c.Close()
	})
}

// acceptingListener listens on a free loopback port until the test ends,
// handing each connection to take on its one accepting goroutine.
func acceptingListener(t *testing.T, take func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			take(c)
		}
	}()
	return ln.Addr().String()
}

// A Redis that refuses what watch was given (a wrong password, an unknown
// user, no password where one is needed or one where none is set, an
// ACL without the commands the store runs, a database it does not have,
// a certificate not signed by a CA watch trusts) will refuse it until an
// operator changes the settings: watch stops at start with exit 2 and one
// line naming the URL (its password masked) and Redis's answer. A Redis
// that cannot be reached may come back by itself: watch starts on local
// state, not ready, as before. Whichever route the settings took (the URL,
// --state-password-file, the environment, the config file), the password
// is never printed.
func TestWatchRefusesARedisThatRefusesItsSettings(t *testing.T) {
	ctx := context.Background()
	withPassword := redistest.Start(t, redistest.WithPassword("right-pw"))
	open := redistest.Start(t)
	tlsSrv := redistest.Start(t, redistest.WithTLS())
	opt, err := redis.ParseURL(open.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	t.Cleanup(func() { admin.Close() })
	for _, acl := range [][]any{
		// The commands the store runs, but for scripts.
		{"ACL", "SETUSER", "noscripts", "on", ">" + refusedPassword, "~graceguard:*", "+@read", "+@write", "+@connection"},
		// Scripts, but not one command the history script calls: Redis
		// checks it only when the script runs it.
		{"ACL", "SETUSER", "nozadd", "on", ">" + refusedPassword, "~graceguard:*", "+@read", "+@write", "+@scripting", "+@connection", "-zadd"},
		// Everything, on other keys than the prefix's.
		{"ACL", "SETUSER", "otherkeys", "on", ">" + refusedPassword, "~other:*", "+@all"},
	} {
		if err := admin.Do(ctx, acl...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte(refusedPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("state: "+redisURL(withPassword.Addr, "", "", "0")+"\nstate-password-file: "+pwFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const (
		refused  = "refused"
		degraded = "degraded"
	)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // refused or degraded
		says string // in the error (refused) or the log (degraded)
		what string // the refusal's kind, in the error (refused)
		// named is how the refusal names the setting: where it was set
		// (the settings layer's words); "" for --state.
		named string
	}{
		{name: "wrong password in the URL", args: []string{"--state", redisURL(withPassword.Addr, "", refusedPassword, "0")}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials"},
		{name: "wrong password, redis-cli's form", args: []string{"--state", "redis://" + url.PathEscape(refusedPassword) + "@" + withPassword.Addr + "/0"}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials"},
		{name: "wrong password in --state-password-file", args: []string{"--state", redisURL(withPassword.Addr, "", "", "0"), "--state-password-file", pwFile}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials"},
		{name: "wrong password in the environment", args: []string{"--state", redisURL(withPassword.Addr, "", "", "0")}, env: map[string]string{redisPasswordEnv: refusedPassword}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials"},
		{name: "wrong password through the config file", args: []string{"--config", cfg}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials", named: cfg + ":1:8: state "},
		{name: "URL in the environment", env: map[string]string{"GRACEGUARD_STATE": redisURL(withPassword.Addr, "", refusedPassword, "0")}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials", named: "GRACEGUARD_STATE "},
		{name: "unknown user", args: []string{"--state", redisURL(withPassword.Addr, "nobody", refusedPassword, "0")}, want: refused, says: "WRONGPASS", what: "Redis refused the credentials"},
		{name: "no password where one is needed", args: []string{"--state", redisURL(withPassword.Addr, "", "", "0")}, want: refused, says: "NOAUTH", what: "Redis refused the credentials"},
		{name: "a password where none is set", args: []string{"--state", redisURL(open.Addr, "", refusedPassword, "0")}, want: refused, says: "AUTH <password> called without any password configured", what: "Redis refused the credentials"},
		{name: "database out of range", args: []string{"--state", redisURL(open.Addr, "", "", "99")}, want: refused, says: "DB index is out of range", what: "Redis refused the database number"},
		{name: "ACL without scripts", args: []string{"--state", redisURL(open.Addr, "noscripts", refusedPassword, "0")}, want: refused, says: "NOPERM", what: "Redis refused a command (ACL)"},
		{name: "ACL without a command of the history script", args: []string{"--state", redisURL(open.Addr, "nozadd", refusedPassword, "0")}, want: refused, says: "zadd", what: "Redis refused a command (ACL)"},
		{name: "ACL of other keys", args: []string{"--state", redisURL(open.Addr, "otherkeys", refusedPassword, "0")}, want: refused, says: "NOPERM", what: "Redis refused a command (ACL)"},
		{name: "certificate of a CA not trusted", args: []string{"--state", tlsSrv.URL(0)}, want: refused, says: "x509: certificate signed by unknown authority", what: "the server's certificate is not trusted"},

		{name: "connection refused", args: []string{"--state", redisURL(closedPort(t), "", refusedPassword, "0")}, want: degraded, says: "connection refused"},
		{name: "no such host", args: []string{"--state", redisURL("graceguard-redis.invalid:6379", "", refusedPassword, "0")}, want: degraded, says: "graceguard-redis.invalid"},
		{name: "no answer", args: []string{"--state", redisURL(silentListener(t), "", refusedPassword, "0")}, want: degraded, says: "timeout"},
		{name: "connection reset", args: []string{"--state", redisURL(resettingListener(t), "", refusedPassword, "0")}, want: degraded, says: "shared state unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				t.Parallel()
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			logPath := filepath.Join(t.TempDir(), "pod-a.log")
			appendFile(t, logPath, "")
			args := append([]string{"--state-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--poll", "5ms"}, tt.args...)
			w := startWatch(t, append(args, logPath)...)
			switch tt.want {
			case refused:
				var code int
				select {
				case code = <-w.done:
					w.done <- code
				case <-time.After(10 * time.Second):
					t.Fatalf("watch did not stop; log:\n%s", w.errOut)
				}
				errOut := w.errOut.String()
				named := tt.named
				if named == "" {
					named = "--state "
				}
				if code != exitUsage || !strings.HasPrefix(errOut, "graceguard: "+named) || strings.Count(errOut, "\n") != 1 ||
					!strings.Contains(errOut, tt.says) {
					t.Errorf("exit %d, stderr %q; want %d and one line naming %q, %q and %q", code, errOut, exitUsage, named, tt.what, tt.says)
				}
			case degraded:
				base := "http://" + waitForAddr(t, w)
				testsync.WaitFor(t, "/readyz 503", func() bool { code, _ := get(t, base+"/readyz"); return code == 503 })
				testsync.WaitFor(t, "the failure logged", func() bool {
					return countLines(w.errOut.String(), "level=ERROR", "shared state unreachable", tt.says) > 0
				})
				if code := w.stop(t); code != 0 {
					t.Errorf("exit %d, want 0:\n%s", code, w.errOut)
				}
				if strings.Contains(w.errOut.String(), "Redis refused") || strings.Contains(w.errOut.String(), "not trusted") {
					t.Errorf("a network failure was logged as a refusal:\n%s", w.errOut)
				}
			}
			notPrinted(t, w.out.String()+w.errOut.String(), refusedPassword)
			notPrinted(t, w.out.String()+w.errOut.String(), "right-pw")
		})
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A password rotated on the server while watch runs (its connections cut,
// so that the next one authenticates) is not a reason to stop: watch goes
// on with local state, not ready, and says what happened, Redis refusing
// the credentials with Redis's words, not "unreachable"; once the server
// takes the password again watch is back on it.
func TestWatchKeepsGoingWhenRedisRefusesItLater(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rotated = "r0tated pa/ss"
	srv := redistest.Start(t, redistest.WithPassword("right-pw"))
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	t.Cleanup(func() { admin.Close() })
	// One connection, authenticated before the rotation and spared the
	// cut, to rotate back with.
	conn := admin.Conn()
	t.Cleanup(func() { conn.Close() })
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "pod-a.log")
	appendFile(t, logPath, "")
	w := startWatch(t, "--format", "json", "--poll", "5ms", "--settle", "200ms", "--state", srv.URL(0),
		"--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", logPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", w.errOut)
		}
	})
	base := "http://" + waitForAddr(t, w)
	readyz := func() int { code, _ := get(t, base+"/readyz"); return code }
	testsync.WaitFor(t, "ready", func() bool { return readyz() == 200 })

	if err := conn.ConfigSet(ctx, "requirepass", rotated).Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, logPath, replayLines("u1", 0))
	testsync.WaitFor(t, "an alert from local state", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	testsync.WaitFor(t, "the refusal logged", func() bool {
		return countLines(w.errOut.String(), "level=ERROR", "shared state: Redis refused the credentials", "WRONGPASS") == 1
	})
	if code := readyz(); code != 503 {
		t.Errorf("/readyz %d while Redis refuses the credentials, want 503", code)
	}
	if n := countLines(w.errOut.String(), "unreachable", "WRONGPASS"); n != 0 {
		t.Errorf("the refusal was logged as Redis unreachable:\n%s", w.errOut)
	}

	if err := conn.ConfigSet(ctx, "requirepass", "right-pw").Err(); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "ready again", func() bool { return readyz() == 200 })
	appendFile(t, logPath, replayLines("u2", 1))
	testsync.WaitFor(t, "an alert with Redis back", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })
	if code := w.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, w.errOut)
	}
	notPrinted(t, w.out.String()+w.errOut.String(), "right-pw")
	notPrinted(t, w.out.String()+w.errOut.String(), rotated)
}
