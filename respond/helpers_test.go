package respond

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/prom"
)

const (
	victim     = "uid=jjackson,ou=Users,o=Tremolo"
	bystander  = "uid=mmosley,ou=Users,o=Tremolo"
	breakGlass = "uid=breakglass-admin,ou=Users,o=Tremolo"
	ns         = "openunison"
	// tokenMarker is in every fake session's spec, where OpenUnison keeps
	// the encrypted tokens: it must never come out of this package.
	tokenMarker = "SECRET-TOKEN-MATERIAL"
)

// harness is a Responder on a fake API server holding a few users'
// sessions, delivering to a recorder.
type harness struct {
	t       *testing.T
	api     *kubefake.Server
	r       *Responder
	metrics *Metrics
	reg     *prom.Registry
	log     *testsync.Buffer
	stop    context.CancelFunc // ends Run's context, as a shutdown does

	mu        sync.Mutex
	delivered [][]alert.Alert
}

func newHarness(t *testing.T, opt Options) *harness {
	t.Helper()
	return newHarnessWith(t, opt, nil)
}

// newHarnessWith is newHarness with the Responder's Sessions made by
// sessions from the fake server and the API on it (nil: that API).
func newHarnessWith(t *testing.T, opt Options, sessions func(*kubefake.Server, *API) Sessions) *harness {
	t.Helper()
	h := &harness{t: t, api: kubefake.New(t), reg: prom.NewRegistry(), log: &testsync.Buffer{}}
	h.api.AddOidcSession(ns, "f1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", DNHash(victim), "kubernetes", tokenMarker)
	h.api.AddOidcSession(ns, "f2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", DNHash(victim), "kubernetes", tokenMarker)
	h.api.AddOidcSession(ns, "f3aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", DNHash(bystander), "kubernetes", tokenMarker)
	h.api.AddOidcSession(ns, "f4aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4", DNHash(breakGlass), "kubernetes", tokenMarker)
	h.api.AddOidcSession("elsewhere", "f5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5", DNHash(victim), "kubernetes", tokenMarker)
	api, err := NewAPI(h.api.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	h.metrics = NewMetrics(h.reg)
	opt.Metrics = h.metrics
	opt.Logger = slog.New(slog.NewJSONHandler(h.log, nil))
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	var use Sessions = api
	if sessions != nil {
		use = sessions(h.api, api)
	}
	if h.r, err = New(use, opt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go h.r.Run(ctx)
	t.Cleanup(func() {
		cancel()
		if err := h.r.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if s := h.log.String(); strings.Contains(s, tokenMarker) {
			t.Errorf("the log holds a session's token material:\n%s", s)
		}
	})
	return h
}

// send delivers a group through the Responder and returns what reached
// the sink.
func (h *harness) send(group ...alert.Alert) []alert.Alert {
	h.t.Helper()
	deliver := h.r.Deliver(func(_ context.Context, g []alert.Alert) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.delivered = append(h.delivered, g)
		return nil
	})
	if err := deliver(context.Background(), group); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.delivered[len(h.delivered)-1]
	for _, a := range out {
		if b, _ := a.MarshalJSON(); strings.Contains(string(b), tokenMarker) {
			h.t.Errorf("an alert holds a session's token material: %s", b)
		}
	}
	return out
}

// requests counts the API requests of a method whose path ends in suffix.
func (h *harness) requests(method, suffix string) int {
	n := 0
	for _, r := range h.api.OidcRequests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

var alertSeq atomic.Int64

// replay is an alert about a replay of user's token at severity sev.
func replay(user string, sev alert.Severity) alert.Alert {
	n := int(alertSeq.Add(1))
	return alert.Alert{
		ID: fmt.Sprintf("a%d", n), Time: time.Date(2026, 11, 23, 10, 3, 0, n*int(time.Millisecond), time.UTC),
		Rule: "reuse-ip-mismatch", Severity: sev, User: user, IP: "192.0.2.66", IdP: "k8sidp", Session: "f0",
	}
}

func ptr[T any](v T) *T { return &v }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsync.WaitFor(t, what, cond)
}
