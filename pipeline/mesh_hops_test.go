package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/parser"
)

// Istio with its access log on: the gateway's log and OpenUnison's own
// istio-proxy sidecar's (taken in with OpenUnison's logs, as a glob over
// the pods' container logs does). The sidecar's record of each request
// the gateway sent names the gateway pod; the replay through the gateway
// must still be named with its client, and the refreshes before it raise
// nothing.
func TestScanIstioReplayWithTheSidecarsLogBesideTheGateways(t *testing.T) {
	t.Parallel()
	const (
		url  = "https://k8sou.example.com/auth/idp/k8sIdp/token"
		dn   = "uid=alice,o=Tremolo"
		gw   = "10.1.80.3"
		pod  = "10.1.70.5"
		user = "203.0.113.9"
		bot  = "192.0.2.66"
	)
	line := func(ms int, client, upLocal, downLocal, cluster, route string) string {
		return fmt.Sprintf(`[2026-11-23T10:00:%02d.%03dZ] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 3 2 `+
			`"%s" "Go-http-client/2.0" "r%d" "k8sou.apps.example.com" "%s:8080" %s %s:41%03d %s %s:52%03d k8sou.apps.example.com %s`+"\n",
			ms/1000, ms%1000, client, ms, pod, cluster, upLocal, ms%1000, downLocal, client, ms%1000, route)
	}
	gateway := func(ms int, client string) string {
		return line(ms, client, gw, gw+":8443", "outbound|8080||openunison-orchestra.openunison.svc.cluster.local", "-")
	}
	sidecar := func(ms int) string {
		return line(ms+1, gw, "127.0.0.6", pod+":8080", "inbound|8080||", "default")
	}
	ouLine := func(ms int, thread, sid, tag string) string {
		return fmt.Sprintf("[2026-11-23 10:00:%02d,%03d][%s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [127.0.0.6] - [%s]\n%s",
			ms/1000, ms%1000, thread, url, dn, sid, tag)
	}
	var ou, gwLog, scLog strings.Builder
	for i := range 8 {
		ms := 100 + 700*i
		ou.WriteString(ouLine(ms, fmt.Sprintf("XNIO-1 task-%d", i%3+1), fmt.Sprintf("f%040d", i), ""))
		gwLog.WriteString(gateway(ms, user))
		scLog.WriteString(sidecar(ms))
	}
	ms := 100 + 700*8
	sid := fmt.Sprintf("f%040d", 99)
	ou.WriteString(ouLine(ms, "XNIO-1 task-4", sid, fmt.Sprintf(
		"[2026-11-23 10:00:%02d,%03d][XNIO-1 task-4] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [127.0.0.6] - [%s]\n",
		ms/1000, ms%1000, url, dn, sid)))
	gwLog.WriteString(gateway(ms, bot))
	scLog.WriteString(sidecar(ms))
	sum, alerts, err := scan(t,
		Input{Name: "openunison.log", R: strings.NewReader(ou.String())},
		Input{Name: "istio-ingressgateway.log", R: strings.NewReader(gwLog.String())},
		Input{Name: "openunison-istio-proxy.log", R: strings.NewReader(scLog.String())})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ParseErrors != 0 || sum.Events[parser.KindProxy] != 18 {
		t.Fatalf("%d parse errors, %d proxy records, want 0 and 18", sum.ParseErrors, sum.Events[parser.KindProxy])
	}
	if n := count(alerts, "reuse-ip-mismatch "+dn+" "+bot+" "+user+" "); n != 1 {
		t.Errorf("%d reuse-ip-mismatch alerts naming the bot after alice, want 1: %q", n, alerts)
	}
}
