package respond

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubeclient"
	"github.com/graceguard/graceguard/internal/kubefake"
)

// manySessions is more of one user's sessions than one answer may name:
// their metadata alone, a real object's, is past maxBody/pagesScale, the
// cap of the API that lists them (25,000 past maxBody took a second of CPU
// to serve and read; the pages and the cap scale alike).
const manySessions = 2_500

// pagesScale divides maxBody and pageSize in the test of many sessions.
const pagesScale = 10

// addSessions stores n sessions of user, named as OpenUnison names them
// (x<42 characters>x), and returns their names, sorted.
func addSessions(s *kubefake.Server, user string, n int) []string {
	names := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("f%041d", i)
		s.AddOidcSession(ns, id, DNHash(user), "kubernetes", tokenMarker)
		names[i] = "x" + id + "x"
	}
	return names
}

// outcomeWait is the delivery's wait in tests of the outcome, not of the
// wait: long enough for a thousand sessions under -race on a busy machine.
const outcomeWait = time.Minute

// pagedAPI is an API on s whose pages name size sessions.
func pagedAPI(t *testing.T, s *kubefake.Server, size int64) *API {
	t.Helper()
	api, err := NewAPI(s.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	api.pageSize = size
	return api
}

// pages is the continue tokens of the list (GET) or deletecollection
// (DELETE) requests made, "" for a first page, each checked to ask for a
// page of size, metadata only, and to have been answered under the cap.
func pages(t *testing.T, s *kubefake.Server, method string, size int) []string {
	t.Helper()
	var out []string
	for _, r := range s.OidcRequests() {
		if r.Method != method || !strings.HasSuffix(r.Path, "/oidc-sessions") {
			continue
		}
		q, err := url.ParseQuery(r.Query)
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("limit") != fmt.Sprint(size) || !strings.HasPrefix(r.Accept, "application/json;as=PartialObjectMetadataList;") {
			t.Errorf("%s ?%s (Accept %s): want a page of %d, metadata only", r.Method, r.Query, r.Accept, size)
		}
		if r.Bytes > maxBody {
			t.Errorf("%s ?%s: an answer of %d bytes, over the cap", r.Method, r.Query, r.Bytes)
		}
		out = append(out, q.Get("continue"))
	}
	return out
}

// A user with very many sessions is listed and ended whole, in pages of
// metadata each under the cap; every session is named, once.
func TestManySessionsAreListedAndEndedInPages(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	want := addSessions(s, victim, manySessions)
	s.AddOidcSession(ns, "other", DNHash(bystander), "kubernetes", tokenMarker)
	const size = pageSize / pagesScale
	api := pagedAPI(t, s, size)
	api.maxBody = maxBody / pagesScale
	ctx := context.Background()
	listed, err := api.List(ctx, ns, DNHash(victim))
	if err != nil || listed.Count != manySessions || !slices.Equal(listed.Names, want) {
		t.Fatalf("listed %d sessions, %d named, %v: want all %d", listed.Count, len(listed.Names), err, manySessions)
	}
	deleted, err := api.DeleteAll(ctx, ns, DNHash(victim))
	if err != nil || deleted.Count != manySessions || !slices.Equal(deleted.Names, want) {
		t.Fatalf("deleted %d sessions, %d named, %v: want all %d", deleted.Count, len(deleted.Names), err, manySessions)
	}
	if left := s.OidcSessions(ns); !slices.Equal(left, []string{"xotherx"}) {
		t.Errorf("%d sessions left, want only the bystander's", len(left))
	}
	// The last full page is followed by the bystander's key: one more
	// page, empty, says there is no more.
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if n := len(pages(t, s, method, size)); n != manySessions/size+1 {
			t.Errorf("%d %s pages, want %d", n, method, manySessions/size+1)
		}
	}
	// Each page under the API's cap, all of them past it: one answer
	// could not have named them all.
	var total int64
	for _, r := range s.OidcRequests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/oidc-sessions") {
			total += r.Bytes
			if r.Bytes > api.maxBody {
				t.Errorf("GET ?%s: an answer of %d bytes, over the API's cap %d", r.Query, r.Bytes, api.maxBody)
			}
		}
	}
	if total <= api.maxBody {
		t.Errorf("the sessions' metadata is %d bytes, within the API's cap %d: the test needs more of them", total, api.maxBody)
	}
}

