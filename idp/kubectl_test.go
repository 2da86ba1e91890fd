package idp_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/testparallel"
	"github.com/graceguard/graceguard/internal/testsync"

	// The auth-provider kubectl uses for `auth-provider: oidc`.
	_ "k8s.io/client-go/plugin/pkg/client/auth/oidc"
)

// helperEnv makes the test binary act as one kubectl-like process: it loads
// the kubeconfig, builds client-go's transport (which instantiates the oidc
// auth-provider with the tokens it read), says "ready", waits for "go" on
// stdin and then calls the API server once.
const helperEnv = "GRACEGUARD_KUBECTL_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(kubectlHelper(os.Stdin, os.Stdout))
	}
	// The simulations and races run for a set time against a server on
	// loopback, and wait most of it.
	os.Exit(testparallel.Run(m))
}

func kubectlHelper(in io.Reader, out io.Writer) int {
	loader := &clientcmd.ClientConfigLoadingRules{ExplicitPath: os.Getenv("KUBECONFIG")}
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loader, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		fmt.Fprintln(out, "err config:", err)
		return 1
	}
	rt, err := rest.TransportFor(restCfg)
	if err != nil {
		fmt.Fprintln(out, "err transport:", err)
		return 1
	}
	fmt.Fprintln(out, "ready")
	if line, _ := bufio.NewReader(in).ReadString('\n'); line != "go\n" {
		fmt.Fprintln(out, "err no go")
		return 1
	}
	// client-go's kubeconfig persister takes a lock file with O_EXCL and
	// fails instead of waiting when the other process holds it; kubectl
	// would print that error. It is a client-side artefact of the shared
	// file, not an IdP answer, so it is retried here (the retry presents
	// the same token again, which the grace period also covers). For up to
	// two seconds, well inside the tests' 5 s grace: five tries 50 ms apart
	// were too few on a loaded machine under -race, where the other
	// process held the lock longer than that.
	lockDeadline := time.Now().Add(2 * time.Second)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodGet, restCfg.Host+"/version", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			if strings.Contains(err.Error(), "could not persist new tokens") && time.Now().Before(lockDeadline) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			fmt.Fprintf(out, "err %v (lock retries %d)\n", err, attempt)
			return 0
		}
		resp.Body.Close()
		fmt.Fprintf(out, "ok %d (lock retries %d)\n", resp.StatusCode, attempt)
		return 0
	}
}

// loginTimeout is the tests' clients' wait for an answer, in place of
// the client's 10 s: a login is a bcrypt (cost 10) compare, 1.6 s under
// -race alone, and past 10 s on a loaded machine beside the tests' other
// logins. The tests are of what the IdP answers, not of how soon.
const loginTimeout = time.Minute

// apiServer is an httptest TLS "Kubernetes API server" that accepts a
// request only with a valid id_token from the IdP, checked against its JWKS.
func apiServer(t *testing.T, p *idp.Provider) *httptest.Server {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(p.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		var c jwt.Claims
		if !ok || err != nil || tok.Claims(set.Keys[0], &c) != nil ||
			c.ValidateWithLeeway(jwt.Expected{Issuer: p.Issuer(), AnyAudience: jwt.Audience{"kubernetes"}, Time: time.Now()}, time.Second) != nil {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.0-graceguard"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startIdP serves a Provider on loopback with a 5s id_token, which
// client-go's oidc provider (10s expiry margin) treats as expired at once,
// so every API call refreshes: the race on demand.
func startIdP(t *testing.T, grace time.Duration) (*idp.Provider, *testsync.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	log := &testsync.Buffer{}
	p, err := idp.New(idp.Config{Issuer: "http://" + ln.Addr().String() + idp.DefaultIssuerPath, Grace: grace, Users: idptest.FastUsers(t),
		IDTokenTTL: 5 * time.Second, Log: log, SigningKey: key, Diag: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, log
}

// login writes a kubeconfig for mmosley the way `graceguard idp login` does.
func login(t *testing.T, p *idp.Provider, api *httptest.Server) string {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "api-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := idp.NewClient(context.Background(), p.Issuer(), idp.ClientOptions{Timeout: loginTimeout})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Login(context.Background(), netip.Addr{}, "mmosley", idp.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "config")
	if _, err := idp.WriteKubeconfig(idp.KubeconfigOptions{Path: kubeconfig, Issuer: p.Issuer(), Username: "mmosley",
		Tokens: toks, Server: api.URL, CAFile: ca}); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// raceKubectl starts two processes on one kubeconfig, lets both load it,
// then releases them at the same moment and returns what each reported.
func raceKubectl(t *testing.T, kubeconfig string) [2]string {
	t.Helper()
	var outs [2]string
	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	var procs [2]proc
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=1", "KUBECONFIG="+kubeconfig)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = proc{cmd, stdin, bufio.NewReader(stdout)}
	}
	for i, p := range procs {
		if line, err := p.out.ReadString('\n'); line != "ready\n" {
			t.Fatalf("process %d: %q %v", i, line, err)
		}
	}
	for _, p := range procs {
		if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range procs {
		line, _ := p.out.ReadString('\n')
		outs[i] = strings.TrimSpace(line)
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	return outs
}

// TestKubectlRace is the proof with the real client: two client-go
// processes sharing one kubeconfig refresh at the same moment. Without a
// grace period one of them fails, as OpenUnison's documentation says; with
// 5s both keep working and the IdP logs ExpiredRefreshTokenUsed from the
// one address both came from.
func TestKubectlRace(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Run("grace 0: one fails", func(t *testing.T) {
		p, log := startIdP(t, 0)
		outs := raceKubectl(t, login(t, p, apiServer(t, p)))
		t.Logf("processes: %q\nIdP log:\n%s", outs, log)
		ok, failed := 0, 0
		for _, o := range outs {
			switch {
			case strings.HasPrefix(o, "ok 200 "):
				ok++
			case strings.HasPrefix(o, "err") && strings.Contains(o, "invalid_grant"):
				failed++
			}
		}
		if ok != 1 || failed != 1 {
			t.Fatalf("want one success and one invalid_grant, got %q", outs)
		}
		if strings.Contains(log.String(), "[ExpiredRefreshTokenUsed]") {
			t.Error("grace 0 logged a grace reuse")
		}
		if !strings.Contains(log.String(), "Session does not exist from refresh_token") {
			t.Errorf("the refused refresh was not logged:\n%s", log)
		}
	})

	t.Run("grace 5s: both work", func(t *testing.T) {
		p, log := startIdP(t, 5*time.Second)
		kubeconfig := login(t, p, apiServer(t, p))
		for round := range 2 { // the second round starts from what the first persisted
			outs := raceKubectl(t, kubeconfig)
			t.Logf("round %d: %q", round, outs)
			for _, o := range outs {
				if !strings.HasPrefix(o, "ok 200 ") {
					t.Fatalf("round %d: %q", round, outs)
				}
			}
		}
		t.Logf("IdP log:\n%s", log)
		lines := regexp.MustCompile(`(?m)^.*\[ExpiredRefreshTokenUsed\].*$`).FindAllString(log.String(), -1)
		if len(lines) < 2 {
			t.Fatalf("want a grace reuse per round, log:\n%s", log)
		}
		for _, l := range lines {
			if !strings.Contains(l, " - uid=mmosley,ou=shadow,o=Tremolo - Expired token used within grace period [127.0.0.1] - [f") {
				t.Errorf("grace line not from mmosley at 127.0.0.1: %s", l)
			}
		}
		if s := p.Stats(); s.Rotations < 2 || s.Refused != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}
