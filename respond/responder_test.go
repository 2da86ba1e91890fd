package respond

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubefake"
)

// A critical replay ends exactly its user's sessions in OpenUnison's
// namespace, once, through the real paths: discovery, a metadata-only
// list, one deletecollection by label.
func TestCriticalReplayEndsThatUsersSessionsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.Critical})
	out := h.send(replay(victim, alert.Critical))
	res := out[0].Response
	if res == nil || res.Status != alert.ResponseEnded || res.Sessions != 2 || res.DryRun {
		t.Fatalf("response %+v: want ended, 2 sessions", res)
	}
	if !strings.Contains(res.Trigger, "critical") {
		t.Errorf("trigger %q does not say the severity gate decided", res.Trigger)
	}
	want := []string{"xf3aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3x", "xf4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4x"}
	if got := h.api.OidcSessions(ns); !slices.Equal(got, want) {
		t.Errorf("left in %s: %v, want the other users' %v", ns, got, want)
	}
	if got := h.api.OidcSessions("elsewhere"); len(got) != 1 {
		t.Errorf("another namespace's session was touched: %v", got)
	}
	// The same replay read again (a restart) and a second alert for the
	// same user end nothing more.
	again := h.send(replay(victim, alert.Critical))
	if r := again[0].Response; r == nil || r.Status != alert.ResponseHeldBack || !strings.Contains(r.HeldBack, "per-user") {
		t.Errorf("second revocation within the per-user window: %+v, want held back", r)
	}
	if n := h.requests(http.MethodDelete, "/oidc-sessions"); n != 1 {
		t.Errorf("%d deletecollection requests, want 1", n)
	}
	reqs := h.api.OidcRequests()
	if len(reqs) != 3 || reqs[0].Path != "/apis/openunison.tremolo.io" || reqs[1].Method != http.MethodGet || reqs[2].Method != http.MethodDelete {
		t.Fatalf("requests %+v: want discovery, list, deletecollection", reqs)
	}
	for _, r := range reqs[1:] {
		if r.Path != "/apis/openunison.tremolo.io/v2/namespaces/openunison/oidc-sessions" || r.Query != "labelSelector=tremolo.io%2Fuser-dn%3D"+DNHash(victim)+"&limit=500" {
			t.Errorf("request %s %s?%s: want the preferred version v2, the user's label, a page of 500", r.Method, r.Path, r.Query)
		}
	}
	// The deletecollection's answer names the sessions deleted: in full
	// it would bring their tokens into memory, and past the body's cap.
	for _, r := range reqs[1:] {
		if !strings.HasPrefix(r.Accept, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1") {
			t.Errorf("%s Accept %q: want metadata only", r.Method, r.Accept)
		}
	}
	if got := h.metrics.SessionsEnded.Value(); got != 2 {
		t.Errorf("sessions ended metric %v, want 2", got)
	}
	if got := h.metrics.Revocations.WithLabelValues("ended").Value(); got != 1 {
		t.Errorf("revocations{ended} %v, want 1", got)
	}
	if got := h.metrics.HeldBack.WithLabelValues("per_user").Value(); got != 1 {
		t.Errorf("held back{per_user} %v, want 1", got)
	}
	if !strings.Contains(h.log.String(), `"msg":"ended sessions"`) || !strings.Contains(h.log.String(), `"sessions":2`) {
		t.Errorf("no structured log line for the revocation:\n%s", h.log.String())
	}
}

func TestVersionFromDiscovery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High})
	h.api.SetOidcVersions("v1", "v1")
	if r := h.send(replay(victim, alert.High))[0].Response; r.Status != alert.ResponseEnded || r.Sessions != 2 {
		t.Fatalf("response %+v", r)
	}
	if n := h.requests(http.MethodDelete, "/v1/namespaces/openunison/oidc-sessions"); n != 1 {
		t.Errorf("the deletion did not use the only version served, v1: %+v", h.api.OidcRequests())
	}
}

