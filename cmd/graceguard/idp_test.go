package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/testcert"
	"github.com/graceguard/graceguard/internal/testsync"
	"k8s.io/client-go/tools/clientcmd"
)

// startIdpServe runs `idp serve` on a free loopback port until the test ends.
func startIdpServe(t *testing.T, mod func(*idpServeOptions)) (issuer string, stdout, stderr *testsync.Buffer) {
	t.Helper()
	stdout, stderr = &testsync.Buffer{}, &testsync.Buffer{}
	o := &idpServeOptions{io: streams{in: strings.NewReader(""), out: stdout, errOut: stderr},
		addr: "127.0.0.1:0", idTokenTTL: time.Minute, sessionTTL: 15 * time.Minute, clientID: "kubernetes",
		sessionID: "request", maxSessions: 1000, usersFile: idptest.FastUsersFile(t)}
	if mod != nil {
		mod(o)
	}
	ready := make(chan string, 1)
	o.ready = func(iss string) { ready <- iss }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runIdpServe(ctx, o) }()
	select {
	case issuer = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("idp serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("idp serve: %v", err)
		}
	})
	return issuer, stdout, stderr
}

func TestIdpServeLoginSimulate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "idp.log")
	issuer, stdout, stderr := startIdpServe(t, func(o *idpServeOptions) {
		o.logFile, o.grace, o.trustedProxies = logFile, 2*time.Second, []string{"127.0.0.1"}
	})
	// Serve warns as it starts, just after the listener is ready.
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(stderr.String(), "test harness, not for production"); {
		if time.Now().After(deadline) {
			t.Fatalf("no harness warning on stderr: %s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	var out bytes.Buffer
	err := runIdpLogin(context.Background(), &idpLoginOptions{
		io:     streams{in: strings.NewReader("start123\n"), out: &out, errOut: &bytes.Buffer{}},
		issuer: issuer, user: "mmosley", passwordStdin: true, kubeconfig: kubeconfig,
		server: "https://127.0.0.1:6443", insecureSkipTLSVerify: true, clientID: "kubernetes",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `context "mmosley@`) {
		t.Errorf("login output %q", out.String())
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ap := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].AuthProvider
	if ap.Name != "oidc" || ap.Config["idp-issuer-url"] != issuer || ap.Config["refresh-token"] == "" || ap.Config["id-token"] == "" {
		t.Errorf("auth-provider %+v", ap)
	}

	truth := filepath.Join(dir, "truth.json")
	var simOut, simErr bytes.Buffer
	err = runSimulate(context.Background(), &simulateOptions{
		io:     streams{in: strings.NewReader(""), out: &simOut, errOut: &simErr},
		issuer: issuer, users: 3, userFormat: "sim%04d", firstUser: 1, password: "simulate",
		duration: 1500 * time.Millisecond, rate: 20, every: time.Second, grace: 2 * time.Second,
		race: 0.2, replay: 0.3, source: "xff", concurrency: 4, clientID: "kubernetes", truth: truth, format: "text",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(simOut.String(), "refreshes/s") || !strings.Contains(simErr.String(), "refreshes/s") {
		t.Errorf("summary %q, live %q", simOut.String(), simErr.String())
	}
	if fi, err := os.Stat(truth); err != nil || fi.Size() == 0 {
		t.Errorf("truth file: %v", err)
	}

	// The log goes to stdout and, with --log, to the file as well.
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(logged) != stdout.String() || !strings.Contains(string(logged), "[ExpiredRefreshTokenUsed]") ||
		!strings.Contains(string(logged), "Expired token used within grace period [192.0.2.") {
		t.Errorf("log file and stdout differ or miss the replays:\n%s", logged)
	}
	if strings.Contains(string(logged), "start123") || strings.Contains(string(logged), ap.Config["refresh-token"]) {
		t.Error("a secret reached the log")
	}
}

func TestIdpLoginWrongPassword(t *testing.T) {
	t.Parallel()
	issuer, _, _ := startIdpServe(t, nil)
	err := runIdpLogin(context.Background(), &idpLoginOptions{
		io:     streams{in: strings.NewReader(""), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}},
		issuer: issuer, user: "mmosley", password: "nope", kubeconfig: filepath.Join(t.TempDir(), "k"), clientID: "kubernetes",
	})
	var usage usageError
	if err == nil || errors.As(err, &usage) || !strings.Contains(err.Error(), "wrong username or password") || strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v", err)
	}
}

// TestUsageErrors: every bad invocation exits 2 (a usageError), before any
// network or file is touched.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := [][]string{
		{"idp", "serve", "extra"},
		{"idp", "serve", "--session-id", "cookie"},
		{"idp", "serve", "--tls-cert", "x.pem"},
		{"idp", "serve", "--trusted-proxies", "not-an-ip"},
		{"idp", "serve", "--grace", "-1s"},
		{"idp", "serve", "--users", filepath.Join(dir, "missing.yaml")},
		{"idp", "serve", "--signing-key", filepath.Join(dir, "missing.pem")},
		{"idp", "serve", "--issuer", "ftp://x", "--addr", "127.0.0.1:0"},
		{"idp", "serve", "--no-such-flag"},
		{"idp", "login"},
		{"idp", "login", "--user", "mmosley"},
		{"idp", "login", "--user", "mmosley", "--password", "x", "--password-stdin"},
		{"idp", "login", "--user", "mmosley", "--password", "x", "--server", "http://127.0.0.1:6443"},
		{"simulate", "--source", "magic"},
		{"simulate", "--race", "0.9", "--replay", "0.9"},
		{"simulate", "--format", "xml"},
		{"simulate", "--users", "0"},
		{"simulate", "--home-net", "nope"},
		{"simulate", "--user-format", "sim"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
			cmd.SetArgs(args)
			err := cmd.ExecuteContext(context.Background())
			var usage usageError
			if !errors.As(err, &usage) {
				t.Errorf("err = %v, want a usage error", err)
			}
		})
	}
}

