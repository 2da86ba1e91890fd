package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/golden"
)

// slackServer speaks Slack's two ways in: the Web API's chat.postMessage
// (a form, answered with JSON) under /api/, and incoming webhooks (JSON,
// answered with "ok") under /services/.
type slackServer struct {
	*httptest.Server
	mu    sync.Mutex
	posts []slackPost
	// answer, when set, decides the reply to request n (from 0); ok is
	// what Slack says to a good post.
	answer func(n int) (status int, header http.Header, body string)
}

type slackPost struct {
	Path, Token, Channel, Text, ThreadTS string
	Broadcast                            bool
	Blocks                               json.RawMessage
}

const (
	testToken = "xoxb-1111111111-2222222222-SeCrEtToKeNsEcReTtOkEn"
	hookPath  = "/services/T0001/B0001/Hook5ecretHook5ecretHook"
)

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *slackServer) serve(w http.ResponseWriter, r *http.Request) {
	var p slackPost
	p.Path = r.URL.Path
	body, _ := io.ReadAll(r.Body)
	isAPI := strings.HasPrefix(r.URL.Path, "/api/")
	if isAPI {
		if r.URL.Path != "/api/chat.postMessage" {
			http.Error(w, "unknown method", http.StatusNotFound)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ParseForm()
		p.Token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if p.Token == "" {
			p.Token = r.PostForm.Get("token")
		}
		p.Channel, p.Text, p.ThreadTS = r.PostForm.Get("channel"), r.PostForm.Get("text"), r.PostForm.Get("thread_ts")
		p.Broadcast = r.PostForm.Get("reply_broadcast") == "true"
		p.Blocks = json.RawMessage(r.PostForm.Get("blocks"))
	} else {
		var m struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &m) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		p.Text, p.Blocks = m.Text, m.Blocks
	}
	s.mu.Lock()
	n := len(s.posts)
	s.posts = append(s.posts, p)
	answer := s.answer
	s.mu.Unlock()
	status, header, reply := http.StatusOK, http.Header{}, ""
	if answer != nil {
		status, header, reply = answer(n)
	}
	if status == http.StatusOK && reply == "" {
		if isAPI {
			reply = fmt.Sprintf(`{"ok":true,"channel":"C0123","ts":"1795000000.%06d"}`, n+1)
		} else {
			reply = "ok"
		}
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if isAPI && strings.HasPrefix(reply, "{") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

func (s *slackServer) list() []slackPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackPost(nil), s.posts...)
}

func indentJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // golden files read as Slack shows them
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	// slack-go's own marshalling escapes them anyway; undo it, which
	// leaves valid JSON, for files a person reads.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(b.String())
}

// TestSlackBlockKitGolden pins the messages a responder sees. Run with
// -update to rewrite testdata/golden/slack-*.json after a deliberate change.
func TestSlackBlockKitGolden(t *testing.T) {
	t.Parallel()
	digest := [][]alert.Alert{replayGroup(), {plain("5e6f7a8b9c0d1e2f3a4b")}, {replay()}, {proxied()}, {proxiedUnknownPrev()}}
	tests := []struct {
		name   string
		render func() (string, []slack.Block)
	}{
		{"replay", func() (string, []slack.Block) {
			return slackMessage(replayGroup(), "https://wiki.example/runbooks/token-replay")
		}},
		{"plain", func() (string, []slack.Block) { return slackMessage([]alert.Alert{plain("5e6f7a8b9c0d1e2f3a4b")}, "") }},
		{"proxied", func() (string, []slack.Block) { return slackMessage([]alert.Alert{proxied()}, "") }},
		// The previous refresh's client could not be told: it is named by
		// its proxy, not "none known" (which says no refresh was seen).
		{"proxied-unknown-prev", func() (string, []slack.Block) { return slackMessage([]alert.Alert{proxiedUnknownPrev()}, "") }},
		{"digest", func() (string, []slack.Block) { return slackDigest(digest) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, blocks := tt.render()
			msg := slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks}}
			got := indentJSON(t, msg)
			golden.Check(t, "testdata/golden/slack-"+tt.name+".json", []byte(got))
			checkBlockKitLimits(t, blocks)
		})
	}
}