func TestDryRunDeletesNothingAndSaysWhatItWould(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, DryRun: true})
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r == nil || r.Status != alert.ResponseDryRun || !r.DryRun || r.Sessions != 2 {
		t.Fatalf("response %+v: want a dry run that would end 2", r)
	}
	if got := len(h.api.OidcSessions(ns)); got != 4 {
		t.Errorf("%d sessions left, want all 4", got)
	}
	if n := h.requests(http.MethodDelete, "/oidc-sessions"); n != 0 {
		t.Errorf("a dry run sent %d deletes", n)
	}
	if !strings.Contains(h.log.String(), "would end sessions") {
		t.Errorf("the log does not say what the dry run would do:\n%s", h.log.String())
	}
	if got := r.Text(); got != "sessions ended: 2 (dry run)" {
		t.Errorf("text %q", got)
	}
}

// The gate: never below high; a rule's revoke: overrides it either way.
func TestGate(t *testing.T) {
	t.Parallel()
	if _, err := New(nil, Options{Severity: alert.Medium}); err == nil {
		t.Error("a medium gate was accepted")
	}
	cases := []struct {
		name string
		gate alert.Severity
		sev  alert.Severity
		rule *bool
		want bool
	}{
		{"critical at a high gate", alert.High, alert.Critical, nil, true},
		{"high at a high gate", alert.High, alert.High, nil, true},
		{"medium at a high gate", alert.High, alert.Medium, nil, false},
		{"high at a critical gate", alert.Critical, alert.High, nil, false},
		{"a rule asks for a low alert", alert.Critical, alert.Low, ptr(true), true},
		{"a rule asks with the gate off", 0, alert.Info, ptr(true), true},
		{"a rule opts out of a critical", alert.High, alert.Critical, ptr(false), false},
		{"gate off, no rule", 0, alert.Critical, nil, false},
	}
	for _, c := range cases {
		a := replay(victim, c.sev)
		a.RevokeRule = c.rule
		got := trigger(a, c.gate)
		if (got != "") != c.want {
			t.Errorf("%s: trigger %q, want revoke=%v", c.name, got, c.want)
		}
		if c.rule != nil && *c.rule && !strings.Contains(got, "rule reuse-ip-mismatch") {
			t.Errorf("%s: trigger %q does not name the rule that asked", c.name, got)
		}
	}
}

func TestNoResponseBelowTheGate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.Critical})
	out := h.send(replay(victim, alert.High))
	if out[0].Response != nil {
		t.Errorf("response %+v below the gate, want none", out[0].Response)
	}
	if len(h.api.OidcRequests()) != 0 {
		t.Error("the API was called for an alert below the gate")
	}
}

func TestExcludedUsersKeepTheirSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Exclude: []string{"UID=breakglass-*,ou=users,o=tremolo", bystander}})
	for _, user := range []string{breakGlass, bystander} {
		r := h.send(replay(user, alert.Critical))[0].Response
		if r == nil || r.Status != alert.ResponseExcluded {
			t.Errorf("%s: response %+v, want excluded", user, r)
		}
	}
	if len(h.api.OidcRequests()) != 0 || len(h.api.OidcSessions(ns)) != 4 {
		t.Errorf("an excluded user's sessions were touched")
	}
	if _, err := NewExcluder([]string{"uid=[x"}); err == nil {
		t.Error("a malformed pattern was accepted")
	}
}

func TestOverallRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Overall: Limit{N: 1, Per: time.Hour}})
	first := h.send(replay(victim, alert.Critical))[0].Response
	second := h.send(replay(bystander, alert.Critical))[0].Response
	if first.Status != alert.ResponseEnded || second.Status != alert.ResponseHeldBack || !strings.Contains(second.HeldBack, "overall limit 1 per 1h0m0s") {
		t.Fatalf("responses %+v, %+v: want the second held back by the overall limit", first, second)
	}
	if got := h.metrics.HeldBack.WithLabelValues("overall").Value(); got != 1 {
		t.Errorf("held back{overall} %v, want 1", got)
	}
	if got := len(h.api.OidcSessions(ns)); got != 2 {
		t.Errorf("%d sessions left, want the bystander's and the break-glass's", got)
	}
}

