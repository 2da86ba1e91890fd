package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// sliceSource yields prepared events, as a parsed input would.
type sliceSource struct {
	evs []parser.Event
	i   int
}

func (s *sliceSource) advance() bool           { s.i++; return s.i <= len(s.evs) }
func (s *sliceSource) event() *parser.Event    { return &s.evs[s.i-1] }
func (s *sliceSource) finish(_ *Summary) error { return nil }

var at0 = time.Date(2026, 11, 26, 9, 0, 4, 0, time.UTC)

const proxyTokenURL = "https://k8sou.example.com/auth/idp/k8sIdp/token"

func tokenEv(kind parser.Kind, at time.Duration, src, peer, user, thread string) parser.Event {
	return parser.Event{Kind: kind, Time: at0.Add(at), Source: src, SourceID: src, IP: netip.MustParseAddr(peer), Thread: thread,
		Session: "s-" + thread, URL: proxyTokenURL, IdP: "k8sIdp", User: user, Offset: int64(at)}
}

// nginxRec is ingress-nginx's record of the request OpenUnison logged at
// ou: $time_local, the end truncated to the second.
func nginxRec(src string, ou time.Duration, client, upstream, agent string, status int) parser.Event {
	d := 2 * time.Millisecond
	end := at0.Add(ou + d).Truncate(time.Second)
	return parser.Event{Kind: parser.KindProxy, Time: end, Source: src, Proxy: &parser.ProxyRecord{
		Format: parser.ProxyNginx, Client: netip.MustParseAddr(client), Agent: agent, Method: "POST",
		Path: "/auth/idp/k8sIdp/token", Status: status, Upstreams: []netip.AddrPort{netip.MustParseAddrPort(upstream + ":8443")},
		Start: end.Add(-d), End: end, Duration: d, Precision: time.Second,
	}}
}

const alice = "uid=alice,o=T"

// raceThroughTwoPods is client-go's benign race: the refresh through
// controller 10.1.67.12 to pod a, the reuse 43 ms later through controller
// 10.1.67.56 to pod b, after a few other users' refreshes.
func raceThroughTwoPods(withProxyLogs bool) [][]parser.Event {
	var ouA, ouB, ngx1, ngx2 []parser.Event
	for i := range 10 {
		at := time.Duration(i) * 900 * time.Millisecond
		user := fmt.Sprintf("uid=user%d,o=T", i)
		client := fmt.Sprintf("198.51.100.%d", 10+i)
		if i%2 == 0 {
			ouA = append(ouA, tokenEv(parser.KindTokenOK, at, "ou-a", "10.1.67.12", user, fmt.Sprint("a", i)))
			ngx1 = append(ngx1, nginxRec("ngx-1", at, client, "10.1.70.5", "Go-http-client/2.0", 200))
		} else {
			ouB = append(ouB, tokenEv(parser.KindTokenOK, at, "ou-b", "10.1.67.56", user, fmt.Sprint("b", i)))
			ngx2 = append(ngx2, nginxRec("ngx-2", at, client, "10.1.70.6", "Go-http-client/2.0", 200))
		}
	}
	at := 10 * time.Second
	ouA = append(ouA, tokenEv(parser.KindTokenOK, at+100*time.Millisecond, "ou-a", "10.1.67.12", alice, "race1"))
	ngx1 = append(ngx1, nginxRec("ngx-1", at+100*time.Millisecond, "203.0.113.9", "10.1.70.5", "Go-http-client/2.0", 200))
	ouB = append(ouB,
		tokenEv(parser.KindTokenOK, at+143*time.Millisecond, "ou-b", "10.1.67.56", alice, "race2"),
		tokenEv(parser.KindGraceReuse, at+143*time.Millisecond+40*time.Microsecond, "ou-b", "10.1.67.56", alice, "race2"))
	ngx2 = append(ngx2, nginxRec("ngx-2", at+143*time.Millisecond, "203.0.113.9", "10.1.70.6", "Go-http-client/2.0", 200))
	if !withProxyLogs {
		return [][]parser.Event{ouA, ouB}
	}
	return [][]parser.Event{ouA, ouB, ngx1, ngx2}
}

// judge runs the built-in rules over the inputs through attribution.
func judge(t *testing.T, opt attribute.Options, inputs ...[]parser.Event) ([]alert.Alert, attribute.Stats) {
	t.Helper()
	var got []alert.Alert
	det := NewDetector(correlate.NewMemory(correlate.Limits{}), rules.Builtin(), 0, func(_ context.Context, g []alert.Alert) error {
		got = append(got, g...)
		return nil
	})
	srcs := make([]eventSource, len(inputs))
	for i, in := range inputs {
		srcs[i] = &sliceSource{evs: in}
	}
	attr := attribute.New(opt)
	ctx := context.Background()
	if err := merge(ctx, srcs, attributed(attr, inline(det))); err != nil {
		t.Fatal(err)
	}
	if err := det.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return got, attr.Stats()
}

