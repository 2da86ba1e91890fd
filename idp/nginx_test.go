package idp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/nginxtest"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
)

// The addresses of the story behind a real nginx: the controller connects
// to the IdP from nginxFrom, kubectl runs on 127.0.0.1, the thief on
// 127.0.0.2.
var (
	nginxFrom = netip.MustParseAddr("127.0.0.4")
	thiefAddr = netip.MustParseAddr("127.0.0.2")
)

// behindNginx is the bundled IdP behind a real nginx configured as
// ingress-nginx; the issuer is nginx's URL.
type behindNginx struct {
	p      *idp.Provider
	nginx  *nginxtest.Server
	idpLog *testsync.Buffer
}

func startBehindNginx(t *testing.T, grace time.Duration) *behindNginx {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ng := nginxtest.Start(t, nginxtest.Options{Upstream: ln.Addr().String(), From: nginxFrom.String()})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b := &behindNginx{nginx: ng, idpLog: &testsync.Buffer{}}
	b.p, err = idp.New(idp.Config{Issuer: "http://" + ng.Addr + idp.DefaultIssuerPath, Grace: grace, Users: idptest.FastUsers(t),
		IDTokenTTL: 5 * time.Second, Log: b.idpLog, SigningKey: key, Diag: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return b
}

// curlReplay presents a refresh token from addr with curl's user agent, as
// someone who copied a kubeconfig would.
func curlReplay(t *testing.T, tokenURL string, from netip.Addr, refreshToken string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 5 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {idp.DefaultClientID}}
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "curl/8.5.0")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// refreshTokenOf reads the refresh token client-go persisted.
func refreshTokenOf(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		if ai.AuthProvider != nil {
			return ai.AuthProvider.Config["refresh-token"]
		}
	}
	t.Fatal("no auth-provider in the kubeconfig")
	return ""
}

// runNginxStory plays client-go races through nginx, then the thief
// replays the token the last race rotated out, from 127.0.0.2 with curl's
// agent, inside the grace period but in a later second: nginx's
// $time_local has whole seconds, and a thief is not as quick as k9s.
func runNginxStory(t *testing.T, rounds int) *behindNginx {
	t.Helper()
	b := startBehindNginx(t, 5*time.Second)
	kubeconfig := login(t, b.p, apiServer(t, b.p))
	var stolen string
	for round := range rounds {
		stolen = refreshTokenOf(t, kubeconfig)
		outs := raceKubectl(t, kubeconfig)
		for _, o := range outs {
			if !strings.HasPrefix(o, "ok 200 ") {
				t.Fatalf("round %d through nginx: %q\nnginx:\n%s", round, outs, b.nginx.Log())
			}
		}
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 100*time.Millisecond)))
	if code := curlReplay(t, b.p.TokenURL(), thiefAddr, stolen); code != http.StatusOK {
		t.Fatalf("the replay inside the grace period: HTTP %d", code)
	}
	testsync.WaitFor(t, "nginx's line for the replay", func() bool { return strings.Contains(b.nginx.Log(), `"curl/8.5.0"`) })
	return b
}

// TestKubectlRaceThroughNginx: behind a real nginx with ingress-nginx's
// log format, OpenUnison's log (the bundled IdP's) names only the
// controller, for the races and the thief alike; nginx's log names
// kubectl's 127.0.0.1 with Go's agent and the thief's 127.0.0.2 with curl's.
func TestKubectlRaceThroughNginx(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts nginx and processes")
	}
	b := runNginxStory(t, 2)

	reuses := 0
	for _, ev := range parseAll(t, []byte(b.idpLog.String())) {
		if ev.IP.IsValid() && ev.IP != nginxFrom {
			t.Errorf("the IdP logged %s, want nginx's %s: %s", ev.IP, nginxFrom, ev.Raw)
		}
		if ev.Kind == parser.KindGraceReuse {
			reuses++
		}
	}
	// client-go retries a refresh whose tokens it could not persist (the
	// other process held the kubeconfig's lock), so a race may reuse more
	// than once.
	if reuses < 3 {
		t.Errorf("%d grace reuses in the IdP's log, want 3 or more (two races, one replay):\n%s", reuses, b.idpLog)
	}

	checkProxyRecords(t, b.nginx.Log())
	byClient := map[string][]string{}
	for _, s := range strings.Split(strings.TrimSpace(b.nginx.Log()), "\n") {
		l, err := nginxtest.ParseLine(s)
		if err != nil {
			t.Fatal(err)
		}
		if l.Path() == idp.DefaultIssuerPath+"/token" && strings.HasPrefix(l.Request, "POST ") {
			byClient[l.RemoteAddr] = append(byClient[l.RemoteAddr], l.UserAgent)
		}
	}
	if ua := byClient["127.0.0.2"]; len(ua) != 1 || ua[0] != "curl/8.5.0" {
		t.Errorf("nginx's token requests from 127.0.0.2: %q, want the one replay with curl's agent", ua)
	}
	// the login, then two races of two refreshes each (or more, retried)
	ua := byClient["127.0.0.1"]
	if len(ua) < 5 {
		t.Errorf("nginx's token requests from 127.0.0.1: %q, want the login and four client-go refreshes or more", ua)
	}
	for _, a := range ua {
		if !strings.HasPrefix(a, "Go-http-client/") {
			t.Errorf("a token request from 127.0.0.1 with agent %q, want Go's", a)
		}
	}
}