// Two alerts in one group for one user (two rules on one replay) end the
// sessions once and both carry the outcome.
func TestOneGroupOneRevocationPerUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High})
	a, b := replay(victim, alert.Critical), replay(victim, alert.High)
	b.Time, b.Rule = a.Time, "reuse-new-ip"
	out := h.send(a, b)
	for _, x := range out {
		if x.Response == nil || x.Response.Status != alert.ResponseEnded || x.Response.Sessions != 2 {
			t.Errorf("%s: response %+v", x.Rule, x.Response)
		}
	}
	if n := h.requests(http.MethodDelete, "/oidc-sessions"); n != 1 {
		t.Errorf("%d deletes, want 1", n)
	}
}

func TestAPIOutageIsRetriedAndReported(t *testing.T) {
	t.Parallel()
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Severity: alert.High})
		h.api.FailOidc(2, http.StatusServiceUnavailable)
		r := h.send(replay(victim, alert.Critical))[0].Response
		if r.Status != alert.ResponseEnded || r.Attempts != 3 || r.Sessions != 2 {
			t.Fatalf("response %+v: want ended on the third attempt", r)
		}
		if got := h.metrics.Failures.Value(); got != 2 {
			t.Errorf("failures %v, want 2", got)
		}
		if !strings.Contains(h.log.String(), "retrying") {
			t.Errorf("the retries are not logged:\n%s", h.log.String())
		}
	})
	t.Run("gives up", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Severity: alert.High, Attempts: 3})
		h.api.FailOidc(100, http.StatusServiceUnavailable)
		r := h.send(replay(victim, alert.Critical))[0].Response
		if r.Status != alert.ResponseFailed || r.Attempts != 3 || !strings.Contains(r.Error, "503") {
			t.Fatalf("response %+v: want failed after 3 attempts, naming the 503", r)
		}
		if got := h.metrics.Revocations.WithLabelValues("failed").Value(); got != 1 {
			t.Errorf("revocations{failed} %v", got)
		}
		if !strings.HasPrefix(r.Text(), "sessions not ended: ") {
			t.Errorf("text %q", r.Text())
		}
	})
	t.Run("refused is not retried", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Severity: alert.High})
		h.api.FailOidc(1, http.StatusForbidden)
		r := h.send(replay(victim, alert.Critical))[0].Response
		if r.Status != alert.ResponseFailed || r.Attempts != 1 || !strings.Contains(r.Error, "403") {
			t.Fatalf("response %+v: want failed at once on 403", r)
		}
	})
	t.Run("crd missing", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, Options{Severity: alert.High})
		h.api.SetOidcVersions("")
		r := h.send(replay(victim, alert.Critical))[0].Response
		if r.Status != alert.ResponseFailed || !strings.Contains(r.Error, "CRDs") {
			t.Fatalf("response %+v: want a failure saying the session store is not installed", r)
		}
	})
}

// An API server refusing with 429 says when to ask again: the retry waits
// that long, not the backoff's first milliseconds, which would be refused
// in turn and use up the revocation's attempts. The alert still leaves
// after --revoke-wait, pending; the outcome follows.
func TestTooManyRequestsWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Wait: 50 * time.Millisecond})
	h.api.ThrottleOidc(1, 1)
	start := time.Now()
	if r := h.send(replay(victim, alert.Critical))[0].Response; r.Status != alert.ResponsePending {
		t.Errorf("response %+v: want pending while the API asks to wait", r)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("the alert waited %s, longer than --revoke-wait", took)
	}
	waitFor(t, "the revocation to end the sessions", func() bool { return h.metrics.Revocations.WithLabelValues("ended").Value() == 1 })
	reqs := h.api.OidcRequests()
	if reqs[0].Status != http.StatusTooManyRequests || len(reqs) != 4 {
		t.Fatalf("requests %+v: want one 429, then discovery, list and delete", reqs)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < time.Second {
		t.Errorf("retried %s after the 429, before its Retry-After of 1s", gap)
	}
	if log := h.log.String(); !strings.Contains(log, `"retry_in":1000000000`) || !strings.Contains(log, `"attempts":2`) {
		t.Errorf("the log does not say the retry waited as asked, and passed on the second attempt:\n%s", log)
	}
}