func aboveInfo(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		if a.Severity > alert.Info {
			out = append(out, a.Severity.String()+" "+a.Rule+" "+a.IP+" ← "+a.PrevIP)
		}
	}
	return out
}

func TestRaceThroughTwoControllerPodsIsQuiet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		withProxyLogs bool
		opt           attribute.Options
		unattributed  int64
	}{
		{name: "with the controllers' logs", withProxyLogs: true},
		{name: "without them, the controllers found by the users they carry", unattributed: 1},
		{name: "without them, the controllers given by --proxies", opt: attribute.Options{Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}}, unattributed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, st := judge(t, tt.opt, raceThroughTwoPods(tt.withProxyLogs)...)
			if loud := aboveInfo(got); len(loud) > 0 {
				t.Errorf("a benign race alerted: %q", loud)
			}
			if st.UnattributedReuses != tt.unattributed {
				t.Errorf("unattributed reuses %d, want %d", st.UnattributedReuses, tt.unattributed)
			}
			if tt.unattributed > 0 && !strings.Contains(UnattributedNote(st), "10.1.67.56") {
				t.Errorf("note %q does not name the proxy", UnattributedNote(st))
			}
		})
	}
}

func TestReplayThroughTheIngressNamesTheClient(t *testing.T) {
	t.Parallel()
	in := raceThroughTwoPods(true)
	at := 12 * time.Second
	in[1] = append(in[1],
		tokenEv(parser.KindTokenOK, at, "ou-b", "10.1.67.56", alice, "thief"),
		tokenEv(parser.KindGraceReuse, at+30*time.Microsecond, "ou-b", "10.1.67.56", alice, "thief"))
	in[3] = append(in[3], nginxRec("ngx-2", at, "192.0.2.66", "10.1.70.6", "curl/8.5.0", 200))
	got, _ := judge(t, attribute.Options{}, in...)
	var mismatch *alert.Alert
	for i := range got {
		if got[i].Rule == "reuse-ip-mismatch" {
			mismatch = &got[i]
		}
	}
	if mismatch == nil {
		t.Fatalf("no reuse-ip-mismatch; alerts %q", aboveInfo(got))
	}
	a := mismatch
	if a.IP != "192.0.2.66" || a.PrevIP != "203.0.113.9" || a.Peer != "10.1.67.56" || a.Via != "ingress-nginx 10.1.67.56" ||
		a.Agent != "curl/8.5.0" || a.PrevAgent != "Go-http-client/2.0" || a.Attribution != "joined" || a.Severity != alert.High {
		t.Errorf("alert %+v", *a)
	}
	if !strings.Contains(a.Summary, "192.0.2.66 via ingress-nginx 10.1.67.56, curl/8.5.0") {
		t.Errorf("summary %q", a.Summary)
	}
	agent := false
	for _, a := range got {
		agent = agent || a.Rule == "reuse-agent-mismatch"
	}
	if !agent {
		t.Errorf("curl reusing client-go's token raised no reuse-agent-mismatch: %q", aboveInfo(got))
	}
}

func TestIstioReplayFoundWithTheGatewayLog(t *testing.T) {
	t.Parallel()
	gw := netip.MustParseAddr("10.1.80.3")
	istio := func(ou time.Duration, client, agent string) parser.Event {
		start := at0.Add(ou - time.Millisecond).Truncate(time.Millisecond)
		return parser.Event{Kind: parser.KindProxy, Time: start, Source: "gateway", Proxy: &parser.ProxyRecord{
			Format: parser.ProxyIstio, Client: netip.MustParseAddr(client), Agent: agent, Method: "POST", Path: "/auth/idp/k8sIdp/token",
			Status: 200, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("10.1.70.5:8080")}, UpstreamLocal: gw,
			Start: start, End: start.Add(3 * time.Millisecond), Duration: 3 * time.Millisecond, Precision: time.Millisecond,
		}}
	}
	ou := []parser.Event{
		tokenEv(parser.KindTokenOK, 0, "ou-a", "127.0.0.6", alice, "t1"),
		tokenEv(parser.KindTokenOK, 2*time.Second, "ou-a", "127.0.0.6", alice, "t2"),
		tokenEv(parser.KindGraceReuse, 2*time.Second+20*time.Microsecond, "ou-a", "127.0.0.6", alice, "t2"),
	}
	gwLog := []parser.Event{istio(0, "203.0.113.9", "Go-http-client/2.0"), istio(2*time.Second, "192.0.2.66", "python-requests/2.31")}
	got, _ := judge(t, attribute.Options{}, ou, gwLog)
	found := false
	for _, a := range got {
		if a.Rule == "reuse-ip-mismatch" && a.IP == "192.0.2.66" && a.PrevIP == "203.0.113.9" && a.Peer == "127.0.0.6" && a.Via == "istio 10.1.80.3" {
			found = true
		}
	}
	if !found {
		t.Errorf("the replay behind Istio was not named: %q", aboveInfo(got))
	}
	// Without the gateway's log the same lines prove nothing.
	got, st := judge(t, attribute.Options{}, ou)
	if loud := aboveInfo(got); len(loud) > 0 || st.UnattributedReuses != 1 {
		t.Errorf("without the gateway log: alerts %q, unattributed %d", loud, st.UnattributedReuses)
	}
}

