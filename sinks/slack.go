package sinks

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/graceguard/graceguard/alert"
	iredact "github.com/graceguard/graceguard/internal/redact"
	"github.com/graceguard/graceguard/internal/retry"
)

// SlackOptions configure a Slack sink: either an incoming webhook, or a bot
// token and a channel (which allows threads).
type SlackOptions struct {
	WebhookURL Secret // an incoming webhook; or
	Token      Secret // a bot token (xoxb-…) with chat:write, and
	Channel    string // the channel to post in: an id (C0123…) or #name
	// APIURL is the Web API base for a Slack-compatible server or a test
	// endpoint; https://slack.com/api/ by default.
	APIURL     string
	RunbookURL string        // linked from every message when set
	Timeout    time.Duration // per request; 10s
	// Interval and Burst pace messages: Slack allows about one message a
	// second per channel and drops or refuses beyond. 1s and 3.
	Interval time.Duration
	Burst    int
	// ThreadWindow: with a bot token, an alert for a user who had one less
	// than this long before (on the alerts' clock) is posted as a reply in
	// that alert's thread. 1h.
	ThreadWindow time.Duration
	MaxThreads   int // users whose thread is remembered, least recent forgotten first; 1000
}

// Slack posts alerts to Slack as Block Kit messages, one per log event,
// and a digest when many wait. It makes one attempt per call: the
// Dispatcher retries, and its queue is what lets a digest form.
type Slack struct {
	opt     SlackOptions
	api     *slack.Client // with a bot token
	http    *http.Client
	limiter *rate.Limiter
	scrub   *scrubber

	mu      sync.Mutex
	threads *threadCache
}

// defaultSlackAPIURL is Slack's Web API base.
const defaultSlackAPIURL = slack.APIURL

// newSlack checks opt and returns a Slack sink. It sends nothing.
func newSlack(opt SlackOptions) (*Slack, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Interval <= 0 {
		opt.Interval = time.Second
	}
	if opt.Burst <= 0 {
		opt.Burst = 3
	}
	if opt.ThreadWindow <= 0 {
		opt.ThreadWindow = time.Hour
	}
	if opt.MaxThreads <= 0 {
		opt.MaxThreads = 1000
	}
	s := &Slack{opt: opt, limiter: rate.NewLimiter(rate.Every(opt.Interval), opt.Burst), threads: newThreadCache(opt.MaxThreads)}
	s.scrub = newScrubber(opt.WebhookURL.Reveal(), opt.Token.Reveal())
	s.http = newHTTPClient(opt.Timeout)
	if opt.RunbookURL != "" {
		if err := checkHTTPURL(opt.RunbookURL); err != nil {
			return nil, fmt.Errorf("slack: runbook URL: %w", err)
		}
	}
	switch {
	case opt.WebhookURL != "" && opt.Token != "":
		return nil, errors.New("slack: give a webhook URL or a bot token, not both")
	case opt.WebhookURL != "":
		if opt.APIURL != "" {
			return nil, errors.New("slack: an API URL goes with a bot token; an incoming webhook has its own URL")
		}
		if err := checkHTTPURL(opt.WebhookURL.Reveal()); err != nil {
			return nil, fmt.Errorf("slack: webhook URL %s: %w", opt.WebhookURL, s.scrub.wrap(err))
		}
	case opt.Token != "":
		if err := s.useBot(opt); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("slack: needs a webhook URL, or a bot token and a channel")
	}
	return s, nil
}

// useBot sets the Web API client up for a bot token.
func (s *Slack) useBot(opt SlackOptions) error {
	if opt.Channel == "" {
		return errors.New("slack: a bot token needs a channel to post in")
	}
	api := opt.APIURL
	if api == "" {
		api = defaultSlackAPIURL
	}
	if err := checkHTTPURL(api); err != nil {
		return fmt.Errorf("slack: API URL %s: %w", redact(api), err)
	}
	if u, _ := url.Parse(api); u.User != nil {
		s.scrub.add(api)
	}
	// slack-go appends the method name to the base.
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	s.opt.APIURL = api
	s.api = slack.New(opt.Token.Reveal(), slack.OptionAPIURL(api), slack.OptionHTTPClient(withSecondsRetryAfter(s.http)))
	return nil
}