// A refusal is the API server's final word, not an outage: the first
// alert and every later one say the revocation failed, and why, where they
// said "pending" (containment under way) for an API taken for down. Slack
// shows Text, the other sinks the JSON; neither, nor the log, holds the
// token that was refused.
func TestRefusalFailsEveryAlertAndSaysWhy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		refuse func(*kubefake.Server)
		why    []string // in the error, the text and the log
	}{
		{"401: the token is not accepted", func(s *kubefake.Server) { s.SetToken("rotated-elsewhere") },
			[]string{"401 Unauthorized", "credentials"}},
		{"403: the Role lacks deletecollection", func(s *kubefake.Server) { s.DenyOidc("deletecollection") },
			[]string{"403 Forbidden", `cannot deletecollection resource \"oidc-sessions\"`, "deploy/components/revoke"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Severity: alert.High})
			token := h.api.Token()
			tt.refuse(h.api)
			for _, user := range []string{victim, bystander, victim} {
				a := h.send(replay(user, alert.Critical))[0]
				r := a.Response
				if r.Status != alert.ResponseFailed || r.Attempts != 1 {
					t.Fatalf("%s: response %+v: want failed at once, not pending nor retried", user, r)
				}
				b, err := a.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				text := r.Text()
				if !strings.Contains(string(b), `"status":"failed"`) || !strings.HasPrefix(text, "sessions not ended: ") {
					t.Errorf("%s: alert JSON %s, text %q: want them to say it failed", user, b, text)
				}
				for _, why := range tt.why {
					if why := strings.ReplaceAll(why, `\"`, `"`); !strings.Contains(text, why) || !strings.Contains(r.Error, why) {
						t.Errorf("%s: text %q does not say why (%q)", user, text, why)
					}
				}
				for what, s := range map[string]string{"alert": string(b), "text": text} {
					if strings.Contains(s, token) {
						t.Errorf("the %s holds the API token: %s", what, s)
					}
				}
			}
			log := h.log.String()
			if strings.Contains(log, "retrying") || strings.Count(log, "could not end sessions") != 3 {
				t.Errorf("the log does not say each revocation failed, unretried:\n%s", log)
			}
			for _, why := range tt.why {
				if !strings.Contains(log, why) {
					t.Errorf("the log does not say why (%q):\n%s", why, log)
				}
			}
			if strings.Contains(log, token) {
				t.Errorf("the log holds the API token:\n%s", log)
			}
			if got := h.metrics.Revocations.WithLabelValues("failed").Value(); got != 3 {
				t.Errorf("revocations{failed} %v, want 3", got)
			}
			if got := len(h.api.OidcSessions(ns)); got != 4 {
				t.Errorf("%d sessions left, want all 4", got)
			}
		})
	}
}