// idp login's mistakes are the caller's to fix: exit 2 on one graceguard:
// line in plain words, found before any request, with no password or
// token of a URL on it.
func TestIdpLoginRefusedInPlainWords(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args       []string
		kubeconfig string // what --kubeconfig KC holds: none when empty, a directory when "/"
		want       string // the whole of stderr, KC standing for --kubeconfig's path
	}{
		// An issuer that is no http(s) URL is mistyped, not an IdP down:
		// it exited 1 with Go's "unsupported protocol scheme", as simulate
		// did (its table has these cases too).
		{[]string{"--issuer", "notaurl"}, "", "graceguard: --issuer \"notaurl\": want an http:// or https:// URL\n"},
		{[]string{"--issuer", "ftp://u:pw@idp.example/auth/idp/k8sIdp"}, "", "graceguard: --issuer \"ftp://u:xxxxx@idp.example/auth/idp/k8sIdp\": want an http:// or https:// URL\n"},
		{[]string{"--issuer", "http://u:pw@/auth/idp/k8sIdp"}, "", "graceguard: --issuer \"http://u:xxxxx@/auth/idp/k8sIdp\": want an http:// or https:// URL\n"},
		// A --kubeconfig that is no kubeconfig exited 1, after the login,
		// without a line or column ("kubeconfig: F: yaml: line 1: …"), or
		// was merged into (a manifest, a users: that is no list, lost).
		{nil, "users:\n  - name: a\n   user: x\n", "graceguard: kubeconfig KC:3:4: value is not allowed in this context\n"},
		{nil, "{\"apiVersion\": \"v1\",\n \"users\": [\n", "graceguard: kubeconfig KC:2:11: sequence end token ']' not found\n"},
		{nil, "just some text\n", "graceguard: kubeconfig KC:1:1: not a kubeconfig: the top level is not a mapping\n"},
		{nil, "- a\n- b\n", "graceguard: kubeconfig KC:1:1: not a kubeconfig: the top level is not a mapping\n"},
		{nil, "apiVersion: apps/v1\nkind: Deployment\n", "graceguard: kubeconfig KC:2:7: not a kubeconfig: kind is not Config\n"},
		{nil, "apiVersion: v1\nkind: Config\nusers: admin\n", "graceguard: kubeconfig KC:3:8: users: want a list of named entries\n"},
		{nil, "/", "graceguard: kubeconfig KC: a directory, not a file\n"},
	} {
		name := strings.Join(tt.args, " ")
		if tt.kubeconfig != "" {
			name = "--kubeconfig holding " + tt.kubeconfig
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			kc := filepath.Join(t.TempDir(), "kubeconfig")
			switch tt.kubeconfig {
			case "":
			case "/":
				if err := os.Mkdir(kc, 0o700); err != nil {
					t.Fatal(err)
				}
			default:
				if err := os.WriteFile(kc, []byte(tt.kubeconfig), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// An issuer nothing listens on: the run must end before any request.
			args := append([]string{"idp", "login", "--issuer", "http://127.0.0.1:1/auth/idp/k8sIdp", "--user", "mmosley",
				"--password", "start123", "--kubeconfig", kc}, tt.args...)
			stdout, stderr, code := run(t, nil, args...)
			want := strings.ReplaceAll(tt.want, "KC", kc)
			if code != exitUsage || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and\n%s", code, stdout, stderr, exitUsage, want)
			}
			if data, err := os.ReadFile(kc); tt.kubeconfig != "/" && string(data) != tt.kubeconfig {
				t.Errorf("--kubeconfig now holds %q (%v), want it untouched", data, err)
			}
		})
	}
}