// checkBlockKitLimits fails on what Slack would refuse as invalid_blocks.
func checkBlockKitLimits(t *testing.T, blocks []slack.Block) {
	t.Helper()
	if len(blocks) > slackBlocksMax {
		t.Errorf("%d blocks, Slack takes %d", len(blocks), slackBlocksMax)
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if n := len([]rune(b.Text.Text)); n > slackHeaderMax || b.Text.Type != slack.PlainTextType {
				t.Errorf("header of %d characters (%s)", n, b.Text.Type)
			}
		case *slack.SectionBlock:
			if b.Text != nil && len([]rune(b.Text.Text)) > slackSectionMax {
				t.Errorf("section text of %d characters", len([]rune(b.Text.Text)))
			}
			if len(b.Fields) > 10 {
				t.Errorf("%d fields, Slack takes 10", len(b.Fields))
			}
			for _, f := range b.Fields {
				if len([]rune(f.Text)) > slackFieldMax {
					t.Errorf("field of %d characters", len([]rune(f.Text)))
				}
			}
		}
	}
}

func TestSlackMessageStaysWithinLimits(t *testing.T) {
	t.Parallel()
	a := replay()
	a.User = "uid=" + strings.Repeat("x", 3000) + ",o=Tremolo"
	a.Description = strings.Repeat("long description <b> & ", 300)
	a.Summary = strings.Repeat("s", 5000)
	_, blocks := slackMessage([]alert.Alert{a, a, a, a, a, a, a}, "")
	checkBlockKitLimits(t, blocks)
	var groups [][]alert.Alert
	for range 200 {
		groups = append(groups, []alert.Alert{a})
	}
	_, blocks = slackDigest(groups)
	checkBlockKitLimits(t, blocks)
}

func TestSlackMessageEscapesMarkup(t *testing.T) {
	t.Parallel()
	a := plain("x")
	a.User = "uid=<!channel>&`evil`,o=T"
	_, blocks := slackMessage([]alert.Alert{a}, "")
	// mrkdwn is parsed for mentions and links; the plain_text header is not.
	var texts []string
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.SectionBlock:
			if b.Text != nil {
				texts = append(texts, b.Text.Text)
			}
			for _, f := range b.Fields {
				texts = append(texts, f.Text)
			}
		}
	}
	all := strings.Join(texts, "\n")
	if strings.Contains(all, "<!channel>") || !strings.Contains(all, "`uid=&lt;!channel&gt;&amp;'evil',o=T`") {
		t.Errorf("a DN could mention @channel or break out of a code span:\n%s", all)
	}
}

func TestSlackIncomingWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		delay   time.Duration
		want    verdict // when an error is wanted
		wantErr string
		wait    time.Duration
	}{
		{name: "ok", status: 200, body: "ok"},
		{name: "compatible server, empty 204", status: 204},
		{name: "500 from Slack's edge", status: 500, body: "<html>rollup_error</html>", want: retryLater, wantErr: "HTTP 500"},
		{name: "429 with Retry-After", status: 429, header: http.Header{"Retry-After": {"3"}}, body: "rate limited", want: retryAfter, wantErr: "HTTP 429", wait: 3 * time.Second},
		{name: "invalid payload", status: 400, body: "invalid_payload", want: giveUp, wantErr: "invalid_payload"},
		{name: "message without text", status: 400, body: "no_text", want: giveUp, wantErr: "no_text"},
		{name: "team disabled: every message alike", status: 400, body: "team_disabled", want: retryLater, wantErr: "team_disabled"},
		{name: "hook's user gone", status: 400, body: "user_not_found\n", want: retryLater, wantErr: "user_not_found"},
		{name: "compatible server's 400 page", status: 400, body: "<html>Bad Request</html>", want: giveUp, wantErr: "HTTP 400"},
		// A code nobody listed is the message's: retried, it would hold
		// every alert behind it for max_age.
		{name: "message without text or attachments", status: 400, body: "missing_text_or_fallback_or_attachments", want: giveUp, wantErr: "missing_text"},
		{name: "revoked hook", status: 403, body: "invalid_token", want: retryLater, wantErr: "invalid_token"},
		{name: "archived channel", status: 410, body: "channel_is_archived", want: retryLater, wantErr: "channel_is_archived"},
		{name: "malformed 200 (a captive portal)", status: 200, body: "<html>please log in</html>", want: retryLater, wantErr: "unexpected answer"},
		{name: "timeout", status: 200, body: "ok", delay: 250 * time.Millisecond, want: retryLater, wantErr: "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSlackServer(t)
			srv.answer = func(int) (int, http.Header, string) {
				time.Sleep(tt.delay)
				return tt.status, tt.header, tt.body
			}
			// Only the slow answer meets the short timeout: the others, beside
			// the package's parallel tests on a loaded machine, timed out too.
			timeout := 10 * time.Second
			if tt.delay > 0 {
				timeout = 100 * time.Millisecond
			}
			s, err := newSlack(SlackOptions{WebhookURL: Secret(srv.URL + hookPath), Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), replayGroup())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				p := srv.list()
				if len(p) != 1 || p[0].Path != hookPath || !strings.HasPrefix(p[0].Text, "CRITICAL reuse-geo-jump and 1 more rule: uid=jjackson") || len(p[0].Blocks) < 100 {
					t.Errorf("posted %+v", p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if v, wait := classify(err); v != tt.want || wait != tt.wait {
				t.Errorf("classified %v %v, want %v %v", v, wait, tt.want, tt.wait)
			}
			if strings.Contains(err.Error(), "Hook5ecret") {
				t.Errorf("the webhook URL leaks: %v", err)
			}
		})
	}
}

func TestSlackWebAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    verdict
		wantErr string
		wait    time.Duration
	}{
		{name: "ok with ts", status: 200},
		{name: "channel not found", status: 200, body: `{"ok":false,"error":"channel_not_found"}`, want: retryLater, wantErr: "channel_not_found"},
		{name: "not in channel (no chat:write.public)", status: 200, body: `{"ok":false,"error":"not_in_channel"}`, want: retryLater, wantErr: "not_in_channel"},
		{name: "invalid blocks", status: 200, body: `{"ok":false,"error":"invalid_blocks"}`, want: giveUp, wantErr: "invalid_blocks"},
		{name: "429 Retry-After", status: 429, header: http.Header{"Retry-After": {"2"}}, body: "", want: retryAfter, wantErr: "retry after 2s", wait: 2 * time.Second},
		{name: "500", status: 500, body: "oops", want: retryLater, wantErr: "500"},
		{name: "malformed JSON", status: 200, body: `{"ok":tru`, want: retryLater, wantErr: "unexpected EOF"},
		{name: "ok without ts", status: 200, body: `{"ok":true}`, want: retryLater, wantErr: "without a message ts"},
		{name: "ok false without error", status: 200, body: `{"ok":false}`, want: retryLater, wantErr: "without a message ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSlackServer(t)
			srv.answer = func(int) (int, http.Header, string) { return tt.status, tt.header, tt.body }
			s, err := newSlack(SlackOptions{Token: testToken, Channel: "#secops", APIURL: srv.URL + "/api"})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), replayGroup())
			p := srv.list()
			if len(p) != 1 || p[0].Token != testToken || p[0].Channel != "#secops" || len(p[0].Blocks) < 100 {
				t.Fatalf("posted %+v", p)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if v, wait := classify(err); v != tt.want || wait != tt.wait {
				t.Errorf("classified %v %v, want %v %v", v, wait, tt.want, tt.wait)
			}
			if strings.Contains(err.Error(), "SeCrEt") {
				t.Errorf("the token leaks: %v", err)
			}
		})
	}
}

// A 429 whose Retry-After is an HTTP date waits until that date, as one in
// seconds does, not the backoff's first second.
func TestSlackWebAPIRetryAfterDate(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	srv.answer = func(int) (int, http.Header, string) {
		return 429, http.Header{"Retry-After": {time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}}, ""
	}
	s, err := newSlack(SlackOptions{Token: testToken, Channel: "#secops", APIURL: srv.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), replayGroup())
	// The date has whole seconds and the answer was read a moment later.
	if v, wait := classify(err); v != retryAfter || wait < 88*time.Second || wait > 90*time.Second {
		t.Errorf("classified %v %v (%v), want a retry after ~90s", v, wait, err)
	}
}