// withSecondsRetryAfter returns c answering a 429's Retry-After in seconds
// when it came as an HTTP date. slack-go reads only seconds and returns a
// bare parse error for a date, which was retried after the backoff's first
// second, not the wait asked for; a Slack-compatible server or a proxy in
// front of Slack may send the date form RFC 9110 allows.
func withSecondsRetryAfter(c *http.Client) *http.Client {
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc := *c
	cc.Transport = secondsRetryAfter{next}
	return &cc
}

type secondsRetryAfter struct{ next http.RoundTripper }

func (t secondsRetryAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	v := resp.Header.Get("Retry-After")
	if _, numeric := strconv.ParseInt(v, 10, 64); numeric == nil {
		return resp, nil
	}
	if d, ok := retry.After(v, time.Now()); ok {
		// Rounded up: a wait cut short would meet the limit again.
		resp.Header.Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
	return resp, nil
}

// checkHTTPURL accepts an absolute http or https URL. Its errors never
// quote the URL, which may be a secret, nor the bytes url.Parse refused in
// it (`invalid URL escape "%Ho"` holds two of a webhook key's):
// redact.ParseError says what is wrong in words, and wraps nothing, since
// the *url.Error it would reach holds the whole URL.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return iredact.ParseError(err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

// String names the sink without its secret.
func (s *Slack) String() string {
	if s.api != nil {
		return "slack " + s.opt.Channel
	}
	return "slack webhook " + s.opt.WebhookURL.String()
}

// Send implements Sink: one message for the group. With a bot token a
// user's later alerts within ThreadWindow are threaded under the first,
// and broadcast to the channel when more severe than what the thread has
// seen, so an escalation is not hidden in a thread.
func (s *Slack) Send(ctx context.Context, group []alert.Alert) error {
	if len(group) == 0 {
		return nil
	}
	text, blocks := slackMessage(group, s.opt.RunbookURL)
	if err := s.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("slack: waiting for the rate limit: %w", err)
	}
	if s.api == nil {
		return s.postWebhook(ctx, text, blocks)
	}
	a := group[0]
	key := a.IdP + "\x00" + a.User
	s.mu.Lock()
	th, threaded := s.threads.get(key)
	s.mu.Unlock()
	if threaded {
		if d := a.Time.Sub(th.start); d < 0 || d >= s.opt.ThreadWindow {
			threaded = false
		}
	}
	var opts []slack.MsgOption
	broadcast := false
	if threaded {
		opts = append(opts, slack.MsgOptionTS(th.ts))
		if a.Severity > th.severity {
			opts = append(opts, slack.MsgOptionBroadcast())
			broadcast = true
		}
	}
	ts, err := s.postAPI(ctx, text, blocks, opts...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !threaded:
		s.threads.put(key, slackThread{ts: ts, start: a.Time, severity: a.Severity})
	case broadcast:
		th.severity = a.Severity
		s.threads.put(key, th)
	}
	return nil
}

// sendDigest posts many groups as one message (see Dispatcher).
func (s *Slack) sendDigest(ctx context.Context, groups [][]alert.Alert) error {
	text, blocks := slackDigest(groups)
	if err := s.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("slack: waiting for the rate limit: %w", err)
	}
	if s.api == nil {
		return s.postWebhook(ctx, text, blocks)
	}
	_, err := s.postAPI(ctx, text, blocks)
	return err
}

func (s *Slack) postAPI(ctx context.Context, text string, blocks []slack.Block, extra ...slack.MsgOption) (string, error) {
	opts := append([]slack.MsgOption{
		slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl(),
	}, extra...)
	_, ts, err := s.api.PostMessageContext(ctx, s.opt.Channel, opts...)
	if err != nil {
		return "", s.scrub.wrap(fmt.Errorf("slack chat.postMessage to %s: %w", s.opt.Channel, err))
	}
	if ts == "" {
		// slack-go reads {"ok":false} without an error, or a body without
		// "ok", as success; Slack always answers a post with its ts.
		return "", fmt.Errorf("slack chat.postMessage to %s: malformed answer without a message ts", s.opt.Channel)
	}
	return ts, nil
}

