package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/nginxtest"
)

// checkBehindProxy holds the two logs to what OpenUnison behind ingress-nginx
// writes: the IdP names only the proxy's address, the proxy's log names the
// simulated clients (documentation addresses) on token requests.
func checkBehindProxy(t *testing.T, idpLog, proxyLog string) {
	t.Helper()
	if !strings.Contains(idpLog, "[ExpiredRefreshTokenUsed]") {
		t.Errorf("no grace reuse in the IdP's log:\n%s", idpLog)
	}
	for _, line := range strings.Split(strings.TrimSpace(idpLog), "\n") {
		if strings.Contains(line, "AccessLog") && !strings.Contains(line, "["+idp.DefaultProxyFrom.String()+"]") {
			t.Errorf("the IdP logged another address than the proxy's: %s", line)
		}
	}
	clients := map[string]bool{}
	for _, s := range strings.Split(strings.TrimSpace(proxyLog), "\n") {
		l, err := nginxtest.ParseLine(s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Path() == idp.DefaultIssuerPath+"/token" {
			clients[l.RemoteAddr[:strings.LastIndexByte(l.RemoteAddr, '.')]] = true
		}
	}
	if !clients["198.51.100"] || !clients["192.0.2"] {
		t.Errorf("the proxy's log names clients of %v, want homes in 198.51.100.0/25 and replayers in 192.0.2.0/25", clients)
	}
}

func simulateOpts(issuer string, errOut *bytes.Buffer) *simulateOptions {
	return &simulateOptions{
		io:     streams{in: strings.NewReader(""), out: &bytes.Buffer{}, errOut: errOut},
		issuer: issuer, users: 3, userFormat: "sim%04d", firstUser: 1, password: "simulate",
		duration: time.Second, rate: 20, every: time.Second, grace: 2 * time.Second,
		race: 0.2, replay: 0.4, source: "xff", concurrency: 4, clientID: "kubernetes", format: "text", quiet: true,
	}
}

// idp serve --proxy-listen: the issuer is the proxy's URL, and whoever
// follows it is logged by the proxy, the IdP seeing only the proxy.
func TestIdpServeBehindProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	proxyLog := filepath.Join(dir, "ingress.log")
	issuer, stdout, _ := startIdpServe(t, func(o *idpServeOptions) {
		o.grace, o.proxy = 2*time.Second, frontProxyFlags{listen: "127.0.0.1:0", log: proxyLog}
	})
	if err := runSimulate(context.Background(), simulateOpts(issuer, &bytes.Buffer{})); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(proxyLog)
	if err != nil {
		t.Fatal(err)
	}
	checkBehindProxy(t, stdout.String(), string(got))
}

// simulate --proxy-log puts the proxy in front of an IdP that knows
// nothing of it, one that even believes X-Forwarded-For from loopback.
func TestSimulateBehindProxy(t *testing.T) {
	t.Parallel()
	issuer, stdout, _ := startIdpServe(t, func(o *idpServeOptions) {
		o.grace, o.trustedProxies = 2*time.Second, []string{"127.0.0.0/8"}
	})
	proxyLog := filepath.Join(t.TempDir(), "ingress.log")
	o := simulateOpts(issuer, &bytes.Buffer{})
	o.proxy = frontProxyFlags{log: proxyLog}
	if err := runSimulate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(proxyLog)
	if err != nil {
		t.Fatal(err)
	}
	checkBehindProxy(t, stdout.String(), string(got))
}

func TestProxyFlagUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string // in the error; "" for any usage error
	}{
		{[]string{"idp", "serve", "--proxy-listen", "127.0.0.1:0"}, ""},
		{[]string{"idp", "serve", "--proxy-from", "127.0.0.4"}, ""},
		{[]string{"idp", "serve", "--proxy-listen", "127.0.0.1:0", "--proxy-log", "x.log", "--proxy-from", "10.0.0.1"}, ""},
		{[]string{"idp", "serve", "--proxy-listen", "127.0.0.1:0", "--proxy-log", "x.log", "--proxy-from", "nope"}, ""},
		// --proxy-log alone was ignored: the IdP served with no proxy and
		// no access log. (--addr nonsense: before the fix, a usage error
		// that names neither flag, not an IdP left serving.)
		{[]string{"idp", "serve", "--addr", "nonsense", "--proxy-log", "x.log"}, "--proxy-log needs --proxy-listen"},
		{[]string{"simulate", "--proxy-from", "127.0.0.4"}, ""},
		{[]string{"simulate", "--proxy-log", "x.log", "--issuer", "https://127.0.0.1:1/auth/idp/k8sIdp"}, ""},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
			cmd.SetArgs(tt.args)
			var usage usageError
			if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}

// The proxy's flags shape a proxy only: typed without it they are usage
// errors (TestProxyFlagUsageErrors), but set in the config file or the
// environment, as a file simulate shares sets --proxy-log, they are
// defaults idp serve leaves unused. They stopped it (exit 2, "--proxy-log
// needs --proxy-listen"). --addr nonsense makes each run a usage error of
// its own, which must not name the proxy's flags.
func TestProxyFlagsFromConfigOrEnvironmentAreDefaults(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("proxy-log: ingress.log\nproxy-from: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"config file", nil, []string{"--config", cfg}},
		{"environment", map[string]string{"GRACEGUARD_PROXY_LOG": "ingress.log", "GRACEGUARD_PROXY_FROM": "nope"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, code := run(t, nil, append([]string{"idp", "serve", "--addr", "nonsense"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, "--addr nonsense") || strings.Contains(stderr, "proxy") {
				t.Errorf("exit %d, stderr %q; want the --addr usage error alone", code, stderr)
			}
		})
	}
}