func TestSlackThreadsPerUser(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	s, err := newSlack(SlackOptions{Token: testToken, Channel: "C0123", APIURL: srv.URL + "/api/", MaxThreads: 2, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	at := func(user string, d time.Duration, sev alert.Severity) []alert.Alert {
		a := plain(user + d.String())
		a.User, a.Time, a.Severity = "uid="+user+",o=T", t0.Add(d), sev
		return []alert.Alert{a}
	}
	steps := []struct {
		group     []alert.Alert
		thread    string // thread_ts expected, "" for a new message
		broadcast bool
	}{
		{at("ann", 0, alert.Medium), "", false},                                // ts .000001
		{at("ann", 10*time.Minute, alert.Medium), "1795000000.000001", false},  // reply
		{at("bob", 11*time.Minute, alert.High), "", false},                     // another user: own message, ts .000003
		{at("ann", 20*time.Minute, alert.Critical), "1795000000.000001", true}, // escalation: reply, broadcast
		{at("ann", 30*time.Minute, alert.High), "1795000000.000001", false},    // not above critical: quiet reply
		{at("ann", 61*time.Minute, alert.Medium), "", false},                   // over an hour after the first: new thread
		{at("cid", 62*time.Minute, alert.Medium), "", false},                   // a third user pushes out the least recent (bob)
		{at("bob", 63*time.Minute, alert.Medium), "", false},                   // forgotten: new message
	}
	for i, st := range steps {
		if err := s.Send(context.Background(), st.group); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		p := srv.list()[i]
		if p.ThreadTS != st.thread || p.Broadcast != st.broadcast {
			t.Errorf("step %d (%s): thread_ts %q broadcast %v; want %q %v", i, st.group[0].User, p.ThreadTS, p.Broadcast, st.thread, st.broadcast)
		}
	}
}

func TestSlackPacesMessages(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	s, err := newSlack(SlackOptions{WebhookURL: Secret(srv.URL + hookPath), Interval: 50 * time.Millisecond, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 6 {
		if err := s.Send(context.Background(), []alert.Alert{plain(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Two at once (the burst), then one per 50ms: at least 200ms.
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("6 messages in %v: not paced", el)
	}
}

func TestSlackOptionsChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opt  SlackOptions
		want string
	}{
		{SlackOptions{}, "needs a webhook URL, or a bot token and a channel"},
		{SlackOptions{WebhookURL: "https://hooks.slack.com/x", Token: testToken}, "not both"},
		{SlackOptions{Token: testToken}, "needs a channel"},
		{SlackOptions{WebhookURL: "hooks.slack.com/services/T/B/Hook5ecretHook5ecret"}, "want an http:// or https:// URL"},
		{SlackOptions{WebhookURL: "https://hooks.slack.com/x", APIURL: "https://slack.example/api/"}, "goes with a bot token"},
		{SlackOptions{Token: testToken, Channel: "C1", APIURL: "ftp://x"}, "API URL"},
		{SlackOptions{Token: testToken, Channel: "C1", RunbookURL: "wiki"}, "runbook URL"},
	}
	for _, tt := range tests {
		_, err := newSlack(tt.opt)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSlack(%+v) = %v, want %q", tt.opt, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Hook5ecret") || strings.Contains(err.Error(), "SeCrEt")) {
			t.Errorf("%v leaks a secret", err)
		}
	}
}

func TestSlackMessageLeadsWithTheMostSevere(t *testing.T) {
	t.Parallel()
	g := replayGroup()
	text, _ := slackMessage([]alert.Alert{g[1], g[0]}, "")
	if !strings.HasPrefix(text, "CRITICAL reuse-geo-jump and 1 more rule") {
		t.Errorf("text %q", text)
	}
}

// The message is written for the responder: the header names the user as
// people read the DN, says what happened, and needs no decoding ("(+3)");
// OpenUnison's per-request id is not called a session; a replay scripted
// within milliseconds shows no absurd speed; the next steps are there
// without a runbook.
func TestSlackMessageForTheResponder(t *testing.T) {
	t.Parallel()
	g := replayGroup()
	for i := range g {
		g[i].User = `cn=Larsen\, Priya,ou=people,o=Example`
		ms := int64(0)
		g[i].IntervalMs = &ms
	}
	text, blocks := slackMessage(g, "")
	out, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(out)
	for _, want := range []string{
		`CRITICAL · Larsen, Priya: refresh token reused from 192.0.2.66`,
		`2 rules fired on this request`,
		`Request id (OpenUnison's log)`,
		`Why it matters: `,
		`Next steps`,
		`graceguard timeline 'cn=Larsen`,
		`tremolo.io/user-dn=`,
		`under 1ms`,
		`no one travels that`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q:\n%s", want, msg)
		}
	}
	for _, avoid := range []string{"(+1)", "*Session*", "km/h\"", `Larsen\\"`} {
		if strings.Contains(msg, avoid) || strings.Contains(text, avoid) {
			t.Errorf("the message has %q", avoid)
		}
	}
}

// A 429 whose Retry-After is an HTTP date already past (the server's clock
// behind ours) backs off: it read as "Retry-After: 0", and the bot asked
// again at once, over and over, while the limit held.
func TestSlackWebAPIRetryAfterDatePast(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	srv.answer = func(int) (int, http.Header, string) {
		return 429, http.Header{"Retry-After": {time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat)}}, ""
	}
	s, err := newSlack(SlackOptions{Token: testToken, Channel: "#secops", APIURL: srv.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), replayGroup())
	if v, wait := classify(err); v != retryLater || wait != 0 {
		t.Errorf("classified %v %v (%v), want a backoff", v, wait, err)
	}
}