// postWebhook posts to an incoming webhook. It does the HTTP itself rather
// than through slack.PostWebhook, which discards Slack's answer (the error
// code, say "channel_is_archived", is in the body), reads only numeric
// Retry-After, and quotes the URL, the secret, in its errors.
func (s *Slack) postWebhook(ctx context.Context, text string, blocks []slack.Block) error {
	f := false
	body, err := json.Marshal(&slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, UnfurlLinks: &f, UnfurlMedia: &f})
	if err != nil {
		return permanent(fmt.Errorf("slack: encode message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opt.WebhookURL.Reveal(), bytes.NewReader(body))
	if err != nil {
		return s.scrub.wrap(fmt.Errorf("slack webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return s.scrub.wrap(fmt.Errorf("slack webhook: %w", err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		if webhookOK(answer) {
			return nil
		}
		return s.scrub.wrap(fmt.Errorf("slack webhook %s: unexpected answer %q", s.opt.WebhookURL, oneLine(string(answer), 120)))
	}
	se := newStatusError(resp, []byte(s.scrub.scrub(string(answer))), time.Now())
	se.SinkWide = se.Code == http.StatusBadRequest && webhookSinkError(answer)
	return s.scrub.wrap(fmt.Errorf("slack webhook %s: %w", s.opt.WebhookURL, se))
}

// webhookSinkError reads an incoming webhook's 400 answer: Slack sends its
// error code as the body, and 400 carries codes about the hook's team,
// service or user as well as the message's (invalid_payload, no_text,
// missing_text_or_fallback_or_attachments, …). Only the named sink-wide
// codes are retried like an outage; any other 400 stays final for its
// message, as HTTP means it. The two mistakes are not alike: a sink error
// taken for the message's dead-letters that one alert, a message's taken
// for the sink's would hold the queue behind it for max_age.
func webhookSinkError(body []byte) bool {
	return slackWebhookSinkErrors[string(bytes.TrimSpace(body))]
}

// slackWebhookSinkErrors are the incoming-webhook codes that fail every
// message alike until the hook, its team or its user is fixed.
var slackWebhookSinkErrors = map[string]bool{
	"no_team": true, "team_disabled": true, "no_service": true, "no_service_id": true,
	"user_not_found": true, "channel_not_found": true, "channel_is_archived": true,
	"action_prohibited": true, "posting_to_general_channel_denied": true, "invalid_token": true,
}

// webhookOK reads an incoming webhook's success answer: Slack's "ok", or
// the JSON {"ok":true} or an empty body some compatible servers send.
func webhookOK(body []byte) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "ok" {
		return true
	}
	var r struct {
		OK bool `json:"ok"`
	}
	return json.Unmarshal(b, &r) == nil && r.OK
}

// Close implements Sink.
func (s *Slack) Close(context.Context) error {
	s.http.CloseIdleConnections()
	return nil
}

type slackThread struct {
	ts       string
	start    time.Time
	severity alert.Severity // the most severe alert posted to the channel for it
}

// threadCache maps users to their open thread, least recently used
// forgotten first.
type threadCache struct {
	max   int
	order *list.List
	byKey map[string]*list.Element
}

type threadEntry struct {
	key string
	th  slackThread
}

func newThreadCache(n int) *threadCache {
	return &threadCache{max: n, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *threadCache) get(key string) (slackThread, bool) {
	e, ok := c.byKey[key]
	if !ok {
		return slackThread{}, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*threadEntry).th, true
}

func (c *threadCache) put(key string, th slackThread) {
	if e, ok := c.byKey[key]; ok {
		e.Value.(*threadEntry).th = th
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&threadEntry{key: key, th: th})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*threadEntry).key)
	}
}