// The alert about a user with more sessions than one answer holds says
// every one ended.
func TestReplayEndsEveryOneOfManySessions(t *testing.T) {
	t.Parallel()
	const many = 1_000
	h := newHarnessWith(t, Options{Severity: alert.High, Wait: outcomeWait}, func(s *kubefake.Server, _ *API) Sessions {
		api := pagedAPI(t, s, 100)
		api.maxBody = 128 << 10 // a page of 100 fits; the 1,002 sessions in one answer do not
		return api
	})
	addSessions(h.api, victim, many)
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r.Status != alert.ResponseEnded || r.Sessions != many+2 || r.Attempts != 1 {
		t.Fatalf("response %+v: want ended, %d sessions, at once", r, many+2)
	}
	if got := h.metrics.SessionsEnded.Value(); got != many+2 {
		t.Errorf("sessions ended metric %v, want %d", got, many+2)
	}
	if left := h.api.OidcSessions(ns); len(left) != 2 {
		t.Errorf("%d sessions left, want the other users' 2", len(left))
	}
	if n := len(pages(t, h.api, http.MethodDelete, 100)); n != 11 {
		t.Errorf("%d deletecollection pages, want 11", n)
	}
}

// A list whose continue token expires (an etcd compaction between two
// pages) starts again from the first page, once, and counts each session
// once; a second expiry is an error that says so, which the Responder
// retries.
func TestListStartsAgainWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	want := addSessions(s, victim, 7)
	api := pagedAPI(t, s, 2)
	ctx := context.Background()
	s.ExpireOidcContinues(1)
	got, err := api.List(ctx, ns, DNHash(victim))
	if err != nil || got.Count != 7 || !slices.Equal(got.Names, want) {
		t.Fatalf("listed %+v, %v: want the 7, each once", got, err)
	}
	// The first page, the second refused, then the four from the start.
	if cont := pages(t, s, http.MethodGet, 2); len(cont) != 6 || cont[0] != "" || cont[1] == "" || cont[2] != "" {
		t.Errorf("list requests' tokens %q: want a first page, a refused second, then all four again", cont)
	}
	s.ExpireOidcContinues(2)
	_, err = api.List(ctx, ns, DNHash(victim))
	if !kubeclient.IsStatus(err, http.StatusGone) || !strings.Contains(err.Error(), "expired twice") {
		t.Fatalf("list: %v: want a 410 saying the token expired twice", err)
	}
	if v, _ := classify(err); v != retryLater {
		t.Errorf("an expired list is %v, want retried later", v)
	}
}

// The Responder retries a list that expired twice; the retry lists and
// ends every session.
func TestTwiceExpiredListIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{Severity: alert.High, Wait: outcomeWait}, func(s *kubefake.Server, _ *API) Sessions { return pagedAPI(t, s, 2) })
	addSessions(h.api, victim, 5)
	h.api.ExpireOidcContinues(2)
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r.Status != alert.ResponseEnded || r.Sessions != 7 || r.Attempts != 2 {
		t.Fatalf("response %+v: want ended, 7 sessions, at the second attempt", r)
	}
}

// A deletion whose continue token expires starts afresh: that deletes
// what is left, each session once, and the count is exact.
func TestDeletionStartsAfreshWhenItsTokenExpires(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	want := addSessions(s, victim, 7)
	api := pagedAPI(t, s, 2)
	s.ExpireOidcContinues(3)
	got, err := api.DeleteAll(context.Background(), ns, DNHash(victim))
	if err != nil || got.Count != 7 || !slices.Equal(got.Names, want) {
		t.Fatalf("deleted %+v, %v: want the 7, each once", got, err)
	}
	if left := s.OidcSessions(ns); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	// Each refused token is followed by a fresh page: 4 pages, 3 refusals.
	cont := pages(t, s, http.MethodDelete, 2)
	if len(cont) != 7 {
		t.Errorf("deletecollection tokens %q: want 4 pages and 3 refusals", cont)
	}
	for i := 1; i < len(cont); i += 2 {
		if cont[i] == "" || cont[i+1] != "" {
			t.Errorf("deletecollection tokens %q: want each token refused, then a fresh page", cont)
			break
		}
	}
}