// The API server answers a deletecollection once the sessions are
// deleted; an answer naming them that cannot be read (past the body's
// cap: a server answering in full, or ignoring the limit) does not undo
// that. The revocation ended the sessions and says so, with the count of
// those listed just before, and is not tried again; the log says where
// the count came from. The unread answer's continue token is lost with it,
// so the deletion asks once more, afresh, and that answer, the empty
// list that says none is left, is read: the cap is where two sessions'
// metadata do not fit and an empty list does.
func TestAnswerOverTheCapAfterTheDelete(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{Severity: alert.High}, func(s *kubefake.Server, api *API) Sessions {
		capped, err := NewAPI(s.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := capped.Version(context.Background()); err != nil { // discovered under the usual cap
			t.Fatal(err)
		}
		capped.maxBody = 256
		return deleteCapped{api, capped}
	})
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r.Status != alert.ResponseEnded || r.Sessions != 2 || r.Attempts != 1 || r.Text() != "sessions ended: 2" {
		t.Fatalf("response %+v (%q): want ended, the 2 sessions listed, at the first attempt", r, r.Text())
	}
	if left := h.api.OidcSessions(ns); slices.Contains(left, "xf1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1x") {
		t.Errorf("the victim's sessions are left: %v", left)
	}
	if n := h.requests(http.MethodDelete, "/oidc-sessions"); n != 2 {
		t.Errorf("%d deletecollection requests, want 2: the unread one and one that finds none left", n)
	}
	if got := h.metrics.Failures.Value(); got != 0 {
		t.Errorf("failures %v, want none", got)
	}
	if got := h.metrics.SessionsEnded.Value(); got != 2 {
		t.Errorf("sessions ended metric %v, want 2", got)
	}
	log := h.log.String()
	if !strings.Contains(log, "answer naming the deleted sessions was not read") || !strings.Contains(log, "256 bytes") || !strings.Contains(log, `"msg":"ended sessions"`) {
		t.Errorf("the log does not say the sessions were ended, counted from the listing, and why:\n%s", log)
	}
}

// deleteCapped lists through one API and deletes through another on the
// same server whose answers are read under a lower cap.
type deleteCapped struct {
	*API
	capped *API
}

func (d deleteCapped) DeleteAll(ctx context.Context, namespace, dnHash string) (Names, error) {
	return d.capped.DeleteAll(ctx, namespace, dnHash)
}

// An outage longer than the wait never holds the alert back: it leaves
// "pending", and the outcome follows in the log and the metrics.
func TestDeliveryNeverWaitsLongerThanTheBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Wait: 20 * time.Millisecond, Backoff: 200 * time.Millisecond})
	h.api.FailOidc(2, http.StatusServiceUnavailable)
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r.Status != alert.ResponsePending {
		t.Fatalf("response %+v: want pending", r)
	}
	waitFor(t, "the revocation to finish", func() bool { return h.metrics.Revocations.WithLabelValues("ended").Value() == 1 })
	if len(h.api.OidcSessions(ns)) != 2 {
		t.Error("the pending revocation did not end the sessions")
	}
}

func TestQueueFullHoldsBack(t *testing.T) {
	t.Parallel()
	api := blockingSessions{release: make(chan struct{})}
	r, err := New(api, Options{Severity: alert.High, Queue: 1, Wait: time.Millisecond, Overall: Limit{N: 100, Per: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	go r.Run(ctx)
	defer r.Close(ctx)
	defer close(api.release)
	var got []*alert.Response
	deliver := r.Deliver(func(_ context.Context, g []alert.Alert) error { got = append(got, g[0].Response); return nil })
	for i := range 4 {
		deliver(ctx, []alert.Alert{replay("uid=u"+string(rune('a'+i))+",o=Tremolo", alert.Critical)})
	}
	last := got[len(got)-1]
	if last.Status != alert.ResponseHeldBack || !strings.Contains(last.HeldBack, "queue full") {
		t.Errorf("last response %+v: want held back, queue full", last)
	}
}

type blockingSessions struct{ release chan struct{} }

func (b blockingSessions) List(ctx context.Context, _, _ string) (Names, error) {
	<-b.release
	return Names{}, nil
}

func (b blockingSessions) DeleteAll(context.Context, string, string) (Names, error) {
	return Names{}, nil
}

// An event's alerts below the gate carry the outcome the one above it
// asked for, whatever their order in the group.
func TestAnEventsAlertsShareTheOutcome(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.Critical})
	low, crit := replay(victim, alert.Medium), replay(victim, alert.Critical)
	other := replay(bystander, alert.High)
	out := h.send(low, crit, other)
	for _, a := range out[:2] {
		if a.Response == nil || a.Response.Status != alert.ResponseEnded {
			t.Errorf("%s alert: response %+v, want ended", a.Severity, a.Response)
		}
	}
	if out[2].Response != nil {
		t.Errorf("another user's alert below the gate: %+v", out[2].Response)
	}
}

// Two users' revocations stuck in an outage: the group leaves after one
// wait, not one per user.
func TestOneWaitPerGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Wait: 50 * time.Millisecond, Backoff: 5 * time.Second, Attempts: 2})
	h.api.FailOidc(100, http.StatusServiceUnavailable)
	start := time.Now()
	out := h.send(replay(victim, alert.Critical), replay(bystander, alert.Critical))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("delivery took %s, want about one wait of 50ms", took)
	}
	for _, a := range out {
		if a.Response == nil || a.Response.Status != alert.ResponsePending {
			t.Errorf("%s: %+v, want pending", a.User, a.Response)
		}
	}
}

