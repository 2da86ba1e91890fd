package kubeclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testcert"
)

// plugin is a generated exec credential plugin. Each run counts itself,
// saves its KUBERNETES_EXEC_INFO and arguments, and prints the output the
// test set, with {{RUN}} replaced by its run's number; stderr and exit
// status are the test's too.
type plugin struct {
	t     *testing.T
	path  string
	state string
}

const pluginScript = `#!/bin/sh
n=$(( $(cat "$STATE/count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$STATE/count"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$STATE/info"
printf '%s|' "$@" > "$STATE/args"
[ -f "$STATE/stderr" ] && cat "$STATE/stderr" >&2
[ -f "$STATE/exit" ] && exit $(cat "$STATE/exit")
sed "s/{{RUN}}/$n/g" "$STATE/out"
`

// pluginPath is pluginScript's file, written once before any test runs.
// A test writing its own while another test forks a plugin could have its
// write descriptor inherited by that child until the child execs, and its
// own exec then fail with "text file busy" (ETXTBSY, golang/go#22315): a
// fresh clone's go test ./... saw it in TestExecConcurrent.
var pluginPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubeclient-plugin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "plugin")
	if err := os.WriteFile(pluginPath, []byte(pluginScript), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newPlugin(t *testing.T) *plugin {
	t.Helper()
	p := &plugin{t: t, path: pluginPath, state: filepath.Join(t.TempDir(), "state")}
	if err := os.Mkdir(p.state, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// config is an ExecConfig running the plugin.
func (p *plugin) config(apiVersion string) *ExecConfig {
	return &ExecConfig{Command: p.path, Args: []string{"get-token", "a b"}, Env: []string{"STATE=" + p.state}, APIVersion: apiVersion}
}

func (p *plugin) set(name, content string) {
	writeFile(p.t, filepath.Join(p.state, name), []byte(content))
}

// credential makes the plugin print an ExecCredential with this status.
func (p *plugin) credential(apiVersion string, status map[string]any) {
	b, err := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": "ExecCredential", "status": status})
	if err != nil {
		p.t.Fatal(err)
	}
	p.set("out", string(b))
}

func (p *plugin) runs() int {
	b, err := os.ReadFile(filepath.Join(p.state, "count"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (p *plugin) info() map[string]any {
	b, err := os.ReadFile(filepath.Join(p.state, "info"))
	if err != nil {
		p.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("KUBERNETES_EXEC_INFO %s: %v", b, err)
	}
	return m
}

// The plugin's token is sent, and kept for the next requests, for both
// API versions; the plugin gets its arguments, environment and
// KUBERNETES_EXEC_INFO.
func TestExecToken(t *testing.T) {
	t.Parallel()
	for _, v := range []string{execV1, execV1beta1} {
		t.Run(v, func(t *testing.T) {
			srv := newAPIServer(t, nil)
			p := newPlugin(t)
			p.credential(v, map[string]any{"token": "token-{{RUN}}"})
			hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: p.config(v)})
			for range 3 {
				if code, who := get(t, hc, srv.URL); code != 200 || who != "token-1" {
					t.Fatalf("%d %q", code, who)
				}
			}
			if p.runs() != 1 {
				t.Errorf("%d runs, want 1: a token without an expiry is kept", p.runs())
			}
			info := p.info()
			if info["apiVersion"] != v || info["kind"] != "ExecCredential" || fmt.Sprint(info["spec"]) != "map[interactive:false]" {
				t.Errorf("KUBERNETES_EXEC_INFO %v", info)
			}
			if args, _ := os.ReadFile(filepath.Join(p.state, "args")); string(args) != "get-token|a b|" {
				t.Errorf("arguments %q", args)
			}
		})
	}
}

// A credential is run for again once its expirationTimestamp has passed.
func TestExecExpiry(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	p := newPlugin(t)
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: p.config(execV1)})
	p.credential(execV1, map[string]any{"token": "token-{{RUN}}", "expirationTimestamp": time.Now().Add(-time.Minute).Format(time.RFC3339)})
	get(t, hc, srv.URL)
	if code, who := get(t, hc, srv.URL); code != 200 || who != "token-2" {
		t.Errorf("an expired token: %d %q, want a new one", code, who)
	}
	p.credential(execV1, map[string]any{"token": "token-{{RUN}}", "expirationTimestamp": time.Now().Add(time.Hour).Format(time.RFC3339)})
	get(t, hc, srv.URL)
	if code, who := get(t, hc, srv.URL); code != 200 || who != "token-3" || p.runs() != 3 {
		t.Errorf("a token valid for an hour: %d %q, %d runs", code, who, p.runs())
	}
}

// A 401 makes the next request run the plugin again.
func TestExecRefused(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	srv.setAccept(func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer token-2" })
	p := newPlugin(t)
	p.credential(execV1, map[string]any{"token": "token-{{RUN}}"})
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: p.config(execV1)})
	if code, _ := get(t, hc, srv.URL); code != 401 {
		t.Fatalf("%d, want the first token refused", code)
	}
	if code, who := get(t, hc, srv.URL); code != 200 || who != "token-2" {
		t.Errorf("after a 401: %d %q", code, who)
	}
}

// Requests at once run the plugin once.
func TestExecConcurrent(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	p := newPlugin(t)
	p.credential(execV1, map[string]any{"token": "token-{{RUN}}"})
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: p.config(execV1)})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if code, who := get(t, hc, srv.URL); code != 200 || who != "token-1" {
				t.Errorf("%d %q", code, who)
			}
		})
	}
	wg.Wait()
	if p.runs() != 1 {
		t.Errorf("%d runs", p.runs())
	}
}

