package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
)

const (
	proxyNS        = "ingress-nginx"
	proxyLabel     = "app.kubernetes.io/component"
	proxyContainer = "controller"
	ouPodIP        = "10.1.70.5"
)

// nginxLine is ingress-nginx's default upstreaminfo record of a token
// request that ended at end and went to upstream.
func nginxLine(client string, end time.Time, agent, upstream string, n int) string {
	return fmt.Sprintf(`%s - - [%s] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 1278 "-" "%s" 331 0.004 [openunison-orchestra-443] [] %s 1278 0.004 200 %032x`,
		client, end.Format("02/Jan/2006:15:04:05 -0700"), agent, upstream, n)
}

// ouToken is OpenUnison's line for a token request of user through peer.
func ouToken(at time.Time, user, thread, peer, sid string, reuse bool) []string {
	const url = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	dn := "uid=" + user + ",ou=shadow,o=Tremolo"
	ts := at.Format("2006-01-02 15:04:05,000")
	lines := []string{fmt.Sprintf("[%s][XNIO-1 %s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [%s] - [%s]", ts, thread, url, dn, peer, sid)}
	if reuse {
		lines = append(lines, fmt.Sprintf("[%s][XNIO-1 %s] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [%s] - [%s]", ts, thread, url, dn, peer, sid))
	}
	return lines
}

// startKubeProxyWatch serves OpenUnison's pod and two ingress-nginx
// controller pods, each with its IP, and starts watch over them with
// --kube-proxy-* and --pod-ip; more, when given, adds to the API before.
func startKubeProxyWatch(t *testing.T, more func(*kubefake.Server)) (*kubefake.Server, *watchRun) {
	t.Helper()
	srv := kubefake.New(t)
	srv.AddPod(kubeNS, kubePod, map[string]string{"app": "openunison-orchestra"}, kubeContainer)
	srv.SetPodIP(kubeNS, kubePod, ouPodIP)
	for i, name := range []string{"ingress-nginx-controller-a", "ingress-nginx-controller-b"} {
		srv.AddPod(proxyNS, name, map[string]string{proxyLabel: "controller"}, proxyContainer)
		srv.SetPodIP(proxyNS, name, fmt.Sprintf("10.1.67.%d", 12+44*i))
	}
	if more != nil {
		more(srv)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(srv.Kubeconfig(kubeNS)), 0o600); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, "--format", "json", "--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:0",
		"--settle", "500ms", "--kubeconfig", kubeconfig,
		"--kube-namespace", kubeNS, "--kube-selector", "app=openunison-orchestra", "--kube-container", kubeContainer,
		"--kube-proxy-namespace", proxyNS, "--kube-proxy-selector", proxyLabel+"=controller", "--kube-proxy-container", proxyContainer,
		"--pod-ip", ouPodIP)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", w.errOut.String())
		}
	})
	return srv, w
}

