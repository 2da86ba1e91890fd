package respond

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/redistest"
)

// Two watchers sharing one real Redis both see the replay (one reads the
// pod's log file, the other the API); exactly one ends the sessions, and
// the other's alert says so.
func TestTwoWatchersOnOneRedisRevokeOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, Options{Severity: alert.High})
	var responders []*Responder
	for _, owner := range []string{"watcher-a", "watcher-b"} {
		responders = append(responders, sharedResponder(t, h, srv, owner, Options{Severity: alert.High}))
	}
	a := replay(victim, alert.Critical)
	results := make([]*alert.Response, 2)
	var wg sync.WaitGroup
	for i, r := range responders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Deliver(func(_ context.Context, g []alert.Alert) error {
				results[i] = g[0].Response
				return nil
			})(context.Background(), []alert.Alert{a})
		}()
	}
	wg.Wait()
	ended, other := 0, 0
	for _, r := range results {
		switch {
		case r.Status == alert.ResponseEnded && r.Sessions == 2:
			ended++
		case r.Status == alert.ResponseHeldBack && r.HeldBack == "another watcher is ending them":
			other++
		default:
			t.Errorf("response %+v", r)
		}
	}
	if ended != 1 || other != 1 {
		t.Errorf("%d watchers ended the sessions and %d deferred, want 1 and 1", ended, other)
	}
	if n := h.requests(http.MethodDelete, "/oidc-sessions"); n != 1 {
		t.Errorf("%d deletecollection requests, want 1", n)
	}
}

// A revocation that failed ends nothing, so it gives its claim back: the
// same replay read again (a restart, another replica's watcher) tries
// again, where it was held back for the claim's 7 days as "another
// watcher is ending them" though no one was.
func TestFailedRevocationGivesItsClaimBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	h := newHarness(t, Options{Severity: alert.High})
	a := replay(victim, alert.Critical) // one line, read twice
	respond := func(owner string) *alert.Response {
		r := sharedResponder(t, h, srv, owner, Options{Severity: alert.High, Attempts: 1})
		var got *alert.Response
		r.Deliver(func(_ context.Context, g []alert.Alert) error {
			got = g[0].Response
			return nil
		})(context.Background(), []alert.Alert{a})
		return got
	}
	h.api.FailOidc(1, http.StatusServiceUnavailable)
	if r := respond("watcher-a"); r == nil || r.Status != alert.ResponseFailed {
		t.Fatalf("first response %+v, want failed", r)
	}
	if r := respond("watcher-b"); r == nil || r.Status != alert.ResponseEnded {
		t.Errorf("the replay read again: response %+v, want its sessions ended", r)
	}
}

// sharedResponder runs a responder with opt over h's API whose claims are
// owner's in srv's Redis, as one of several watchers sharing it; it is
// closed with the test.
func sharedResponder(t *testing.T, h *harness, srv *redistest.Server, owner string, opt Options) *Responder {
	t.Helper()
	ropt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewAPI(h.api.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	opt.Claims = correlate.NewRedis(redis.NewClient(ropt), correlate.RedisOptions{Owner: owner})
	opt.Logger = slog.New(slog.DiscardHandler)
	r, err := New(api, opt)
	if err != nil {
		t.Fatal(err)
	}
	go r.Run(context.Background())
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}