// Block Kit limits the messages stay within.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackFieldMax   = 2000
	slackBlocksMax  = 50
)

var severityEmoji = map[alert.Severity]string{
	alert.Info: ":white_circle:", alert.Low: ":large_blue_circle:", alert.Medium: ":large_orange_circle:",
	alert.High: ":red_circle:", alert.Critical: ":rotating_light:",
}

// slackMessage renders one event's alerts, most severe first, as the
// fallback text (notifications, screen readers) and Block Kit blocks laid
// out for the responder: what happened in one sentence, every rule that
// fired with its severity, the evidence, what graceguard did, and what to
// do next.
func slackMessage(group []alert.Alert, runbook string) (string, []slack.Block) {
	// Sink's contract already says most severe first; a caller that forgot
	// must not put a medium alert in the header of a critical event.
	group = slices.Clone(group)
	slices.SortStableFunc(group, func(a, b alert.Alert) int { return int(b.Severity) - int(a.Severity) })
	a := group[0]
	sev := strings.ToUpper(a.Severity.String())
	header := fmt.Sprintf("%s %s · %s: %s", severityEmoji[a.Severity], sev, shortUser(a.User), headline(a))

	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, alert.Cut(header, slackHeaderMax), true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, alert.Cut(story(a), slackSectionMax), false, false), nil, nil),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, alert.Cut(firedText(group), slackSectionMax), false, false), nil, nil),
		slack.NewSectionBlock(nil, evidence(group), nil),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, alert.Cut(nextSteps(group, runbook), slackSectionMax), false, false), nil, nil),
	}
	ids := make([]string, len(group))
	for i, r := range group {
		ids[i] = code(r.ID)
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		"alert "+strings.Join(ids, ", ")+" · graceguard", false, false)))

	text := fmt.Sprintf("%s %s: %s", sev, a.Rule, a.User)
	if len(group) > 1 {
		text = fmt.Sprintf("%s %s and %d more %s: %s", sev, a.Rule, len(group)-1, map[bool]string{true: "rule", false: "rules"}[len(group) == 2], a.User)
	}
	if a.IP != "" {
		text += " from " + a.ClientOf()
		if p := alert.PlaceText(a.Geo); p != "" {
			text += " (" + p + ")"
		}
	}
	return mrkdwn(text), blocks
}

// headline names what happened in a few words, for the header.
func headline(a alert.Alert) string {
	switch {
	case a.Rule == "chain-takeover":
		return "refresh chain taken by " + clientOrUnknown(a.IP)
	case a.Rule == "refresh-travel":
		return "refresh from an impossible place, " + clientOrUnknown(a.IP)
	case strings.HasPrefix(a.Rule, "reuse-burst"):
		return "many grace-period reuses"
	case a.HasPrev() && a.IP != "":
		return "refresh token reused from " + a.IP
	}
	return a.Rule
}

func clientOrUnknown(ip string) string { return cmp.Or(ip, "an unknown client") }

// prevClientDetail is clientDetail for the previous refresh; one whose
// client attribution could not tell is named by the proxy it came through.
func prevClientDetail(a alert.Alert) string {
	if a.PrevIP == "" && a.PrevPeer != "" {
		return "an unknown client (via proxy " + code(a.PrevPeer) + ")"
	}
	return clientDetail(a.PrevIP, "", a.PrevAgent, a.PrevGeo)
}

// story is the alert in one sentence: who, from where, compared with
// what, and why it matters (the rule's own words).
func story(a alert.Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", mrkdwn(a.User))
	switch {
	case a.Rule == "chain-takeover":
		fmt.Fprintf(&b, ": the refresh chain moved to %s, and the client it moved from, %s, was then refused",
			clientDetail(a.IP, a.Via, a.Agent, a.Geo), clientDetail(a.PrevIP, "", a.PrevAgent, a.PrevGeo))
	case a.IP != "":
		fmt.Fprintf(&b, ": a refresh token was used from %s", clientDetail(a.IP, a.Via, a.Agent, a.Geo))
		if a.HasPrev() {
			fmt.Fprintf(&b, " %s the refresh from %s", intervalText(a), prevClientDetail(a))
		}
	}
	b.WriteString(".")
	if a.Description != "" {
		fmt.Fprintf(&b, "\nWhy it matters: %s.", mrkdwn(a.Description))
	}
	return b.String()
}