// scanLogs runs graceguard's scan, as `graceguard scan` does, over the
// given logs with the built-in rules, and returns every alert.
func scanLogs(t *testing.T, logs map[string]string) []alert.Alert {
	t.Helper()
	var inputs []pipeline.Input
	for name, text := range logs {
		inputs = append(inputs, pipeline.Input{Name: name, R: strings.NewReader(text)})
	}
	var mu sync.Mutex
	var got []alert.Alert
	_, err := pipeline.Scan(context.Background(), inputs, pipeline.ScanOptions{Rules: rules.Builtin(),
		Deliver: func(_ context.Context, group []alert.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, group...)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestNginxReplayNamed is issue 11's proof with a real nginx: OpenUnison's
// log alone names the controller for everyone and cannot tell the thief
// from kubectl (nothing above info); with nginx's log as well, kubectl's
// races stay quiet and the thief's replay is alerted naming 127.0.0.2, via
// nginx, with curl's agent.
func TestNginxReplayNamed(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts nginx and processes")
	}
	b := runNginxStory(t, 1)
	idpLog, ngxLog := b.idpLog.String(), b.nginx.Log()

	for _, a := range scanLogs(t, map[string]string{"openunison.log": idpLog}) {
		if a.Severity > alert.Info && !hygieneHint(a) {
			t.Errorf("OpenUnison's log alone: %s %s for %s: it names only the controller and cannot tell", a.Severity, a.Rule, a.IP)
		}
	}

	alerts := scanLogs(t, map[string]string{"openunison.log": idpLog, "ingress-nginx.log": ngxLog})
	named := 0
	for _, a := range alerts {
		t.Logf("%s %s ip %s prev %s via %q agent %q attribution %s", a.Severity, a.Rule, a.IP, a.PrevIP, a.Via, a.Agent, a.Attribution)
		switch {
		case a.Severity <= alert.Info || hygieneHint(a):
		case a.IP == thiefAddr.String():
			named++
			if a.PrevIP != "127.0.0.1" || a.Agent != "curl/8.5.0" || a.Attribution != "joined" || !strings.Contains(a.Via, "nginx") {
				t.Errorf("the replay's alert: prev %s, agent %q, attribution %q, via %q; want 127.0.0.1, curl/8.5.0, joined, via nginx",
					a.PrevIP, a.Agent, a.Attribution, a.Via)
			}
		default:
			t.Errorf("%s %s for %s (prev %s): kubectl's races must stay quiet", a.Severity, a.Rule, a.IP, a.PrevIP)
		}
	}
	if named == 0 {
		t.Errorf("no alert names the thief's %s", thiefAddr)
	}
}

// hygieneHint says a is reuse-burst, the hint that tools share one
// kubeconfig: client-go retries a race's refresh with the same token while
// the other process holds the kubeconfig's lock, and on a loaded machine
// one race's retries and the replay reach its five reuses. It is right to
// say so, and not what TestNginxReplayNamed is about.
func hygieneHint(a alert.Alert) bool { return a.Rule == "reuse-burst" }

// TestProxyReadsXForwardedForAsNginx sends the same X-Forwarded-For
// headers through a real nginx configured as ingress-nginx (realip,
// recursive, loopback trusted) and through the stand-in, and holds both to
// the table the stand-in is written from: the client each logs as
// $remote_addr, which is the address graceguard then judges.
func TestProxyReadsXForwardedForAsNginx(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(upstream.Close)
	ng := nginxtest.Start(t, nginxtest.Options{Upstream: strings.TrimPrefix(upstream.URL, "http://")})
	standinLog := &testsync.Buffer{}
	px, err := idp.NewProxy(idp.ProxyConfig{Upstream: upstream.URL, Log: standinLog, Diag: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- px.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	// lastClient sends one request with hdrs to addr and returns the
	// $remote_addr of the line it added to log().
	lastClient := func(addr string, log func() string, hdrs []string) string {
		t.Helper()
		before := strings.Count(log(), "\n")
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+idp.DefaultIssuerPath+"/token", nil)
		if hdrs != nil {
			req.Header["X-Forwarded-For"] = hdrs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		testsync.WaitFor(t, "the request's access-log line", func() bool { return strings.Count(log(), "\n") > before })
		lines := strings.Split(strings.TrimSpace(log()), "\n")
		l, err := nginxtest.ParseLine(lines[len(lines)-1])
		if err != nil {
			t.Fatal(err)
		}
		return l.RemoteAddr
	}
	for _, tc := range idp.XFFCasesForTest() {
		got := lastClient(ng.Addr, ng.Log, tc.Hdrs)
		// nginx keeps an IPv4-mapped address as written; the table has
		// the IPv4 address the stand-in logs for it.
		if a, err := netip.ParseAddr(got); err == nil {
			got = a.Unmap().String()
		}
		if got != tc.Want {
			t.Errorf("%s: nginx took %s from X-Forwarded-For %q, the table says %s", tc.Name, got, tc.Hdrs, tc.Want)
		}
		if got := lastClient(ln.Addr().String(), standinLog.String, tc.Hdrs); got != tc.Want {
			t.Errorf("%s: the stand-in took %s from X-Forwarded-For %q, nginx %s", tc.Name, got, tc.Hdrs, tc.Want)
		}
	}
}
