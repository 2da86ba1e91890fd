package sinks

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
)

type webhookRequest struct {
	header http.Header
	body   []byte
}

// webhookServer records requests and answers with the statuses given, in
// turn, then 200.
func webhookServer(t *testing.T, statuses ...int) (*httptest.Server, func() []webhookRequest) {
	var mu sync.Mutex
	var reqs []webhookRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(reqs)
		reqs = append(reqs, webhookRequest{r.Header.Clone(), body})
		mu.Unlock()
		status := http.StatusOK
		if n < len(statuses) {
			status = statuses[n]
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "5")
		}
		w.WriteHeader(status)
		// A careless receiver echoes the URL it was called on.
		io.WriteString(w, "called "+r.URL.String())
	}))
	t.Cleanup(srv.Close)
	return srv, func() []webhookRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhookRequest(nil), reqs...)
	}
}

func TestWebhookPostsAlertJSONSigned(t *testing.T) {
	t.Parallel()
	srv, reqs := webhookServer(t)
	w, err := newWebhook(WebhookOptions{
		URL: Secret(srv.URL + "/ingest?key=k3yk3yk3y"), Secret: "shared-hmac-key",
		Headers: map[string]string{"Authorization": "Bearer b3arerb3arer", "X-Tenant": "acme"},
	})
	if err != nil {
		t.Fatal(err)
	}
	group := replayGroup()
	if err := w.Send(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	got := reqs()
	if len(got) != 2 {
		t.Fatalf("%d requests, want one per alert", len(got))
	}
	for i, r := range got {
		want, _ := json.Marshal(group[i])
		if string(r.body) != string(want) {
			t.Errorf("body %s, want the alert JSON %s", r.body, want)
		}
		sig := r.header.Get(defaultSignatureHeader)
		if !hmac.Equal([]byte(sig), []byte(sign("shared-hmac-key", r.body))) || !strings.HasPrefix(sig, "sha256=") || len(sig) != 7+64 {
			t.Errorf("signature %q does not verify", sig)
		}
		for k, v := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer b3arerb3arer",
			"X-Tenant": "acme", "X-Graceguard-Alert-Id": group[i].ID} {
			if r.header.Get(k) != v {
				t.Errorf("%s: %q, want %q", k, r.header.Get(k), v)
			}
		}
	}
}

func TestWebhookSignatureIsHMACSHA256(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	got := sign("Jefe", []byte("what do ya want for nothing?"))
	if got != "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("Sign = %s", got)
	}
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int
		want     verdict
		wantErr  string
	}{
		{"500", []int{500}, retryLater, "HTTP 500"},
		{"429", []int{429}, retryAfter, "retry after 5s"},
		{"422 refused payload", []int{422}, giveUp, "HTTP 422"},
		{"401 wrong credentials", []int{401}, retryLater, "HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := webhookServer(t, tt.statuses...)
			w, err := newWebhook(WebhookOptions{URL: Secret(srv.URL + "/hook/t0k3nt0k3nt0k3n")})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Send(context.Background(), []alert.Alert{replay()})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if v, _ := classify(err); v != tt.want {
				t.Errorf("classified %v, want %v", v, tt.want)
			}
			if strings.Contains(err.Error(), "t0k3n") {
				t.Errorf("%v leaks the URL", err)
			}
		})
	}
}