// clientDetail is an address with what is known of it: the proxy it came
// through, its agent, its place.
func clientDetail(ip, via, agent string, g *alert.Geo) string {
	s := code(cmp.Or(ip, "unknown"))
	var more []string
	if via != "" {
		more = append(more, "via "+mrkdwn(via))
	}
	if agent != "" {
		more = append(more, code(agent))
	}
	if p := alert.PlaceText(g); p != "" {
		more = append(more, mrkdwn(p))
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

// intervalText relates the event to the previous refresh in time.
func intervalText(a alert.Alert) string {
	if a.IntervalMs == nil {
		return "after"
	}
	return alert.HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond) + " after"
}

// firedText lists every rule that fired on the event, most severe first.
func firedText(group []alert.Alert) string {
	var b strings.Builder
	if len(group) == 1 {
		b.WriteString("*Rule that fired*\n")
	} else {
		fmt.Fprintf(&b, "*%d rules fired on this request*\n", len(group))
	}
	for _, r := range group {
		fmt.Fprintf(&b, "%s *%s* %s", severityEmoji[r.Severity], strings.ToUpper(r.Severity.String()), code(r.Rule))
		if r.Description != "" {
			b.WriteString(": " + mrkdwn(r.Description))
		}
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// evidence is the fields a responder checks the story against.
func evidence(group []alert.Alert) []*slack.TextBlockObject {
	a := group[0]
	fields := []*slack.TextBlockObject{
		field("User", code(a.User)),
		field("When", slackDate(a.Time)),
		field("Client", addressText(a.IP, a.Geo, true)+viaText(a.Via, a.Agent, a.Candidates)),
		field("Previous legitimate refresh", prevText(a)),
	}
	if t := travelText(a); t != "" {
		fields = append(fields, field("Travel", t))
	}
	if a.Session != "" {
		// OpenUnison's bracketed id is a per-request web-session id for
		// kubectl: a key into its log, not the user's session.
		fields = append(fields, field("Request id (OpenUnison's log)", code(a.Session)))
	}
	if a.Source != "" {
		fields = append(fields, field("Source", code(a.Source)))
	}
	if a.IdP != "" {
		fields = append(fields, field("IdP", code(a.IdP)))
	}
	if f := responseField(group); f != nil {
		fields = append(fields, f)
	}
	return fields
}

// nextSteps says what a responder does now: read the user's timeline, end
// the user's sessions unless graceguard did, follow the runbook.
func nextSteps(group []alert.Alert, runbook string) string {
	a := group[0]
	steps := []string{"*Next steps*", "1. See the user's refreshes, reuses and refusals around it: " + code(timelineHint(a))}
	if responseOf(group) == nil && a.User != "" && !strings.Contains(a.User, "; ") {
		steps = append(steps, "2. If it is not the user, end their sessions as OpenUnison does at logout: "+
			code(fmt.Sprintf("kubectl -n openunison delete oidc-sessions.openunison.tremolo.io -l tremolo.io/user-dn=%x", sha1.Sum([]byte(a.User))))+
			" (or let `graceguard watch --revoke` do it)")
	}
	if runbook != "" {
		steps = append(steps, fmt.Sprintf("%d. Follow the <%s|runbook>", len(steps), runbook))
	}
	return strings.Join(steps, "\n")
}

func responseOf(group []alert.Alert) *alert.Response {
	for _, a := range group {
		if a.Response != nil {
			return a.Response
		}
	}
	return nil
}

// responseField shows what graceguard did about the event ("Sessions
// ended: 2 (dry run)", or why not); nil when it did nothing. The alerts of
// one event share one response.
func responseField(group []alert.Alert) *slack.TextBlockObject {
	for _, a := range group {
		if t := a.Response.Text(); t != "" {
			return field("Response", mrkdwn(strings.ToUpper(t[:1])+t[1:]))
		}
	}
	return nil
}

// slackDigest renders many groups as one message: a line per event, as
// many sections as the lines need, within Block Kit's block limit.
func slackDigest(groups [][]alert.Alert) (string, []slack.Block) {
	total := 0
	for _, g := range groups {
		total += len(g)
	}
	header := fmt.Sprintf(":warning: %d alerts for %d events were waiting for Slack", total, len(groups))
	blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, alert.Cut(header, slackHeaderMax), true, false))}
	var section strings.Builder
	flush := func() {
		if section.Len() > 0 {
			blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.TrimSpace(section.String()), false, false), nil, nil))
			section.Reset()
		}
	}
	shown := 0
	for _, g := range groups {
		line := digestLine(g) + "\n"
		if section.Len()+len(line) > slackSectionMax {
			flush()
		}
		if len(blocks) >= slackBlocksMax-2 {
			break
		}
		section.WriteString(alert.Cut(line, slackSectionMax))
		shown++
	}
	flush()
	note := fmt.Sprintf("One digest instead of %d messages: delivery fell behind (a Slack outage or its rate limit). Look an alert id up in graceguard's JSON output for every detail.", len(groups))
	if shown < len(groups) {
		note = fmt.Sprintf("%d more events not listed. ", len(groups)-shown) + note
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, note, false, false)))
	return mrkdwn(strings.TrimPrefix(header, ":warning: ")), blocks
}

