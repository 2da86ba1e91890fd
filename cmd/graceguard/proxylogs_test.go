package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// --proxy-logs follows an ingress's log beside OpenUnison's and takes it
// for a proxy's from its first line, empty or not: a refresh and its replay
// read while the controller's log is still empty wait for its records, and
// the alert names the two real clients, not the controller twice.
func TestWatchProxyLogsNamedByFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ou, px := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress", "controller.log")
	if err := os.MkdirAll(filepath.Dir(px), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ou, px} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := startWatch(t, "--format", "json", "--state-dir", "", "--listen", "127.0.0.1:0", "--proxy-logs", filepath.Join(dir, "ingress", "*.log"), ou)
	base := "http://" + waitForAddr(t, w)
	const url = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	dn := "uid=alice,ou=shadow,o=Tremolo"
	appendFile(t, ou,
		fmt.Sprintf("[2026-11-23 10:00:00,100][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [10.1.67.12] - [f%040d]\n", url, dn, 1)+
			fmt.Sprintf("[2026-11-23 10:00:01,500][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [10.1.67.12] - [f%040d]\n", url, dn, 2)+
			fmt.Sprintf("[2026-11-23 10:00:01,500][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [10.1.67.12] - [f%040d]\n", url, dn, 2)+
			"[2026-11-23 10:00:04,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/auth - uid=bob,ou=shadow,o=Tremolo - NONE [10.1.67.12] - [s3]\n")
	// The login two seconds on is read: the refresh and the replay before
	// it went on already, unless they wait for the controller's records.
	testsync.WaitFor(t, "OpenUnison's lines read", func() bool {
		_, metrics := get(t, base+"/metrics")
		return strings.Contains(metrics, `graceguard_events_total{kind="login"} 1`)
	})
	nginx := func(at, client string) string {
		return fmt.Sprintf("%s - - [23/Nov/2026:%s +0000] \"POST /auth/idp/k8sIdp/token HTTP/2.0\" 200 1893 \"-\" \"Go-http-client/2.0\" 412 0.015 [openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.014 200 r\n", client, at)
	}
	appendFile(t, px, nginx("10:00:00", "203.0.113.9")+nginx("10:00:01", "192.0.2.66")+nginx("10:00:05", "198.51.100.7"))
	testsync.WaitFor(t, "the replay's alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") > 0 })
	for _, a := range w.alerts(t) {
		if a.Rule == "reuse-ip-mismatch" && (a.IP != "192.0.2.66" || a.PrevIP != "203.0.113.9") {
			t.Errorf("reuse-ip-mismatch from %s after %s, want 192.0.2.66 after the real client 203.0.113.9", a.IP, a.PrevIP)
		}
	}
}

func TestWatchProxyLogsUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"watch", "--proxy-logs", "-", "x.log"},
		{"watch", "--proxy-logs", "", "x.log"},
		{"watch", "--proxy-logs", "ingress-[.log", "x.log"},
		// The proxies' logs alone: no OpenUnison log to join them to.
		{"watch", "--proxy-logs", "ingress.log"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := run(t, nil, args...)
			if code != 2 || !strings.Contains(stderr, "graceguard") {
				t.Errorf("exit %d, want 2 (usage)\n%s", code, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("a usage error of more than one line:\n%s", stderr)
			}
		})
	}
}
