package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
)

func TestRedactStateURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ raw, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:hunter2@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"rediss://default:hunter2@redis:6380/1?dial_timeout=3s", "rediss://default:xxxxx@redis:6380/1?dial_timeout=3s"},
		{"redis://127.0.0.1:1/0?password=secretpass", "redis://127.0.0.1:1/0?password=xxxxx"},
		{"redis://127.0.0.1:1/0?client_name=gg&pasword=secretpass", "redis://127.0.0.1:1/0?client_name=gg&pasword=xxxxx"},
		{"redis://:hunter2@127.0.0.1:x/0?password=secretpass", "redis://xxxxx@127.0.0.1:xxxxx/0?xxxxx"},
		// redis-cli reads "redis://SECRET@host" as the password (userinfo
		// without a colon): an operator who copies that URL must not see
		// the secret in watch's log.
		{"redis://hunter2@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"rediss://hunter2@redis:6380/1?dial_timeout=3s", "rediss://xxxxx@redis:6380/1?dial_timeout=3s"},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			if got := redactStateURL(tt.raw); got != tt.want {
				t.Errorf("redactStateURL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

// Each command that takes a URL, run against an unreachable address with a
// secret in the URL's password and query: the secret must appear nowhere the
// user or a log collector sees it, in any encoding.
func TestCommandsHideURLSecrets(t *testing.T) {
	t.Parallel()
	// A slash and a space, so that the escaped and the plain forms differ.
	const secret = "hunter2/pa ss"
	esc := url.QueryEscape(secret)
	forms := []string{secret, esc, url.PathEscape(secret), strings.ReplaceAll(esc, "+", "%20"),
		base64.StdEncoding.EncodeToString([]byte("u:" + secret)), base64.RawURLEncoding.EncodeToString([]byte("u:" + secret))}
	issuer := "http://u:" + url.PathEscape(secret) + "@127.0.0.1:1/auth/idp/k8sIdp?token=" + esc
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"idp login", []string{"idp", "login", "--user", "a", "--password", "x", "--kubeconfig", "KUBECONFIG", "--issuer", issuer}},
		{"idp login, unparsable issuer", []string{"idp", "login", "--user", "a", "--password", "x", "--kubeconfig", "KUBECONFIG",
			"--issuer", strings.Replace(issuer, ":1/", ":bad/", 1)}},
		{"idp login, http server", []string{"idp", "login", "--user", "a", "--password", "x", "--kubeconfig", "KUBECONFIG",
			"--issuer", issuer, "--server", "http://u:" + esc + "@127.0.0.1:1/?token=" + esc}},
		{"simulate", []string{"simulate", "--users", "1", "--duration", "1s", "--quiet", "--issuer", issuer}},
		{"simulate, proxy", []string{"simulate", "--users", "1", "--duration", "1s", "--quiet", "--proxy-log", "PROXYLOG",
			"--issuer", strings.Replace(issuer, ":1/", ":bad/", 1)}},
		{"watch, query password", []string{"watch", "--state-dir", "", "--state", "redis://127.0.0.1:1/0?password=" + esc, "testdata/openunison/sample.log"}},
		{"watch, unreachable", []string{"watch", "--state-dir", "", "--log-level", "debug",
			"--state", "redis://u:" + esc + "@127.0.0.1:1/0?dial_timeout=1", "testdata/openunison/sample.log"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				a = strings.ReplaceAll(a, "KUBECONFIG", dir+"/kubeconfig")
				a = strings.ReplaceAll(a, "PROXYLOG", dir+"/proxy.log")
				args[i] = strings.Replace(a, "testdata/", "../../testdata/", 1)
			}
			// watch follows its file until told to stop.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var out, errOut testsync.Buffer
			cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
			cmd.SetArgs(args)
			err := cmd.ExecuteContext(ctx)
			if err == nil && !strings.HasPrefix(tt.name, "watch, unreachable") {
				t.Fatal("no error")
			}
			if err != nil && errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v: the command did not fail fast", err)
			}
			exitCode(&errOut, err)
			shown := map[string]string{"stdout": out.String(), "stderr": errOut.String(), "error": fmt.Sprintf("%v %+v", err, err)}
			for where, text := range shown {
				for _, f := range forms {
					if strings.Contains(text, f) {
						t.Errorf("%s shows %q:\n%s", where, f, text)
					}
				}
			}
			if !strings.Contains(errOut.String(), "127.0.0.1") {
				t.Errorf("stderr %q does not say which address failed", errOut.String())
			}
		})
	}
}

// A --state URL's userinfo is read as redis-cli reads it: without a colon
// it is the password (go-redis alone took it for a user name and sent no
// password, and Redis refused every command).
func TestStateURLCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ url, user, password string }{
		{"redis://S3cret@127.0.0.1:6379/0", "", "S3cret"},
		{"redis://:S3cret@127.0.0.1:6379/0", "", "S3cret"},
		{"redis://alice:S3cret@127.0.0.1:6379/0", "alice", "S3cret"},
	} {
		opt, err := (&stateFlags{url: tt.url}).redisOptions()
		if err != nil {
			t.Fatalf("%s: %v", redactStateURL(tt.url), err)
		}
		if opt.Username != tt.user || opt.Password != tt.password {
			t.Errorf("%s: user %q, password set %v; want user %q and the password", redactStateURL(tt.url), opt.Username, opt.Password != "", tt.user)
		}
	}
}