func digestLine(g []alert.Alert) string {
	a := g[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s* %s", severityEmoji[a.Severity], strings.ToUpper(a.Severity.String()), code(a.Rule))
	if len(g) > 1 {
		fmt.Fprintf(&b, " +%d", len(g)-1)
	}
	b.WriteString(" · " + code(a.User))
	if a.IP != "" {
		b.WriteString(" · " + code(a.IP))
		if a.Via != "" {
			b.WriteString(" via " + mrkdwn(a.Via))
		}
		if p := alert.PlaceText(a.Geo); p != "" {
			b.WriteString(" " + mrkdwn(p))
		}
	}
	switch {
	case a.PrevIP != "":
		b.WriteString(" ← " + code(a.PrevIP))
	case a.PrevPeer != "":
		b.WriteString(" ← an unknown client via proxy " + code(a.PrevPeer))
	}
	b.WriteString(" · " + slackDate(a.Time) + " · " + code(a.ID))
	return b.String()
}

func field(label, value string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, alert.Cut("*"+label+"*\n"+value, slackFieldMax), false, false)
}

func addressText(ip string, g *alert.Geo, network bool) string {
	if ip == "" {
		return "unknown"
	}
	s := code(ip)
	if p := alert.PlaceText(g); p != "" {
		s += "\n" + mrkdwn(p)
	}
	if network && g != nil && (g.ASN != 0 || g.Org != "") {
		n := strings.TrimSpace(fmt.Sprintf("AS%d %s", g.ASN, g.Org))
		if g.ASN == 0 {
			n = g.Org
		}
		s += "\n" + mrkdwn(n)
	}
	return s
}

// viaText is how a client was reached, on lines of its own: the proxy,
// the user agent, the candidates of an ambiguous match.
func viaText(via, agent string, candidates []string) string {
	var s string
	if len(candidates) > 0 {
		s += "\nambiguous: one of " + code(strings.Join(candidates, ", "))
	}
	if via != "" {
		s += "\nvia " + mrkdwn(via)
	}
	if agent != "" {
		s += "\n" + code(agent)
	}
	return s
}