// One user's sessions cannot take graceguard's memory: past the cap they
// are counted, not named, listed or deleted alike.
func TestNamesPastTheCapAreCountedNotKept(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	want := addSessions(s, victim, 7)
	api := pagedAPI(t, s, 2)
	api.maxNames = 3
	ctx := context.Background()
	listed, err := api.List(ctx, ns, DNHash(victim))
	if err != nil || listed.Count != 7 || !slices.Equal(listed.Names, want[:3]) || listed.Unnamed() != 4 {
		t.Errorf("listed %+v, %v: want 7 counted, the first 3 named", listed, err)
	}
	deleted, err := api.DeleteAll(ctx, ns, DNHash(victim))
	if err != nil || deleted.Count != 7 || !slices.Equal(deleted.Names, want[:3]) || deleted.Unnamed() != 4 {
		t.Errorf("deleted %+v, %v: want 7 counted, the first 3 named", deleted, err)
	}
}

// A listing or deletion takes at most so many pages: a server answering
// a continue token forever cannot hold the worker. The deletion says how
// many it deleted before it stopped.
func TestPagesAreBounded(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	addSessions(s, victim, 5)
	api := pagedAPI(t, s, 1)
	api.maxPages = 2
	ctx := context.Background()
	if _, err := api.List(ctx, ns, DNHash(victim)); err == nil || !strings.Contains(err.Error(), "stopped after 2 pages") {
		t.Errorf("list: %v: want it stopped after 2 pages", err)
	}
	got, err := api.DeleteAll(ctx, ns, DNHash(victim))
	if err == nil || !strings.Contains(err.Error(), "stopped after 2 pages (2 sessions deleted)") || got.Count != 2 {
		t.Errorf("deletion: %+v, %v: want 2 deleted, then stopped", got, err)
	}
	if left := s.OidcSessions(ns); len(left) != 3 {
		t.Errorf("%d left, want 3", len(left))
	}
}

// failNth answers the nth request of a method with 503, as an API server
// whose storage failed in the middle of a deletion.
type failNth struct {
	next   http.RoundTripper
	method string
	nth    int32
	seen   atomic.Int32
}

func (f *failNth) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == f.method && f.seen.Add(1) == f.nth {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Header: http.Header{},
			Body: http.NoBody, Request: r}, nil
	}
	return f.next.RoundTrip(r)
}

// A deletion that fails part-way has ended the sessions of its first
// pages: they count. The error says how many; the retry deletes the rest,
// and the alert says all ended.
func TestDeletionFailingPartWayCountsWhatItDeleted(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, Options{Severity: alert.High, Wait: outcomeWait}, func(s *kubefake.Server, _ *API) Sessions {
		api := pagedAPI(t, s, 2)
		api.http.Transport = &failNth{next: api.http.Transport, method: http.MethodDelete, nth: 3}
		return api
	})
	addSessions(h.api, victim, 5)
	r := h.send(replay(victim, alert.Critical))[0].Response
	if r.Status != alert.ResponseEnded || r.Sessions != 7 || r.Attempts != 2 {
		t.Fatalf("response %+v: want ended, all 7 sessions, at the second attempt", r)
	}
	if got := h.metrics.SessionsEnded.Value(); got != 7 {
		t.Errorf("sessions ended metric %v, want 7", got)
	}
	if log := h.log.String(); !strings.Contains(log, "delete sessions: 4 deleted, then: kubernetes API: 503") {
		t.Errorf("the log does not say how many were deleted before the failure:\n%s", log)
	}
}

// Two answers in a row not read leave it unknown whether any session is
// left: not taken for ended, but an error the Responder retries.
func TestTwoUnreadAnswersInARowAreAFailure(t *testing.T) {
	t.Parallel()
	s := kubefake.New(t)
	addSessions(s, victim, 3)
	api := pagedAPI(t, s, 2)
	ctx := context.Background()
	if _, err := api.Version(ctx); err != nil {
		t.Fatal(err)
	}
	api.maxBody = 64 // not even an empty list fits
	_, err := api.DeleteAll(ctx, ns, DNHash(victim))
	if err == nil || errors.Is(err, ErrDeletedUncounted) || !strings.Contains(err.Error(), "some may be left") {
		t.Fatalf("deletion: %v: want an error saying some sessions may be left", err)
	}
	if v, _ := classify(err); v != retryLater {
		t.Errorf("%v, want retried later", v)
	}
}
