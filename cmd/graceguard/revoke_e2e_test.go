package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/testsync"
)

// End to end with the bundled IdP keeping its sessions in the fake API
// server: a replay inside grace → an alert → watch --revoke ends the
// user's sessions → the thief's next refresh and the victim's are refused
// and logged as OpenUnison logs them; another user is untouched.
func TestRevokeEndToEndWithTheBundledIdP(t *testing.T) {
	t.Parallel()
	api, kubeconfig := kubeServer(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "openunison.log")
	issuer, _, _ := startIdpServe(t, func(o *idpServeOptions) {
		o.logFile, o.grace, o.trustedProxies = logFile, 30*time.Second, []string{"127.0.0.1"}
		o.store = idpStoreFlags{kind: "kube", namespace: "openunison", kubeconfig: kubeconfig}
	})
	appendFile(t, logFile, "")
	w := startWatch(t, "--format", "json", "--state-dir", "", "--settle", "10ms", "--revoke", "high", "--kubeconfig", kubeconfig, logFile)

	ctx := context.Background()
	client, err := idp.NewClient(ctx, issuer, idp.ClientOptions{Source: idp.SourceXFF})
	if err != nil {
		t.Fatal(err)
	}
	home, thief := netip.MustParseAddr("198.51.100.23"), netip.MustParseAddr("192.0.2.66")
	victim, err := client.Login(ctx, home, "jjackson", "start123")
	if err != nil {
		t.Fatal(err)
	}
	other, err := client.Login(ctx, home, "mmosley", "start123")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(api.OidcSessions("openunison")); n != 2 {
		t.Fatalf("%d OidcSession objects, want one per login", n)
	}
	stolen := victim.RefreshToken
	if victim, err = client.Refresh(ctx, home, victim.RefreshToken); err != nil {
		t.Fatal(err)
	}
	loot, err := client.Refresh(ctx, thief, stolen)
	if err != nil {
		t.Fatalf("the replay inside grace: %v", err)
	}

	testsync.WaitFor(t, "the alert", func() bool { return strings.Contains(w.out.String(), `"response"`) })
	a := w.alerts(t)[0]
	if a.Response == nil || a.Response.Status != "ended" || a.Response.Sessions != 1 {
		t.Fatalf("alert %s response %+v, want 1 session ended\n%s", a.Rule, a.Response, w.errOut.String())
	}
	if got := api.OidcSessions("openunison"); len(got) != 1 {
		t.Errorf("sessions left %v, want mmosley's", got)
	}
	for _, who := range []struct {
		name string
		from netip.Addr
		tok  string
	}{{"thief", thief, loot.RefreshToken}, {"victim", home, victim.RefreshToken}} {
		if _, err := client.Refresh(ctx, who.from, who.tok); !idp.IsInvalidGrant(err) {
			t.Errorf("the %s's refresh after revocation: %v, want invalid_grant", who.name, err)
		}
	}
	if _, err := client.Refresh(ctx, home, other.RefreshToken); err != nil {
		t.Errorf("another user's refresh: %v", err)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if strings.Count(log, "WARN  OpenIDConnectIdP - Session does not exist from refresh_token") < 2 {
		t.Errorf("the refusals are not logged as OpenUnison logs them:\n%s", log)
	}
}