func prevText(a alert.Alert) string {
	if !a.HasPrev() {
		return "none known"
	}
	s := addressText(a.PrevIP, a.PrevGeo, false) + viaText("", a.PrevAgent, nil)
	if a.PrevIP == "" {
		s = "an unknown client\nvia proxy " + code(a.PrevPeer) + viaText("", a.PrevAgent, nil)
	}
	if a.IntervalMs != nil {
		s += "\n" + alert.HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond) + " earlier"
	} else if !a.PrevTime.IsZero() {
		s += "\n" + slackDate(a.PrevTime)
	}
	return s
}

func travelText(a alert.Alert) string {
	if a.DistanceKm == nil {
		return ""
	}
	s := alert.GroupThousands(int64(*a.DistanceKm+0.5)) + " km"
	switch {
	case a.IntervalMs != nil && *a.IntervalMs < 1000:
		// A speed over milliseconds (a simulated or scripted replay) is a
		// number no one can read; the distance says it all.
		s += " in " + alert.HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond) + ": no one travels that"
	case a.SpeedKmh != nil:
		s += " at " + alert.GroupThousands(int64(*a.SpeedKmh+0.5)) + " km/h"
	}
	return s
}

// shortUser is the first RDN's value of a DN ("jjackson" of
// "uid=jjackson,ou=shadow,o=Tremolo"), for a header that must be short.
// DN values escape commas ("cn=Larsen\\, Priya,ou=…"), so the first RDN
// ends at the first comma not escaped, and its value is unescaped.
func shortUser(dn string) string {
	first := dn
	for i := 0; i < len(dn); i++ {
		if dn[i] == '\\' {
			i++
			continue
		}
		if dn[i] == ',' {
			first = dn[:i]
			break
		}
	}
	if _, v, ok := strings.Cut(first, "="); ok && v != "" {
		return unescapeDN(v)
	}
	return dn
}

// unescapeDN drops the backslashes RFC 4514 puts before special
// characters of a value.
func unescapeDN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// slackDate shows t in each reader's own time zone, with UTC as the
// fallback where Slack cannot format dates.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// mrkdwn escapes the three characters Slack's mrkdwn reads as markup.
func mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// code shows s verbatim in a code span; a backquote would end it.
func code(s string) string {
	return "`" + mrkdwn(strings.ReplaceAll(s, "`", "'")) + "`"
}

// SlackConfig is a slack entry of the sinks: list: an incoming webhook or
// a bot token with a channel. Every rule of which settings go together is
// here (the file's keys) or in slackFlags (the flags').
type SlackConfig struct {
	WebhookURL     Secret // from --slack-webhook-url or the environment
	WebhookURLFile string
	Token          Secret // from --slack-token or the environment
	TokenFile      string
	Channel        string
	APIURL         string
	RunbookURL     string
	Interval       time.Duration
	Burst          int
	ThreadWindow   time.Duration
	Timeout        time.Duration
}

func (s *SlackConfig) keys(c *Config) map[string]setting {
	return map[string]setting{
		"webhook_url_file": strField(&s.WebhookURLFile),
		"webhook_url":      inlineSecret("webhook_url_file", "--slack-webhook-url or GRACEGUARD_SLACK_WEBHOOK_URL"),
		"token_file":       strField(&s.TokenFile),
		"token":            inlineSecret("token_file", "--slack-token or GRACEGUARD_SLACK_TOKEN"),
		"channel":          strField(&s.Channel),
		"api_url":          strField(&s.APIURL),
		"runbook_url":      strField(&s.RunbookURL),
		"interval":         durField(&s.Interval),
		"burst":            numField(&s.Burst),
		"thread_window":    durField(&s.ThreadWindow),
		"timeout":          durField(&s.Timeout),
		"digest_after":     numField(&c.Delivery.DigestAfter),
		"digest_max":       numField(&c.Delivery.DigestMax),
	}
}

func (s *SlackConfig) bot() bool { return s.Token != "" || s.TokenFile != "" }