// inline has det judge each event on the caller's goroutine, as the tests
// of the merge want.
func inline(det *Detector) func(*parser.Event) error {
	return func(ev *parser.Event) error { return det.Observe(context.Background(), ev) }
}

// A proxy log was given but none of its records lines up with the reuses
// (the nodes' clocks apart, a wrong --timezone): the note must not say the
// log was not given, which sends the reader looking for a log already there.
func TestUnattributedNoteWhenTheProxyLogWasGiven(t *testing.T) {
	t.Parallel()
	st := attribute.Stats{UnattributedReuses: 2, ProxyLogs: 1, RecordsUnmatched: 53,
		Unattributed: map[netip.Addr]int64{netip.MustParseAddr("10.1.67.12"): 55}}
	note := UnattributedNote(st)
	if strings.Contains(note, "not given") || !strings.Contains(note, "10.1.67.12") ||
		!strings.Contains(note, "53 records unmatched") || !strings.Contains(note, "--timezone") {
		t.Errorf("note %q: want the proxy named, its unmatched records counted and the causes said, not \"not given\"", note)
	}
	if !strings.Contains(note, "--proxy-clock-skew (5ms here)") {
		t.Errorf("note %q: want the default skew said", note)
	}
	st.Skew = 250 * time.Millisecond
	if note := UnattributedNote(st); !strings.Contains(note, "--proxy-clock-skew (250ms here)") {
		t.Errorf("note %q: want the skew the run used, not the default", note)
	}
	st.ProxyLogs = 0
	if note := UnattributedNote(st); !strings.Contains(note, "not given") {
		t.Errorf("note %q: without a proxy log it was not given", note)
	}
}

// Reuses joined to records that name no client ("-") are unattributed for
// a reason of the log's format: the note says so, not that the log is
// missing or out of line.
func TestUnattributedNoteWhenTheRecordsNameNoClient(t *testing.T) {
	t.Parallel()
	st := attribute.Stats{UnattributedReuses: 2, NoClientReuses: 2, ProxyLogs: 1,
		Unattributed: map[netip.Addr]int64{netip.MustParseAddr("10.1.67.12"): 2}}
	note := UnattributedNote(st)
	if strings.Contains(note, "not given") || strings.Contains(note, "unmatched") || !strings.Contains(note, "name no client") ||
		!strings.Contains(note, "%DOWNSTREAM_REMOTE_ADDRESS%") {
		t.Errorf("note %q: want the records' missing client named as the cause", note)
	}
	st.NoClientReuses = 1
	if note := UnattributedNote(st); strings.Contains(note, "name no client") {
		t.Errorf("note %q: with one of two for that reason, the other cause is still the one to say", note)
	}
}

// Reuses left unattributed because the token requests around them
// outnumbered the proxy's records (one request's record missing, or its
// path forged through X-Envoy-Original-Path) are so for neither a missing
// log nor skewed clocks: the note says what it is and what to do, also
// for some of them among others.
func TestUnattributedNoteWhenOutnumbered(t *testing.T) {
	t.Parallel()
	st := attribute.Stats{UnattributedReuses: 2, OutnumberedReuses: 2, ProxyLogs: 1,
		Unattributed: map[netip.Addr]int64{netip.MustParseAddr("10.1.67.12"): 2}}
	note := UnattributedNote(st)
	if strings.Contains(note, "not given") || strings.Contains(note, "--timezone") ||
		!strings.Contains(note, "more token requests") || !strings.Contains(note, "X-Envoy-Original-Path") {
		t.Errorf("note %q: want the outnumbered requests named as the cause, and the header to strip", note)
	}
	st.UnattributedReuses = 3
	note = UnattributedNote(st)
	if !strings.Contains(note, "--timezone") || !strings.Contains(note, "2 of them") {
		t.Errorf("note %q: with 2 of 3 outnumbered, the other cause is said and the 2 counted", note)
	}
}