func TestWebhookRetryDoesNotRepost(t *testing.T) {
	t.Parallel()
	srv, reqs := webhookServer(t, 200, 503) // the second alert of the group fails once
	w, err := newWebhook(WebhookOptions{URL: Secret(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	group := replayGroup()
	if err := w.Send(context.Background(), group); err == nil {
		t.Fatal("want the 503")
	}
	if err := w.Send(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range reqs() {
		ids = append(ids, r.header.Get("X-Graceguard-Alert-Id"))
	}
	if strings.Join(ids, ",") != group[0].ID+","+group[1].ID+","+group[1].ID {
		t.Errorf("posted %v: the first alert must not be posted again", ids)
	}
}

func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer srv.Close()
	w, err := newWebhook(WebhookOptions{URL: Secret(srv.URL + "/s3cr3tpath1234"), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), []alert.Alert{replay()})
	if err == nil || !strings.Contains(err.Error(), "Timeout") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
	if v, _ := classify(err); v != retryLater {
		t.Errorf("a timeout is %v", v)
	}
}

func TestWebhookOptionsChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opt  WebhookOptions
		want string
	}{
		{WebhookOptions{}, "needs a URL"},
		{WebhookOptions{URL: "siem.example/ingest?key=s3cr3ts3cr3t"}, "want an http:// or https:// URL"},
		{WebhookOptions{URL: "https://siem.example/\x7fs3cr3ts3cr3t"}, "not a URL"},
		{WebhookOptions{URL: "https://siem.example/", Headers: map[string]string{"Bad Header": "x"}}, "not a valid HTTP header name"},
	}
	for _, tt := range tests {
		_, err := newWebhook(tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewWebhook(%v) = %v, want %q", tt.opt, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%v leaks the URL", err)
		}
	}
}

// A receiver that redirects (http to https, a moved endpoint) must not get
// a bodiless GET taken for a delivery: Go's client turns a POST answered
// 302 into a GET of the new location.
func TestWebhookRedirectIsNotADelivery(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/hook/t0k3nt0k3n" {
			http.Redirect(w, r, "/moved", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK) // the new place answers a GET with 200
	}))
	t.Cleanup(srv.Close)
	for _, mk := range []func() (Sink, error){
		func() (Sink, error) { return newWebhook(WebhookOptions{URL: Secret(srv.URL + "/hook/t0k3nt0k3n")}) },
		func() (Sink, error) { return newSlack(SlackOptions{WebhookURL: Secret(srv.URL + "/hook/t0k3nt0k3n")}) },
	} {
		s, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), replayGroup())
		if err == nil {
			t.Fatalf("%v: a 302 answer was taken as delivered", s)
		}
		if v, _ := classify(err); v != retryLater || strings.Contains(err.Error(), "t0k3nt0k3n") {
			t.Errorf("%v: %v, verdict %v; want retried, the URL redacted", s, err, v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range methods {
		if m != "POST /hook/t0k3nt0k3n" {
			t.Errorf("requests %q: the redirect was followed", methods)
			break
		}
	}
}

// A receiver that refuses one alert of a group for good (422, 413) gets the
// group's other alerts all the same, and only the refused one is a dead
// letter: the one it took is counted sent, not written to the dead-letter
// file as undelivered (where re-sending it would post it twice).
func TestWebhookRefusalOfOneAlertSparesTheOthers(t *testing.T) {
	t.Parallel()
	group := replayGroup()
	for _, refuse := range []string{group[0].ID, group[1].ID} {
		var mu sync.Mutex
		posted := map[string]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Graceguard-Alert-Id")
			mu.Lock()
			posted[id]++
			mu.Unlock()
			if id == refuse {
				w.WriteHeader(http.StatusUnprocessableEntity)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		w, err := newWebhook(WebhookOptions{URL: Secret(srv.URL + "/hook")})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		d, err := newDispatcher(DispatcherOptions{StateDir: dir}, Route{Name: "w", Sink: w})
		if err != nil {
			t.Fatal(err)
		}
		d.Send(context.Background(), group)
		testsync.WaitFor(t, "the refusal", func() bool { return d.Stats()[0].DeadLettered > 0 })
		closeNow(t, d)
		srv.Close()
		st := d.Stats()[0]
		mu.Lock()
		for _, a := range group {
			if posted[a.ID] == 0 {
				t.Errorf("refusing %s: alert %s never posted (posted %v)", refuse, a.ID, posted)
			}
		}
		mu.Unlock()
		lines := readLines(t, filepath.Join(dir, DeadLetterFile))
		if len(lines) != 1 || !strings.Contains(lines[0], `"id":"`+refuse+`"`) || st.Sent != 1 || st.DeadLettered != 1 {
			t.Errorf("refusing %s: sent %d, dead-lettered %d, dead letters %q; want the refused alert alone dead-lettered", refuse, st.Sent, st.DeadLettered, lines)
		}
	}
}

// A credential header's value comes from its file, as every other secret
// does; a value Go's client would refuse at every send is refused at the
// start instead, without printing it.
func TestWebhookHeaderFiles(t *testing.T) {
	t.Parallel()
	srv, reqs := webhookServer(t)
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	auth := write("auth", "Bearer fr0mf1l3\n")
	broken := write("broken", "Bearer l1ne1\nl1ne2\n")
	build := func(files map[string]string) (Sink, error) {
		c := &WebhookConfig{URL: Secret(srv.URL), Headers: map[string]string{"X-Tenant": "acme"}, HeaderFiles: files}
		return c.newSink()
	}

	s, err := build(map[string]string{"Authorization": auth})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), replayGroup()[:1]); err != nil {
		t.Fatal(err)
	}
	if got := reqs(); len(got) != 1 || got[0].header.Get("Authorization") != "Bearer fr0mf1l3" || got[0].header.Get("X-Tenant") != "acme" {
		t.Fatalf("requests %+v, want Authorization from its file and X-Tenant inline", got)
	}

	for _, tt := range []struct {
		file, want string
	}{
		{filepath.Join(dir, "missing"), "header_files.Authorization: no such file (its path is not shown: it may be the secret itself)"},
		{write("empty", "\n"), "header_files.Authorization: " + filepath.Join(dir, "empty") + ": file is empty"},
		{broken, "header Authorization: its value holds a line break or another control character"},
	} {
		_, err := build(map[string]string{"Authorization": tt.file})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "l1ne") {
			t.Errorf("header file %s: err %v, want %q and no value", tt.file, err, tt.want)
		}
	}
}