func (s *SlackConfig) validate() []string {
	p := onlyOne(s.WebhookURL != "" || s.WebhookURLFile != "", s.bot(),
		"webhook_url_file (an incoming webhook) or token_file with channel (a bot)")
	if s.bot() && s.Channel == "" {
		p = append(p, "a bot token needs a channel")
	}
	if s.Channel != "" && !s.bot() {
		p = append(p, "channel goes with a bot token (token_file); an incoming webhook posts to its own channel")
	}
	if s.APIURL != "" && !s.bot() {
		p = append(p, "api_url goes with a bot token (token_file)")
	}
	p = append(p, urlProblems("webhook URL", s.WebhookURL.Reveal(), true)...)
	p = append(p, urlProblems("api_url", s.APIURL, false)...)
	return append(p, urlProblems("runbook_url", s.RunbookURL, false)...)
}

func (s *SlackConfig) newSink() (Sink, error) {
	opt := SlackOptions{WebhookURL: s.WebhookURL, Token: s.Token, Channel: s.Channel, APIURL: s.APIURL,
		RunbookURL: s.RunbookURL, Timeout: s.Timeout, Interval: s.Interval, Burst: s.Burst, ThreadWindow: s.ThreadWindow}
	var err error
	if opt.WebhookURL, err = readSecret(opt.WebhookURL, s.WebhookURLFile, "webhook_url_file"); err != nil {
		return nil, err
	}
	if opt.Token, err = readSecret(opt.Token, s.TokenFile, "token_file"); err != nil {
		return nil, err
	}
	return newSlack(opt)
}

// SlackWebhookConfig is the sink --slack-webhook-url makes (the demo's too).
func SlackWebhookConfig(url string, runbook string, minSev alert.Severity) Config {
	return Config{Type: TypeSlack, Name: "slack", Origin: "--slack-webhook-url", MinSeverity: minSev,
		Sink: &SlackConfig{WebhookURL: Secret(strings.TrimSpace(url)), RunbookURL: runbook}}
}

type slackFlags struct {
	webhookURL, token, channel, apiURL, runbookURL string
}

func (f *slackFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.webhookURL, "slack-webhook-url", "", "post alerts to this Slack incoming webhook `URL` (a secret: prefer GRACEGUARD_SLACK_WEBHOOK_URL)")
	fs.StringVar(&f.token, "slack-token", "", "Slack bot `TOKEN` for chat.postMessage with --slack-channel (a secret: prefer GRACEGUARD_SLACK_TOKEN)")
	fs.StringVar(&f.channel, "slack-channel", "", "Slack `CHANNEL` for --slack-token")
	fs.StringVar(&f.apiURL, "slack-api-url", "", "Slack Web API base `URL` (Slack-compatible or test endpoints)")
	fs.StringVar(&f.runbookURL, "slack-runbook-url", "", "runbook `URL` linked in every Slack message")
}

func (f *slackFlags) configs(minSev alert.Severity) ([]Config, []string) {
	switch {
	case f.webhookURL != "" && f.token != "":
		return nil, []string{"--slack-webhook-url and --slack-token: give one (a bot token allows threads)"}
	case f.webhookURL != "":
		// --slack-channel and --slack-api-url shape a bot token's sink
		// only: a webhook posts to its own channel. Typed without
		// --slack-token they are the command's usage error; from a config
		// file or the environment, defaults left unused.
		if p := urlProblems("--slack-runbook-url", f.runbookURL, false); p != nil {
			return nil, p
		}
		return []Config{SlackWebhookConfig(f.webhookURL, f.runbookURL, minSev)}, nil
	case f.token != "":
		// Checked here rather than by validate, whose words name the
		// config key and the sink's own flag: the value came from another
		// flag, which the command blames on where it was set.
		p := urlProblems("--slack-api-url", f.apiURL, false)
		if p = append(p, urlProblems("--slack-runbook-url", f.runbookURL, false)...); p != nil {
			return nil, p
		}
		return []Config{{Type: TypeSlack, Name: "slack", Origin: "--slack-token", MinSeverity: minSev,
			Sink: &SlackConfig{Token: Secret(strings.TrimSpace(f.token)), Channel: f.channel, APIURL: f.apiURL, RunbookURL: f.runbookURL}}}, nil
	}
	return nil, nil
}