// A plugin's client certificate is offered to a server that requires one;
// a new one closes the connections made with the old.
func TestExecClientCertificate(t *testing.T) {
	t.Parallel()
	ca := testcert.NewCA(t)
	srv := newAPIServer(t, ca)
	p := newPlugin(t)
	issue := func(cn string, expiry time.Time) {
		cert, key := ca.Client(t, cn)
		p.credential(execV1beta1, map[string]any{"clientCertificateData": string(cert), "clientKeyData": string(key), "expirationTimestamp": expiry.Format(time.RFC3339)})
	}
	issue("plugin-1", time.Now().Add(-time.Minute)) // expired at once: the next request asks again
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: p.config(execV1beta1)})
	if code, who := get(t, hc, srv.URL); code != 200 || who != "cert:plugin-1" {
		t.Fatalf("%d %q", code, who)
	}
	if h := srv.lastHeader(); h.Get("Authorization") != "" {
		t.Errorf("Authorization %q with a certificate alone", h.Get("Authorization"))
	}
	issue("plugin-2", time.Now().Add(time.Hour))
	// The request that finds the new certificate may be the one whose
	// connection it closes.
	var who string
	for range 3 {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			continue
		}
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		who = string(b[:n])
		break
	}
	if who != "cert:plugin-2" {
		t.Errorf("after a new certificate, the server sees %q", who)
	}
}

// With provideClusterInfo, the plugin is told about the cluster.
func TestExecClusterInfo(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	p := newPlugin(t)
	p.credential(execV1, map[string]any{"token": "t"})
	x := p.config(execV1)
	x.Cluster = &ExecCluster{Server: srv.URL, CertificateAuthorityData: srv.caPEM(), TLSServerName: "kube", Config: []byte(`{"audience":"kube"}`)}
	get(t, mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: x}), srv.URL)
	cl, _ := p.info()["spec"].(map[string]any)["cluster"].(map[string]any)
	if cl["server"] != srv.URL || cl["tls-server-name"] != "kube" || cl["certificate-authority-data"] == "" || fmt.Sprint(cl["config"]) != "map[audience:kube]" {
		t.Errorf("spec.cluster %v", cl)
	}
}

// Static credentials win over the plugin, which is then never run.
func TestExecUnusedBesideAToken(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, nil)
	p := newPlugin(t)
	p.credential(execV1, map[string]any{"token": "from-plugin"})
	hc := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Token: "static", Exec: p.config(execV1)})
	if code, who := get(t, hc, srv.URL); code != 200 || who != "static" || p.runs() != 0 {
		t.Errorf("%d %q, %d runs", code, who, p.runs())
	}
}

// A plugin that fails or prints no usable credential fails the request
// with why, and never with the credential.
func TestExecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		command  string // "": the plugin
		hint     string
		out      string
		stderr   string
		exit     string
		want     string
		notWants []string
	}{
		{name: "not found", command: "/nonexistent/kubelogin", hint: "brew install \x1b[1mkubelogin", want: "executable /nonexistent/kubelogin not found: brew install [1mkubelogin"},
		{name: "fails", exit: "3", stderr: "error: run `login` first\n", want: "exit code 3: error: run `login` first"},
		{name: "not JSON", out: "token=secret-1", want: "not an ExecCredential", notWants: []string{"secret-1"}},
		{name: "cut short", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"secret-2`, want: "not an ExecCredential", notWants: []string{"secret-2"}},
		{name: "a status of the wrong type", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":"secret-3"}`, want: "status is a JSON string", notWants: []string{"secret-3"}},
		{name: "another version", out: `{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"secret-4"}}`, want: "plugin returned version", notWants: []string{"secret-4"}},
		{name: "no status", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}`, want: "didn't return a status"},
		{name: "an empty status", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}`, want: "didn't return a token or cert/key pair"},
		{name: "a key alone", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientKeyData":"secret-5"}}`, want: "only certificate or key", notWants: []string{"secret-5"}},
		{name: "a bad key pair", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientKeyData":"secret-6","clientCertificateData":"c"}}`, want: "failed parsing client key/certificate", notWants: []string{"secret-6"}},
		{name: "a bad expiry", out: `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"secret-7","expirationTimestamp":"tomorrow"}}`, want: "not an RFC 3339 time", notWants: []string{"secret-7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, nil)
			p := newPlugin(t)
			p.set("out", tt.out)
			if tt.stderr != "" {
				p.set("stderr", tt.stderr)
			}
			if tt.exit != "" {
				p.set("exit", tt.exit)
			}
			x := p.config(execV1)
			x.InstallHint = tt.hint
			if tt.command != "" {
				x.Command = tt.command
			}
			_, err := mustClient(t, &Config{Host: srv.URL, CAData: srv.caPEM(), Exec: x}).Get(srv.URL)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
			for _, s := range tt.notWants {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the plugin's credential: %v", err)
				}
			}
		})
	}
}

func TestLimitedOutput(t *testing.T) {
	t.Parallel()
	b := &limitedBuffer{max: 4}
	if _, err := b.Write([]byte("12345")); err == nil {
		t.Error("more than the limit")
	}
	tail := &tailBuffer{max: 4}
	tail.Write([]byte("abc"))
	tail.Write([]byte("def"))
	if tail.String() != "cdef" {
		t.Errorf("%q", tail.String())
	}
}
