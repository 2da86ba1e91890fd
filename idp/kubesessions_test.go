package idp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/respond"
)

// With its sessions in a Kubernetes API, the IdP honours OpenUnison's
// contract: deleting a user's OidcSession objects ends every session of
// that user, so the thief's next refresh and the victim's both fail with
// invalid_grant, logged as OpenUnison logs an unknown session; another
// user's session lives on.
func TestKubeSessionStoreEndsSessionsOnDeletion(t *testing.T) {
	t.Parallel()
	api := kubefake.New(t)
	store, err := NewKubeSessions(api.ClientConfig(), "openunison")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Sessions, c.Grace = store, 30*time.Second })
	jj, mm := h.p.cfg.Users.byName["jjackson"], h.p.cfg.Users.byName["mmosley"]
	first := h.login("jjackson", "start123", http.StatusOK)
	laptop := h.login("jjackson", "start123", http.StatusOK)
	other := h.login("mmosley", "start123", http.StatusOK)
	if got := api.OidcSessions("openunison"); len(got) != 3 {
		t.Fatalf("OidcSession objects %v, want one per login", got)
	}
	// The victim refreshes; the thief replays the old token inside grace.
	next := h.refresh(first.RefreshToken, http.StatusOK)
	h.clock.Advance(2 * time.Second)
	stolen := h.refresh(first.RefreshToken, http.StatusOK)

	sessions, err := respond.NewAPI(api.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := sessions.DeleteAll(context.Background(), "openunison", userDNHash(jj.DN))
	if err != nil || deleted.Count != 2 {
		t.Fatalf("deleted %v, %v: want jjackson's two sessions", deleted, err)
	}
	before := h.log.Len()
	h.refresh(stolen.RefreshToken, http.StatusBadRequest)
	h.refresh(next.RefreshToken, http.StatusBadRequest)
	h.refresh(laptop.RefreshToken, http.StatusBadRequest)
	h.refresh(other.RefreshToken, http.StatusOK)

	lines := strings.Split(strings.TrimSpace(h.log.String()[before:]), "\n")
	if len(lines) != 7 {
		t.Fatalf("log after the deletion:\n%s", strings.Join(lines, "\n"))
	}
	for i := 0; i < 6; i += 2 {
		if !strings.HasSuffix(lines[i], "WARN  OpenIDConnectIdP - Session does not exist from refresh_token") ||
			!strings.Contains(lines[i+1], "[AzFail] - k8sidp - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - uid=Anonymous,o=Tremolo - NONE") {
			t.Errorf("refusal %d not logged as OpenUnison logs it:\n%s\n%s", i/2, lines[i], lines[i+1])
		}
	}
	if !strings.Contains(lines[6], "[AzSuccess] - k8sidp - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - "+mm.DN) {
		t.Errorf("the other user's refresh: %s", lines[6])
	}
	if st := h.p.Stats(); st.Ended != 2 || st.Sessions != 1 {
		t.Errorf("stats %+v: want 2 sessions ended, 1 left", st)
	}
}

// A session store that cannot be reached fails the request as OpenUnison
// fails it, with a server error, rather than waving the token through.
func TestKubeSessionStoreOutage(t *testing.T) {
	t.Parallel()
	api := kubefake.New(t)
	store, err := NewKubeSessions(api.ClientConfig(), "openunison")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Sessions = store })
	tok := h.login("jjackson", "start123", http.StatusOK)
	api.FailOidc(1, http.StatusServiceUnavailable)
	h.refresh(tok.RefreshToken, http.StatusInternalServerError)
	h.refresh(tok.RefreshToken, http.StatusOK)
	api.FailOidc(1, http.StatusServiceUnavailable)
	h.login("jjackson", "start123", http.StatusInternalServerError)
	if st := h.p.Stats(); st.Sessions != 1 {
		t.Errorf("a login the store refused left a session: %+v", st)
	}
}
