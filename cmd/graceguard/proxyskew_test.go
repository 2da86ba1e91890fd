package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An Istio gateway on a node whose clock runs 20 ms ahead of OpenUnison's:
// with the default slack (5 ms) no record joins its request, and the
// replay through the gateway is unattributed; --proxy-clock-skew (or its
// config key) lets them meet, and the replay is named (helper-74).
func TestProxyClockSkewFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ou := func(at, task, sid string) string {
		return fmt.Sprintf("[2026-11-23 09:00:%s][XNIO-1 %s] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=bob,ou=shadow,o=Tremolo - NONE [10.1.67.12] - [%s]\n", at, task, sid)
	}
	reuse := "[2026-11-23 09:00:06,000][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=bob,ou=shadow,o=Tremolo - Expired token used within grace period [10.1.67.12] - [f2]\n"
	istio := func(start, client, agent string) string {
		return fmt.Sprintf(`[2026-11-23T09:00:%sZ] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - via_upstream - "-" 430 2246 10 9 "%s" "%s" "0326324dfb695ffb" "k8sou.example.com" "10.1.80.10:8080" outbound|8080||openunison-orchestra.openunison.svc.cluster.local 10.1.67.12:45272 10.1.67.12:8443 %s:51873 k8sou.example.com -`+"\n", start, client, agent, client)
	}
	ouLog, gwLog := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "gateway.log")
	// The gateway's clock is 20 ms ahead: each record starts 20 ms after
	// OpenUnison logged the request.
	writeTestFile(t, ouLog, ou("01,000", "task-1", "f1")+ou("06,000", "task-2", "f2")+reuse+ou("09,000", "task-3", "f3"))
	writeTestFile(t, gwLog, istio("01.020", "203.0.113.9", "kubectl/v1.31.0")+istio("06.020", "192.0.2.66", "curl/8.5.0")+istio("09.020", "203.0.113.9", "kubectl/v1.31.0"))
	cfg := filepath.Join(dir, "graceguard.yaml")
	writeTestFile(t, cfg, "proxy-clock-skew: 30ms\n")
	for _, tt := range []struct {
		name  string
		args  []string
		alert bool
	}{
		{"default slack", nil, false},
		{"flag", []string{"--proxy-clock-skew", "30ms"}, true},
		{"config file", []string{"--config", cfg}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, append(append([]string{"scan", "--format", "json"}, tt.args...), ouLog, gwLog)...)
			alerted := strings.Contains(stdout, `"rule":"reuse-ip-mismatch"`) && strings.Contains(stdout, `"ip":"192.0.2.66"`)
			if code != exitOK || alerted != tt.alert {
				t.Errorf("exit %d, replay named %v, want %v\nstdout %s\nstderr %s", code, alerted, tt.alert, stdout, stderr)
			}
		})
	}
	// timeline joins as scan does: the replay's entry names the client.
	for _, tt := range []struct {
		args   []string
		client bool
	}{{nil, false}, {[]string{"--proxy-clock-skew", "30ms"}, true}} {
		stdout, stderr, code := run(t, nil, append(append([]string{"timeline", "--format", "json"}, tt.args...), "uid=bob,ou=shadow,o=Tremolo", ouLog, gwLog)...)
		if named := strings.Contains(stdout, `"192.0.2.66"`); code != exitOK || named != tt.client {
			t.Errorf("timeline %v: exit %d, client named %v, want %v\nstdout %s\nstderr %s", tt.args, code, named, tt.client, stdout, stderr)
		}
	}
	for _, bad := range []string{"0s", "-5ms", "2s"} {
		if _, stderr, code := run(t, nil, "scan", "--proxy-clock-skew", bad, ouLog); code != exitUsage || !strings.HasPrefix(stderr, "graceguard: --proxy-clock-skew") {
			t.Errorf("--proxy-clock-skew %s: exit %d, stderr %q; want a usage error naming it", bad, code, stderr)
		}
	}
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