// watch --kube-proxy-* follows the ingress controller pods through the API
// beside OpenUnison's pod (and not the pods its selector leaves out):
// alice's refresh through one controller and the thief's reuse through the
// other are joined to the controllers' records, and the alert names the
// thief; with --pod-ip, a record of a request to another OpenUnison pod is
// not even read as a proxy record. The OpenUnison pod's IP is its upstream
// from the start; which controller log is which logged peer is learned from
// the traffic before.
func TestWatchKubeProxies(t *testing.T) {
	t.Parallel()
	srv, w := startKubeProxyWatch(t, func(srv *kubefake.Server) {
		srv.AddPod(proxyNS, "unrelated", map[string]string{proxyLabel: "admission-webhook"}, proxyContainer)
	})
	// The controllers are up before traffic comes, and say so in their own
	// log: until a proxy log has shown itself, the join does not hold
	// OpenUnison's events for it.
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "the pods listed", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 100_000_000, time.UTC)
	for _, ctl := range []string{"ingress-nginx-controller-a", "ingress-nginx-controller-b"} {
		srv.Log(proxyNS, ctl, proxyContainer, t0.Add(-time.Minute), "I1123 09:59:00.100000       7 controller.go:214] \"Backend successfully reloaded\"")
	}
	testsync.WaitFor(t, "the controllers' first lines", func() bool {
		_, m := get(t, "http://"+addr+"/metrics")
		return strings.Contains(m, `graceguard_lines_read_total{source="`+proxyNS+`/ingress-nginx-controller-a/`+proxyContainer+`"}`) &&
			strings.Contains(m, `graceguard_lines_read_total{source="`+proxyNS+`/ingress-nginx-controller-b/`+proxyContainer+`"}`)
	})

	t1 := t0.Add(1500 * time.Millisecond)
	up := ouPodIP + ":8443"
	// Other users' refreshes through both controllers first: the traffic
	// from which the join learns which controller log is which peer.
	for i := range 8 {
		at := t0.Add(-10*time.Second + time.Duration(i)*time.Second)
		ctl, peer := "ingress-nginx-controller-a", "10.1.67.12"
		if i%2 == 1 {
			ctl, peer = "ingress-nginx-controller-b", "10.1.67.56"
		}
		srv.Log(kubeNS, kubePod, kubeContainer, at, ouToken(at, fmt.Sprintf("user%d", i), "task-3", peer, fmt.Sprintf("f%040d", 100+i), false)...)
		srv.Log(proxyNS, ctl, proxyContainer, at.Add(4*time.Millisecond),
			nginxLine(fmt.Sprintf("198.51.100.%d", 100+i), at.Add(4*time.Millisecond), "Go-http-client/2.0", up, 100+i))
	}
	srv.Log(kubeNS, kubePod, kubeContainer, t0, ouToken(t0, "alice", "task-1", "10.1.67.12", "f0000000000000000000000000000000000000001", false)...)
	srv.Log(proxyNS, "ingress-nginx-controller-a", proxyContainer, t0.Add(4*time.Millisecond),
		nginxLine("198.51.100.23", t0.Add(4*time.Millisecond), "Go-http-client/2.0", up, 1),
		nginxLine("203.0.113.50", t0.Add(5*time.Millisecond), "Go-http-client/2.0", "10.1.70.6:8443", 2)) // another OpenUnison pod's
	srv.Log(kubeNS, kubePod, kubeContainer, t1, ouToken(t1, "alice", "task-2", "10.1.67.56", "f0000000000000000000000000000000000000002", true)...)
	srv.Log(proxyNS, "ingress-nginx-controller-b", proxyContainer, t1.Add(4*time.Millisecond),
		nginxLine("192.0.2.66", t1.Add(4*time.Millisecond), "curl/8.5.0", up, 3))
	srv.Log(proxyNS, "unrelated", proxyContainer, t0, nginxLine("203.0.113.77", t0, "curl/8.5.0", up, 4))

	testsync.WaitFor(t, "the alert naming the thief", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	for _, a := range w.alerts(t) {
		if a.Rule != "reuse-ip-mismatch" {
			continue
		}
		if a.IP != "192.0.2.66" || a.PrevIP != "198.51.100.23" || a.Peer != "10.1.67.56" || a.Attribution != "joined" ||
			!strings.Contains(a.Via, "ingress-nginx") || a.Agent != "curl/8.5.0" {
			t.Errorf("alert ip %s prev %s peer %s attribution %s via %q agent %q; want the thief 192.0.2.66 after alice's 198.51.100.23, peer 10.1.67.56, joined via ingress-nginx, curl",
				a.IP, a.PrevIP, a.Peer, a.Attribution, a.Via, a.Agent)
		}
	}
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`graceguard_events_total{kind="proxy"} 10`, // the other pod's record is blanked
		`graceguard_lines_read_total{source="` + proxyNS + `/ingress-nginx-controller-a/` + proxyContainer + `"} 7`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "unrelated") {
		t.Error("a pod the proxy selector does not pick was read")
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestSentTo(t *testing.T) {
	t.Parallel()
	keep := sentTo(mustAddr(t, "10.1.70.5"))
	keep6 := sentTo(mustAddr(t, "fd00::5"))
	for _, c := range []struct {
		line string
		f    func([]byte) bool
		want bool
	}{
		{`... [openunison-orchestra-443] [] 10.1.70.5:8443 1278 0.004 200 abc`, keep, true},
		{`... [] 10.1.70.6:8443 1278`, keep, false},
		{`... [] 110.1.70.5:8443 1278`, keep, false},
		{`... [] 10.1.70.55:8443 1278`, keep, false},
		{`... [] 110.1.70.5:8443, 10.1.70.5:8443 1278`, keep, true},
		{`{"upstream_host":"10.1.70.5:8080"}`, keep, true},
		{`10.1.70.5 - - [23/Nov/2026:10:00:00 +0000] "POST / HTTP/1.1" ... 10.1.70.6:8443`, keep, false},
		{`I1123 10:00:00.000000 7 controller.go:214] reload`, keep, false},
		{`"UPSTREAM_HOST" [fd00::5]:8080`, keep6, true},
		{`[afd00::5]:8080`, keep6, false},
	} {
		if got := c.f([]byte(c.line)); got != c.want {
			t.Errorf("%q: kept %v, want %v", c.line, got, c.want)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Proxy pod flags that do not fit are usage errors, found before anything
// is read.
func TestKubeProxyUsageErrors(t *testing.T) {
	t.Parallel()
	_, kubeconfig := kubeServer(t)
	k := []string{"--kubeconfig", kubeconfig}
	for _, args := range [][]string{
		{"watch", "--kube-proxy-selector", "app=x", "x.log"},
		{"watch", "--kube-proxy-namespace", proxyNS, "x.log"},
		{"watch", "--kube-proxy-container", "controller", "x.log"},
		{"watch", "--pod-ip", "10.1.70.5", "x.log"},
		append([]string{"watch", "--kube-proxy-namespace", proxyNS, "--kube-proxy-selector", "app=x", "--pod-ip", "nope", "x.log"}, k...),
		append([]string{"watch", "--kube-proxy-namespace", proxyNS, "--kube-proxy-selector", "=bad=", "x.log"}, k...),
		append([]string{"watch", "--kube-namespace", kubeNS, "--kube-selector", "app=y", "--kube-proxy-namespace", kubeNS, "--kube-proxy-selector", "app=x"}, k...),
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := run(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (usage)\n%s", code, stderr)
			}
		})
	}
}

// In Kubernetes mode the OpenUnison pod's IP is its upstream, known from the
// pod, and proxy logs are expected from the start: the first request of the
// day is joined though no controller has logged a line yet and no traffic
// has taught the join anything.
func TestWatchKubeProxiesFromTheFirstRequest(t *testing.T) {
	t.Parallel()
	srv, w := startKubeProxyWatch(t, nil)
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "the pods listed", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 100_000_000, time.UTC)
	t1 := t0.Add(1500 * time.Millisecond)
	up := ouPodIP + ":8443"
	// OpenUnison's lines come first, as they would with a controller that
	// flushes its access log a moment later.
	srv.Log(kubeNS, kubePod, kubeContainer, t0, ouToken(t0, "alice", "task-1", "10.1.67.12", "f0000000000000000000000000000000000000001", false)...)
	srv.Log(kubeNS, kubePod, kubeContainer, t1, ouToken(t1, "alice", "task-2", "10.1.67.56", "f0000000000000000000000000000000000000002", true)...)
	srv.Log(proxyNS, "ingress-nginx-controller-a", proxyContainer, t0.Add(4*time.Millisecond),
		nginxLine("198.51.100.23", t0.Add(4*time.Millisecond), "Go-http-client/2.0", up, 1))
	srv.Log(proxyNS, "ingress-nginx-controller-b", proxyContainer, t1.Add(4*time.Millisecond),
		nginxLine("192.0.2.66", t1.Add(4*time.Millisecond), "curl/8.5.0", up, 3))

	testsync.WaitFor(t, "the alert naming the thief", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	for _, a := range w.alerts(t) {
		if a.Rule == "reuse-ip-mismatch" && (a.IP != "192.0.2.66" || a.PrevIP != "198.51.100.23" || a.Attribution != "joined") {
			t.Errorf("alert ip %s prev %s attribution %s; want the thief 192.0.2.66 after alice's 198.51.100.23, joined", a.IP, a.PrevIP, a.Attribution)
		}
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// In Kubernetes mode the controller pods' IPs are their logs' peers from
// the start (not learned from the traffic): a CI job's pod calling
// OpenUnison's Service directly in the same second as alice's refresh
// through a controller, before any traffic could teach which controller
// log is which peer, stays direct and leaves alice her record, so the
// thief's replay is compared with alice's address, not a controller's.
func TestWatchKubeProxiesPeersArePodIPs(t *testing.T) {
	t.Parallel()
	srv, w := startKubeProxyWatch(t, nil)
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "the pods listed", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 50_000_000, time.UTC)
	t1, t2 := t0.Add(550*time.Millisecond), t0.Add(1050*time.Millisecond)
	up := ouPodIP + ":8443"
	// OpenUnison's lines first; they wait for the controllers' records
	// (less than the 2 s wait of log time passes in them).
	srv.Log(kubeNS, kubePod, kubeContainer, t0, ouToken(t0, "ci-bot", "task-1", "10.244.5.31", "f0000000000000000000000000000000000000001", false)...)
	srv.Log(kubeNS, kubePod, kubeContainer, t1, ouToken(t1, "alice", "task-2", "10.1.67.12", "f0000000000000000000000000000000000000002", false)...)
	srv.Log(kubeNS, kubePod, kubeContainer, t2, ouToken(t2, "alice", "task-3", "10.1.67.56", "f0000000000000000000000000000000000000003", true)...)
	testsync.WaitFor(t, "OpenUnison's lines read", func() bool {
		_, m := get(t, "http://"+addr+"/metrics")
		return strings.Contains(m, `graceguard_attribution_waiting{what="events"} 4`)
	})
	srv.Log(proxyNS, "ingress-nginx-controller-a", proxyContainer, t1.Add(4*time.Millisecond),
		nginxLine("198.51.100.23", t1.Add(4*time.Millisecond), "Go-http-client/2.0", up, 1))
	srv.Log(proxyNS, "ingress-nginx-controller-b", proxyContainer, t2.Add(4*time.Millisecond),
		nginxLine("192.0.2.66", t2.Add(4*time.Millisecond), "curl/8.5.0", up, 2))
	// Traffic goes on through both controllers: their logs' clocks pass
	// the wait.
	for i, pod := range []string{"ingress-nginx-controller-a", "ingress-nginx-controller-b"} {
		at := t2.Add(3 * time.Second)
		srv.Log(proxyNS, pod, proxyContainer, at, strings.Replace(nginxLine("198.51.100.40", at, "Go-http-client/2.0", up, 10+i), "POST /auth/idp/k8sIdp/token", "GET /healthz", 1))
	}

	testsync.WaitFor(t, "the alert naming the thief", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	for _, a := range w.alerts(t) {
		if a.Rule == "reuse-ip-mismatch" && (a.IP != "192.0.2.66" || a.PrevIP != "198.51.100.23") {
			t.Errorf("alert ip %s prev %s; want the thief 192.0.2.66 after alice's 198.51.100.23 (the pod's request must not take alice's record)", a.IP, a.PrevIP)
		}
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}