// The IdP refuses a grace period longer than the id token's lifetime in
// its Config's words ("grace 10s is longer than the id token TTL 5s"):
// idp serve names the flags that set them, before anything listens.
func TestIdpServeGraceLongerThanIDTokenTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--grace", "10s", "--id-token-ttl", "5s"}, "graceguard: --grace 10s is longer than --id-token-ttl 5s: "},
		{[]string{"--grace", "2m"}, "graceguard: --grace 2m0s is longer than --id-token-ttl 1m0s: "},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// An address that cannot be listened on: the error must come first.
			args := append([]string{"idp", "serve", "--addr", "nonsense"}, tt.args...)
			stdout, stderr, code := run(t, nil, args...)
			if code != exitUsage || stdout != "" || !strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line starting %q", code, stdout, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := parsePrefixes([]string{"127.0.0.1", " 10.0.0.0/8", "::1", "192.168.1.7/24", ""})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[127.0.0.1/32 10.0.0.0/8 ::1/128 192.168.1.0/24]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestIdpServeTLSAndFiles serves HTTPS with --tls-cert/--tls-key, signs with
// an RSA --signing-key (RS256) and serves a --users file, then logs in over
// TLS with --idp-certificate-authority.
func TestIdpServeTLSAndFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem"), filepath.Join(dir, "ca.pem")
	writeCerts(t, certFile, keyFile, caFile)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signingKey := filepath.Join(dir, "signing.pem")
	writePEM(t, signingKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	users := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(users, []byte("users:\n  - username: alice\n    password_hash: \"$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6\"\n    dn: uid=alice,ou=people,o=Example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	issuer, stdout, _ := startIdpServe(t, func(o *idpServeOptions) {
		o.tlsCert, o.tlsKey, o.signingKey, o.usersFile, o.clientSecret = certFile, keyFile, signingKey, users, "cs"
	})
	if !strings.HasPrefix(issuer, "https://127.0.0.1:") {
		t.Fatalf("issuer %s", issuer)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	err = runIdpLogin(context.Background(), &idpLoginOptions{
		io:     streams{in: strings.NewReader(""), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}},
		issuer: issuer, user: "alice", password: "simulate", kubeconfig: kubeconfig, idpCA: caFile,
		clientID: "kubernetes", clientSecret: "cs", userEntry: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ap := cfg.AuthInfos["alice"].AuthProvider.Config
	if ap["idp-certificate-authority"] != caFile || ap["client-secret"] != "cs" || !strings.HasPrefix(ap["id-token"], "eyJhbGciOiJSUzI1NiI") {
		t.Errorf("auth-provider config: ca %q, secret set %v, id-token header %.20s", ap["idp-certificate-authority"], ap["client-secret"] != "", ap["id-token"])
	}
	if !strings.Contains(stdout.String(), "[AuSuccess] - k8sidp - "+issuer+"/token - uid=alice,ou=people,o=Example - ") {
		t.Errorf("log:\n%s", stdout)
	}
}

// writeCerts writes a server certificate for 127.0.0.1, its key, and the
// CA that signed it.
func writeCerts(t *testing.T, certFile, keyFile, caFile string) {
	t.Helper()
	ca := testcert.NewCA(t)
	cert, key := ca.Server(t)
	for path, data := range map[string][]byte{certFile: cert, keyFile: key, caFile: ca.PEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A relative --certificate-authority is written as an absolute path that
// exists: kubectl reads relative paths from the kubeconfig's directory, so
// writing it as typed breaks kubectl later, far from the cause.
func TestIdpLoginCertificateAuthorityPaths(t *testing.T) {
	dir := t.TempDir()
	caPEM := testcert.NewCA(t).PEM
	if err := os.WriteFile(filepath.Join(dir, "api-ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "not-a-cert.pem"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	issuer, _, _ := startIdpServe(t, nil)
	t.Chdir(dir)
	kubeconfig := filepath.Join(t.TempDir(), "elsewhere", "kubeconfig")
	login := func(ca, server string) error {
		return runIdpLogin(context.Background(), &idpLoginOptions{
			io:     streams{in: strings.NewReader(""), out: &bytes.Buffer{}, errOut: &bytes.Buffer{}},
			issuer: issuer, user: "mmosley", password: "start123", kubeconfig: kubeconfig,
			clientID: "kubernetes", server: server, certificateAuthority: ca,
		})
	}
	if err := login("api-ca.pem", "https://127.0.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range cfg.Clusters {
		if c.CertificateAuthority != filepath.Join(dir, "api-ca.pem") {
			t.Errorf("cluster %s: certificate-authority %q, want %q", name, c.CertificateAuthority, filepath.Join(dir, "api-ca.pem"))
		}
	}
	for _, tt := range []struct{ ca, server, want string }{
		{"missing.pem", "https://127.0.0.1:6443", "--certificate-authority"},
		{"not-a-cert.pem", "https://127.0.0.1:6443", "no PEM certificate"},
		{"api-ca.pem", "", "--server"},
	} {
		err := login(tt.ca, tt.server)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("login with --certificate-authority %s --server %q: %v; want a usage error naming %s", tt.ca, tt.server, err, tt.want)
		}
	}
}
