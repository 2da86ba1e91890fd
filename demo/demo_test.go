package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/idptest"
)

// The story, played fast: the race raises nothing, the replay inside the
// window raises the address and geo alerts, the late replay is refused,
// and the narration shows the IdP's own grace-reuse line.
func TestDemoStory(t *testing.T) {
	t.Parallel()
	db, err := geo.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Out: &out, Geo: db, Users: idptest.FastUsers(t), Grace: 2 * time.Second, TokenTTL: 5 * time.Second, Pause: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("narration:\n%s", out.String())
		}
	}()
	if sum.RaceAlerts != 0 || !sum.LateRefused || sum.GraceReuses != 3 {
		t.Errorf("race alerts %d, late refused %v, grace reuses %d", sum.RaceAlerts, sum.LateRefused, sum.GraceReuses)
	}
	// The last chapter: the replay's critical alert ended jjackson's one
	// session, and every alert about it says so; the thief is refused.
	if sum.SessionsEnded != 1 || !sum.ThiefRefused {
		t.Errorf("sessions ended %d, thief refused %v", sum.SessionsEnded, sum.ThiefRefused)
	}
	for _, a := range sum.Alerts {
		if a.User == dn("jjackson") && (a.Response == nil || a.Response.Status != "ended") {
			t.Errorf("alert %s response %+v, want ended", a.Rule, a.Response)
		}
	}
	// Behind the ingress: OpenUnison's log alone cannot tell, the
	// controller's log names the thief.
	if sum.ProxyAlerts == 0 || sum.OpenUnisonAlone > alert.Info {
		t.Errorf("behind the ingress: %d alerts naming the thief, OpenUnison's log alone %s", sum.ProxyAlerts, sum.OpenUnisonAlone)
	}
	rules := map[string]bool{}
	for _, a := range sum.Alerts {
		rules[a.Rule] = true
	}
	for _, want := range []string{"reuse-ip-mismatch", "reuse-new-ip", "reuse-geo-jump", "reuse-new-asn"} {
		if !rules[want] {
			t.Errorf("the replay did not raise %s; alerts: %v", want, rules)
		}
	}
	text := out.String()
	for _, want := range []string{
		"[ExpiredRefreshTokenUsed]", "grace period [192.0.2.66]",
		"ALERT", "London, GB → Sydney, AU", "Session does not exist from refresh_token", "Summary",
		"→ sessions ended: 1", "severity critical ≥ critical", "deleted jjackson's OidcSession objects",
		"nginx │ 192.0.2.99 - - [", "grace period [127.0.0.3]",
		"192.0.2.99 via ingress-nginx 127.0.0.3, curl/8.5.0 ← 198.51.100.40",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the narration lacks %q", want)
		}
	}
	if strings.Contains(text, "\x1b[") {
		t.Error("colour without Color")
	}
	// The story fits a 160-column terminal: no line wraps mid-word, and
	// the temporary log's path is not repeated on every alert.
	for _, line := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(line); n > DefaultWidth {
			t.Errorf("a line of %d columns: %s", n, line)
		}
	}
	if n := strings.Count(text, sum.LogPath); n > 0 {
		t.Errorf("the log's temporary path is printed %d times", n)
	}
}

// The closing hint is a command to copy: its glob quoted, as the README
// says to quote them (graceguard matches them, and picks up new files).
// Unquoted, the shell expands it to the files there now.
func TestSummaryHintQuotesTheGlob(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	d := &teller{out: &out, start: time.Now(), width: DefaultWidth}
	d.summary(&Summary{})
	if want := "`graceguard watch '/var/log/openunison/*.log'`"; !strings.Contains(out.String(), want) {
		t.Errorf("summary:\n%s\nwant %s", out.String(), want)
	}
}