// Once the API is seen failing, the next alerts do not wait for it; once
// a revocation passes again, they do.
func TestNoWaitWhileTheAPIFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Wait: 5 * time.Second, Attempts: 1, Overall: Limit{N: 100, Per: time.Minute}})
	h.api.FailOidc(100, http.StatusServiceUnavailable)
	if r := h.send(replay(victim, alert.Critical))[0].Response; r.Status != alert.ResponseFailed {
		t.Fatalf("first: %+v, want failed", r)
	}
	start := time.Now()
	r := h.send(replay(bystander, alert.Critical))[0].Response
	// Not waited for: it leaves pending, or failed when the worker's one
	// attempt against the failing API beat the zero wait.
	if took := time.Since(start); took > 2*time.Second || (r.Status != alert.ResponsePending && r.Status != alert.ResponseFailed) {
		t.Errorf("second alert: %+v after %s, want it not waited for (pending, or already failed)", r, took)
	}
	waitFor(t, "the second revocation", func() bool { return h.metrics.Revocations.WithLabelValues("failed").Value() == 2 })
	h.api.FailOidc(0, 0)
	h.send(replay(breakGlass, alert.Critical)) // leaves at once; its revocation passes
	waitFor(t, "a revocation to pass", func() bool { return h.metrics.Revocations.WithLabelValues("ended").Value() == 1 })
	if r := h.send(replay("uid=someone,o=Tremolo", alert.Critical))[0].Response; r.Status != alert.ResponseEnded {
		t.Errorf("after recovery: %+v, want ended (waited for)", r)
	}
}

// A revocation that failed ended nothing, so it must not use up the
// user's limit: the next replay, once the API answers again, ends the
// sessions rather than being held back "per user".
func TestFailedRevocationDoesNotUseTheUsersLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Attempts: 2})
	h.api.FailOidc(2, 503)
	h.send(replay(victim, alert.Critical))
	waitFor(t, "the first revocation to fail", func() bool {
		return strings.Contains(h.log.String(), "could not end sessions")
	})
	second := h.send(replay(victim, alert.Critical))
	// After a failure alerts leave "pending" at once; the revocation goes on.
	if r := second[0].Response; r == nil || r.Status == alert.ResponseHeldBack {
		t.Fatalf("second replay's response %+v: held back by a revocation that ended nothing", r)
	}
	waitFor(t, "the victim's sessions to be ended", func() bool {
		return !slices.Contains(h.api.OidcSessions(ns), "xf1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1x")
	})
}

// A pattern is matched against the DN as written: its backslashes are the
// DN's escapes, not the pattern's, and '*' goes past a '/' in an RDN.
func TestExclusionPatternsMatchDNsAsWritten(t *testing.T) {
	t.Parallel()
	e, err := NewExcluder([]string{`CN=Larsen\, *,ou=Users,o=T`, "uid=breakglass-*,o=T"})
	if err != nil {
		t.Fatal(err)
	}
	for _, dn := range []string{`cn=Larsen\, Priya,ou=Users,o=T`, "uid=breakglass-eu/1,o=T"} {
		if !e.Excluded(dn) {
			t.Errorf("%s is not excluded", dn)
		}
	}
	for _, dn := range []string{"cn=Larsen, Priya,ou=Users,o=T", "uid=jjackson,o=T"} {
		if e.Excluded(dn) {
			t.Errorf("%s is excluded", dn)
		}
	}
}
