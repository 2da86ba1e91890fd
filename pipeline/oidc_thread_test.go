package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// A bot replaying a stolen refresh token milliseconds after its victim's
// refresh, behind ingress-nginx (whole seconds: the two records cannot be
// told apart), on an OpenUnison that logs the OIDC session's id (the
// victim's, on the replay too) and served on the worker thread the refresh
// just freed. The refresh and the reuse's AzSuccess are then of one source,
// thread and session: the refresh was taken for the reuse's own line, never
// compared with it, and the replay raised nothing.
func TestScanBotReplayOnItsRefreshsThreadWithOIDCSessionIDs(t *testing.T) {
	t.Parallel()
	const (
		url  = "https://k8sou.example.com/auth/idp/k8sIdp/token"
		sid  = "f5c0b7b2e1a04c9e8d6f3a2b1c0d9e8f7a6b5c4d3"
		ctl  = "10.1.67.12"
		pod  = "10.1.80.10"
		dn   = "uid=alice,o=Tremolo"
		user = "203.0.113.9"
		bot  = "192.0.2.66"
	)
	azSuccess := func(clock, thread, dn, sid string) string {
		return fmt.Sprintf("[2026-11-23 %s][%s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [%s] - [%s]\n", clock, thread, url, dn, ctl, sid)
	}
	nginx := func(clock, client string) string {
		return fmt.Sprintf("%s - - [23/Nov/2026:%s +0000] \"POST /auth/idp/k8sIdp/token HTTP/2.0\" 200 1893 \"-\" \"Go-http-client/2.0\" 412 0.004 [openunison-orchestra-443] [] %s:8443 1893 0.004 200 r\n", client, clock, pod)
	}
	var ou, proxy strings.Builder
	// Other users' refreshes, one a second, teach which peer is the
	// ingress and which upstream is this log; then alice's refreshes.
	for s := range 8 {
		ou.WriteString(azSuccess(fmt.Sprintf("10:00:%02d,300", s), fmt.Sprintf("XNIO-1 task-%d", s%4+1), fmt.Sprintf("uid=u%d,o=Tremolo", s), fmt.Sprintf("f%040d", s)))
		proxy.WriteString(nginx(fmt.Sprintf("10:00:%02d", s), fmt.Sprintf("198.51.100.%d", 10+s)))
	}
	ou.WriteString(azSuccess("10:00:20,300", "XNIO-1 task-2", dn, sid))
	proxy.WriteString(nginx("10:00:20", user))
	// The victim's refresh, and the bot's replay of the token it rotated
	// 5 ms later on the same thread, in the same second.
	ou.WriteString(azSuccess("10:00:40,100", "XNIO-1 task-3", dn, sid))
	ou.WriteString(azSuccess("10:00:40,105", "XNIO-1 task-3", dn, sid))
	ou.WriteString(fmt.Sprintf("[2026-11-23 10:00:40,105][XNIO-1 task-3] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [%s] - [%s]\n", url, dn, ctl, sid))
	proxy.WriteString(nginx("10:00:40", user))
	proxy.WriteString(nginx("10:00:40", bot))
	sum, alerts, err := scan(t, Input{Name: "openunison.log", R: strings.NewReader(ou.String())}, Input{Name: "ingress.log", R: strings.NewReader(proxy.String())})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ParseErrors != 0 {
		t.Fatalf("%d parse errors", sum.ParseErrors)
	}
	if n := count(alerts, "reuse-ip-mismatch "+dn); n != 1 {
		t.Errorf("%d reuse-ip-mismatch alerts for alice, want 1: %q", n, alerts)
	}
}