// A redirect's error says where it points, redacted as the sink's own URL
// is: "set the URL to where it points" named no place, and the operator
// had to find it with curl. The secret the new place holds in its path or
// query is not shown.
func TestRedirectSaysWhereItPoints(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		location string
		want     string
	}{
		{"https://hooks.example/services/T0/B0/t0k3nt0k3n?key=t0k3nt0k3n", "a redirect to https://hooks.example/…, not followed"},
		{"https://hooks.example:8443/t0k3nt0k3n", "a redirect to https://hooks.example:8443/…, not followed"},
		// Relative to the request: the same host, another path.
		{"/moved/t0k3nt0k3n", "a redirect to http://127.0.0.1:"},
		{"", "a redirect, not followed"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tt.location != "" {
				w.Header().Set("Location", tt.location)
			}
			w.WriteHeader(http.StatusMovedPermanently)
		}))
		for _, mk := range []func() (Sink, error){
			func() (Sink, error) { return newWebhook(WebhookOptions{URL: Secret(srv.URL + "/hook/t0k3nt0k3n")}) },
			func() (Sink, error) { return newSlack(SlackOptions{WebhookURL: Secret(srv.URL + "/hook/t0k3nt0k3n")}) },
		} {
			s, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), replayGroup())
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "t0k3nt0k3n") {
				t.Errorf("%v, Location %q: %v; want %q and no secret", s, tt.location, err, tt.want)
			}
		}
		srv.Close()
	}
}

// Closing one sink leaves another's connections alone. Both used Go's
// shared default transport, so a sink closed at a reload (or a test's
// cleanup) cut the keep-alive connection another sink was about to reuse:
// its post failed with "CloseIdleConnections called" and waited out a
// retry, and CI failed on it.
func TestClosingASinkSparesAnothersConnections(t *testing.T) {
	t.Parallel()
	for _, mk := range []func(url string) (Sink, error){
		func(url string) (Sink, error) { return newWebhook(WebhookOptions{URL: Secret(url + "/hook")}) },
		func(url string) (Sink, error) { return newSlack(SlackOptions{WebhookURL: Secret(url + "/hook")}) },
	} {
		// A server each: a connection the other sink left idle would
		// stand in for a dial.
		var dials atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				dials.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		kept, err := mk(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		closed, err := mk(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if err := kept.Send(context.Background(), replayGroup()[:1]); err != nil {
			t.Fatal(err)
		}
		if err := closed.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// another alert: the webhook does not post one it posted again
		if err := kept.Send(context.Background(), replayGroup()[1:2]); err != nil {
			t.Fatal(err)
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("%v: %d connections for two posts; want the first reused after another sink closed", kept, n)
		}
	}
}
