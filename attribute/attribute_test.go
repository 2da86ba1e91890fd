package attribute

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 4, 0, time.UTC)

const (
	ouA, ouB     = "openunison-a.log", "openunison-b.log"
	ngx1, ngx2   = "nginx-1.log", "nginx-2.log"
	tokenURL     = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	tokenPath    = "/auth/idp/k8sIdp/token"
	kubectlAgent = "Go-http-client/2.0"
)

var (
	podA, podB     = netip.MustParseAddr("10.1.70.5"), netip.MustParseAddr("10.1.70.6")
	ctl1, ctl2     = netip.MustParseAddr("10.1.67.12"), netip.MustParseAddr("10.1.67.56")
	alice, thief   = netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.66")
	gatewayPod     = netip.MustParseAddr("10.1.80.3")
	sidecarInbound = netip.MustParseAddr("127.0.0.6")
	inPod          = netip.MustParseAddr("10.244.5.31")
)

// ou is an OpenUnison token event.
func ou(kind parser.Kind, at time.Duration, src string, peer netip.Addr, thread string) parser.Event {
	return parser.Event{Kind: kind, Time: t0.Add(at), Source: src, IP: peer, Thread: thread, Session: "s-" + thread,
		URL: tokenURL, IdP: "k8sIdp", User: "uid=alice,o=T"}
}

// nginx is ingress-nginx's record of a request OpenUnison logged at ou:
// written when it ends, $time_local truncated to the second.
func nginx(src string, ou time.Duration, client, upstream netip.Addr, status int, agent string) parser.Event {
	d := 3 * time.Millisecond
	end := t0.Add(ou + d).Truncate(time.Second)
	return parser.Event{Kind: parser.KindProxy, Time: end, Source: src, Proxy: &parser.ProxyRecord{
		Format: parser.ProxyNginx, Client: client, Agent: agent, Method: "POST", Path: tokenPath, Status: status,
		Upstreams: []netip.AddrPort{netip.AddrPortFrom(upstream, 8443)}, End: end, Start: end.Add(-d), Duration: d, Precision: time.Second,
	}}
}

// istio is an Istio gateway's record: start time and duration in ms.
func istio(src string, ou time.Duration, client, upstream, local netip.Addr) parser.Event {
	start := t0.Add(ou - time.Millisecond).Truncate(time.Millisecond)
	return parser.Event{Kind: parser.KindProxy, Time: start, Source: src, Proxy: &parser.ProxyRecord{
		Format: parser.ProxyIstio, Client: client, Agent: "curl/8.5.0", Method: "POST", Path: tokenPath, Status: 200,
		Upstreams: []netip.AddrPort{netip.AddrPortFrom(upstream, 8080)}, UpstreamLocal: local,
		Start: start, End: start.Add(4 * time.Millisecond), Duration: 4 * time.Millisecond, Precision: time.Millisecond,
	}}
}

// run pushes events in order and releases them as a scan does.
func run(a *Attributor, evs ...parser.Event) []parser.Event {
	var out []parser.Event
	for _, ev := range evs {
		if ev.Kind == parser.KindProxy {
			a.ExpectProxies() // as scan does when an input is a proxy log
		}
	}
	for _, ev := range evs {
		a.Push(ev, t0)
		out = a.Release(out, func(string) time.Time { return ev.Time }, t0)
	}
	return a.Flush(out)
}

func TestAttribution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Options
		in   []parser.Event
		want []string // per released token event: attribution ip peer via agent candidates
	}{
		{
			name: "a refresh through ingress-nginx is joined to the client",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
			},
			want: []string{"joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []"},
		},
		{
			name: "a client-go race through two controller pods 43 ms apart is one client's",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
				ou(parser.KindTokenOK, 143*time.Millisecond, ouB, ctl2, "t2"),
				ou(parser.KindGraceReuse, 143*time.Millisecond+50*time.Microsecond, ouB, ctl2, "t2"),
				nginx(ngx2, 143*time.Millisecond, alice, podB, 200, kubectlAgent),
			},
			want: []string{
				"joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []",
				"joined 203.0.113.9 10.1.67.56 [ingress-nginx 10.1.67.56] Go-http-client/2.0 []",
				"joined 203.0.113.9 10.1.67.56 [ingress-nginx 10.1.67.56] Go-http-client/2.0 []",
			},
		},
		{
			name: "two clients in one second, far apart: nginx's order tells them apart",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
				ou(parser.KindTokenOK, 600*time.Millisecond, ouA, ctl1, "t2"),
				nginx(ngx1, 600*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{
				"joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []",
				"joined 192.0.2.66 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
			},
		},
		{
			// Before any mapping is learned a private peer may be a proxy,
			// so a pod's refresh meeting another client's record in the
			// same second is joined to it; that one coincidence must not
			// make the pod a proxy for good.
			name: "an in-cluster client once joined by coincidence is still a client when no record matches",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, inPod, "t1"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
				ou(parser.KindTokenOK, time.Minute, ouA, inPod, "t2"),
			},
			want: []string{
				"joined 203.0.113.9 10.244.5.31 [ingress-nginx 10.244.5.31] Go-http-client/2.0 []",
				"direct 10.244.5.31 10.244.5.31 []  []",
			},
		},
		{
			// Two pods' logs keep no order between them: at one second's
			// precision, the order in which their records arrive says
			// nothing of which request came first.
			name: "two clients in one second through two controller pods, nothing learned yet: ambiguous, never paired by arrival",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
				ou(parser.KindTokenOK, 600*time.Millisecond, ouB, ctl2, "t2"),
				nginx(ngx2, 600*time.Millisecond, thief, podB, 200, "curl/8.5.0"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
			},
			want: []string{
				"ambiguous 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12]  [192.0.2.66 203.0.113.9]",
				"ambiguous 10.1.67.56 10.1.67.56 [ingress-nginx 10.1.67.56]  [192.0.2.66 203.0.113.9]",
			},
		},
		{
			name: "two clients at the same moment are ambiguous, never a guess",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
				ou(parser.KindTokenOK, 101*time.Millisecond, ouA, ctl1, "t2"),
				nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
				nginx(ngx1, 101*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{
				"ambiguous 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12]  [192.0.2.66 203.0.113.9]",
				"ambiguous 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12]  [192.0.2.66 203.0.113.9]",
			},
		},
		{
			name: "a failed refresh is joined to a 4xx, not to the 200 beside it",
			in: []parser.Event{
				ou(parser.KindTokenFail, 100*time.Millisecond, ouA, ctl1, "t1"),
				ou(parser.KindTokenOK, 101*time.Millisecond, ouA, ctl1, "t2"),
				nginx(ngx1, 100*time.Millisecond, thief, podA, 401, "curl/8.5.0"),
				nginx(ngx1, 101*time.Millisecond, alice, podA, 200, kubectlAgent),
			},
			want: []string{
				"joined 192.0.2.66 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
				"joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []",
			},
		},
		{
			name: "behind Istio the gateway's record names the client",
			in: []parser.Event{
				istio("gateway.log", 100*time.Millisecond, thief, podA, gatewayPod),
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1"),
				ou(parser.KindGraceReuse, 100*time.Millisecond+20*time.Microsecond, ouA, sidecarInbound, "t1"),
			},
			want: []string{
				"joined 192.0.2.66 127.0.0.6 [istio 10.1.80.3] curl/8.5.0 []",
				"joined 192.0.2.66 127.0.0.6 [istio 10.1.80.3] curl/8.5.0 []",
			},
		},
		{
			// A record whose client field is "-" (Envoy's with no downstream
			// address, a custom format logging an absent header) joins the
			// request but names nobody: "joined" kept the proxy's own address
			// as the client, and a replay through it could never differ.
			name: "a record that names no client is unattributed, not joined to the proxy",
			in: []parser.Event{
				istio("gateway.log", 100*time.Millisecond, netip.Addr{}, podA, gatewayPod),
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1"),
				ou(parser.KindGraceReuse, 100*time.Millisecond+20*time.Microsecond, ouA, sidecarInbound, "t1"),
			},
			want: []string{
				"unattributed 127.0.0.6 127.0.0.6 [istio 10.1.80.3] curl/8.5.0 []",
				"unattributed 127.0.0.6 127.0.0.6 [istio 10.1.80.3] curl/8.5.0 []",
			},
		},
		{
			name: "a reuse through a configured proxy with no log is unattributed",
			opt:  Options{Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}},
			in: []parser.Event{
				ou(parser.KindGraceReuse, 100*time.Millisecond, ouA, ctl1, "t1"),
			},
			want: []string{"unattributed 10.1.67.12 10.1.67.12 [proxy 10.1.67.12]  []"},
		},
		{
			name: "behind a mesh with no gateway log, everything is unattributed",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1"),
			},
			want: []string{"unattributed 127.0.0.6 127.0.0.6 [proxy 127.0.0.6]  []"},
		},
		{
			name: "an in-cluster client calling the Service is judged as a client",
			in: []parser.Event{
				ou(parser.KindGraceReuse, 100*time.Millisecond, ouA, netip.MustParseAddr("10.1.90.4"), "t1"),
			},
			want: []string{"direct 10.1.90.4 10.1.90.4 []  []"},
		},
		{
			name: "a public peer is a client even when a proxy record fits in time",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*time.Millisecond, ouA, alice, "t1"),
				nginx(ngx1, 100*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{"direct 203.0.113.9 203.0.113.9 []  []"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := describe(run(New(tt.opt), tt.in...))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func describe(evs []parser.Event) []string {
	var out []string
	for _, ev := range evs {
		if !IsToken(ev.Kind) {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s %s [%s] %s %v", ev.Attribution, ev.IP, ev.Peer, ev.Via, ev.Agent, ev.Candidates))
	}
	return out
}

func TestCrowdMakesAProxy(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	var in []parser.Event
	for i := range 6 {
		ev := ou(parser.KindTokenOK, time.Duration(i)*time.Second, ouA, ctl1, fmt.Sprint("t", i))
		ev.User = fmt.Sprintf("uid=user%d,o=T", i)
		in = append(in, ev)
	}
	got := describe(run(a, in...))
	want := "unattributed 10.1.67.12 10.1.67.12 [proxy 10.1.67.12]  []"
	if got[3] == want || got[4] != want || got[5] != want {
		t.Errorf("the fifth user through one private address should make it a proxy: %q", got)
	}
	if s := a.Stats(); s.Unattributed[ctl1] != 2 {
		t.Errorf("unattributed by proxy = %v", s.Unattributed)
	}
}

func TestRecordAfterItsEventWaits(t *testing.T) {
	t.Parallel()
	// The proxy log's peer is given (Kubernetes mode): nothing waits for
	// learning (TestEarlyEventsWaitForTheMappings), only for the record.
	a := New(Options{Window: time.Second, ProxyPeers: map[string]netip.Addr{ngx1: ctl1}})
	ev := ou(parser.KindTokenOK, 900*time.Millisecond, ouA, ctl1, "t1")
	a.Push(ev, t0)
	clock := func(string) time.Time { return t0.Add(time.Second) }
	if out := a.Release(nil, clock, t0); len(out) != 0 {
		t.Fatalf("released before the proxy log caught up: %v", describe(out))
	}
	a.Push(nginx(ngx1, 900*time.Millisecond, alice, podA, 200, kubectlAgent), t0)
	out := a.Release(nil, func(string) time.Time { return t0.Add(3 * time.Second) }, t0)
	if got := describe(out); len(got) != 1 || got[0] != "joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []" {
		t.Errorf("got %q", got)
	}
}

// A proxy's log read far ahead of OpenUnison's (a backlog read a file at a
// time) does not settle a request's join while the OpenUnison requests
// logged after it are unread: they compete for the same records. Each case
// reads OpenUnison's log line by line behind the whole proxy log, and must
// come to what reading both in time order (scan) does.
func TestProxyLogReadAheadWaitsForOpenUnisonsLog(t *testing.T) {
	t.Parallel()
	opt := Options{ProxyPeers: map[string]netip.Addr{ngx1: ctl1}}
	for _, tc := range []struct {
		name   string
		ou, px []parser.Event
	}{
		{
			name: "two clients in one second, far apart: the second request tells the first's record",
			ou:   cat([]parser.Event{ou(parser.KindTokenOK, 550*time.Millisecond, ouA, ctl1, "t1")}, reuse(687*time.Millisecond, ouA, ctl1, "t2")),
			px: []parser.Event{nginx(ngx1, 550*time.Millisecond, alice, podA, 200, kubectlAgent),
				nginx(ngx1, 687*time.Millisecond, thief, podA, 200, "curl/8.5.0")},
		},
		{
			name: "a bot replaying 5 ms after the refresh: the pair proof",
			ou:   cat([]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")}, reuse(105*time.Millisecond, ouA, ctl1, "t2")),
			px: []parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent),
				nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := describeDistinct(run(New(opt), cat(tc.ou, tc.px)...))
			a := New(opt)
			for _, r := range tc.px {
				a.Push(r, t0)
			}
			var out []parser.Event
			for _, ev := range tc.ou {
				a.Push(ev, t0)
				behind := func(src string) time.Time {
					if src == ouA {
						return ev.Time
					}
					return t0.Add(time.Minute)
				}
				out = a.Release(out, behind, t0)
			}
			out = a.Flush(out)
			if got := describeDistinct(out); !slices.Equal(got, want) {
				t.Errorf("read behind the proxy log: %q\nin time order:          %q", got, want)
			}
		})
	}
}

// TestProxyLogsReadOneAfterAnother: watch catching up reads a backlog a
// file at a time, so one proxy log's records all arrive before another's
// that are as old or older, while both logs' requests wait for them. Each
// request must still meet its record, as in a scan that merges the logs by
// time: a search that took the records for one time-ordered list found the
// other log's records nowhere near where it looked, and left the replay
// through the second controller pod unattributed.
func TestProxyLogsReadOneAfterAnother(t *testing.T) {
	t.Parallel()
	bob := netip.MustParseAddr("198.51.100.23")
	// ngx1 carries bob's refreshes, two a second for 75 s; ngx2 alice's
	// refresh and, 1.5 s later, the thief's replay of the token it rotated.
	var ngx1Log, ouALog []parser.Event
	for i := range 150 {
		at := time.Duration(i)*500*time.Millisecond + 20*time.Millisecond
		ev := ou(parser.KindTokenOK, at, ouA, ctl1, fmt.Sprint("b", i))
		ev.User = "uid=bob,o=T"
		ouALog = append(ouALog, ev)
		ngx1Log = append(ngx1Log, nginx(ngx1, at, bob, podA, 200, kubectlAgent))
	}
	ngx2Log := []parser.Event{
		nginx(ngx2, 50200*time.Millisecond, alice, podB, 200, kubectlAgent),
		nginx(ngx2, 51700*time.Millisecond, thief, podB, 200, "curl/8.5.0"),
	}
	ouBLog := cat([]parser.Event{ou(parser.KindTokenOK, 50200*time.Millisecond, ouB, ctl2, "a1")}, reuse(51700*time.Millisecond, ouB, ctl2, "a2"))

	for _, opt := range []struct {
		name string
		opt  Options
	}{
		{"mappings given (Kubernetes)", Options{ProxyPeers: map[string]netip.Addr{ngx1: ctl1, ngx2: ctl2}, Upstreams: map[netip.Addr]string{podA: ouA, podB: ouB}}},
		{"mappings learned", Options{}},
	} {
		all := cat(ngx1Log, ngx2Log, ouALog, ouBLog)
		inTime := slices.Clone(all)
		slices.SortStableFunc(inTime, func(x, y parser.Event) int { return x.Time.Compare(y.Time) })
		want := describe(run(New(opt.opt), inTime...))
		if got := ngx2Lines(want); !slices.Equal(got, []string{"joined 203.0.113.9", "joined 192.0.2.66", "joined 192.0.2.66"}) {
			t.Fatalf("%s: merged by time, the requests through ngx2: %q", opt.name, got)
		}
		for _, order := range []struct {
			name string
			logs [][]parser.Event
		}{
			{"ngx1's backlog first", [][]parser.Event{ngx1Log, ngx2Log}},
			{"ngx2's first", [][]parser.Event{ngx2Log, ngx1Log}},
		} {
			a := New(opt.opt)
			a.ExpectProxies()
			for _, log := range order.logs {
				for _, r := range log {
					a.Push(r, t0)
				}
			}
			var out []parser.Event
			for _, ev := range mergeByTime(ouALog, ouBLog) {
				a.Push(ev, t0)
				out = a.Release(out, func(string) time.Time { return ev.Time }, t0)
			}
			if got := describe(a.Flush(out)); !slices.Equal(got, want) {
				t.Errorf("%s, %s: the requests through ngx2 %q, merged by time %q; first difference %q", opt.name, order.name, ngx2Lines(got), ngx2Lines(want), firstDiff(got, want))
			}
		}
	}
}

func mergeByTime(logs ...[]parser.Event) []parser.Event {
	out := cat(logs...)
	slices.SortStableFunc(out, func(x, y parser.Event) int { return x.Time.Compare(y.Time) })
	return out
}

// ngx2Lines is the attribution and client of the described events logged
// with ngx2's peer.
func ngx2Lines(described []string) []string {
	var out []string
	for _, d := range described {
		if f := strings.Fields(d); len(f) > 2 && f[2] == ctl2.String() {
			out = append(out, f[0]+" "+f[1])
		}
	}
	return out
}

// describeDistinct is describe with each event's DistinctFromPrev.
func describeDistinct(evs []parser.Event) []string {
	out := describe(evs)
	for i, ev := range slices.DeleteFunc(slices.Clone(evs), func(ev parser.Event) bool { return !IsToken(ev.Kind) }) {
		out[i] += fmt.Sprintf(" distinct=%v", ev.DistinctFromPrev)
	}
	return out
}

// A quiet proxy log (Quiet) vouches for an event only once it has waited
// Lag: the proxy writes the record of a request after OpenUnison's line, so
// the record of the event just logged may still come; it is joined when it
// does, and an event with no record goes once Lag is over.
func TestQuietProxyLogWaitsLag(t *testing.T) {
	t.Parallel()
	quiet := func(string) time.Time { return Quiet }
	for _, tc := range []struct {
		name   string
		record bool
		want   string
	}{
		{"record in flight", true, "joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []"},
		{"no record", false, "unattributed 10.1.67.12 10.1.67.12 [proxy 10.1.67.12]  []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(Options{Window: time.Second, Lag: 300 * time.Millisecond, ProxyPeers: map[string]netip.Addr{ngx1: ctl1}})
			a.Push(ou(parser.KindGraceReuse, 5*time.Second, ouA, ctl1, "t1"), t0)
			if out := a.Release(nil, quiet, t0.Add(100*time.Millisecond)); len(out) != 0 {
				t.Fatalf("released by a quiet log before Lag: %v", describe(out))
			}
			if tc.record {
				a.Push(nginx(ngx1, 5*time.Second, alice, podA, 200, kubectlAgent), t0.Add(200*time.Millisecond))
			}
			out := a.Release(nil, quiet, t0.Add(300*time.Millisecond))
			if got := describe(out); len(got) != 1 || got[0] != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A grace reuse read a poll after its [AzSuccess] twin goes with it once
// the twin is attributed: its record is the twin's, and a refresh released
// without the reuse of the same request would be judged alone.
func TestQuietProxyLogReleasesTwinsTogether(t *testing.T) {
	t.Parallel()
	quiet := func(string) time.Time { return Quiet }
	a := New(Options{Window: time.Second, Lag: 300 * time.Millisecond, ProxyPeers: map[string]netip.Addr{ngx1: ctl1}})
	a.Push(nginx(ngx1, 5*time.Second, thief, podA, 200, kubectlAgent), t0)
	a.Push(ou(parser.KindTokenOK, 5*time.Second, ouA, ctl1, "t1"), t0)
	a.Push(ou(parser.KindGraceReuse, 5*time.Second, ouA, ctl1, "t1"), t0.Add(100*time.Millisecond))
	out := a.Release(nil, quiet, t0.Add(300*time.Millisecond))
	want := "joined 192.0.2.66 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []"
	if got := describe(out); len(got) != 2 || got[0] != want || got[1] != want {
		t.Errorf("got %q, want the refresh and its reuse, both %q", got, want)
	}
}

func TestWaitIsBoundedInWallTime(t *testing.T) {
	t.Parallel()
	a := New(Options{Window: time.Second, MaxWait: 3 * time.Second, Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}})
	a.Push(nginx(ngx1, 0, alice, podA, 200, kubectlAgent), t0)
	a.Push(ou(parser.KindGraceReuse, 5*time.Second, ouA, ctl1, "t1"), t0)
	stuck := func(string) time.Time { return t0 }
	if out := a.Release(nil, stuck, t0.Add(2*time.Second)); len(out) != 0 {
		t.Fatal("released before MaxWait")
	}
	out := a.Release(nil, stuck, t0.Add(3*time.Second))
	if got := describe(out); len(got) != 1 || got[0] != "unattributed 10.1.67.12 10.1.67.12 [proxy 10.1.67.12]  []" {
		t.Errorf("got %q", got)
	}
	if s := a.Stats(); s.UnattributedReuses != 1 {
		t.Errorf("unattributed reuses = %d", s.UnattributedReuses)
	}
}

func TestMappingsAreLearned(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	var in []parser.Event
	// Two OpenUnison pods behind two controllers; a quiet start (a request
	// every 1.1 s teaches the pairs), then requests every 300 ms, so most
	// seconds hold several requests of different pairs.
	srcs := []struct {
		ou, ngx  string
		pod, ctl netip.Addr
	}{{ouA, ngx1, podA, ctl1}, {ouB, ngx2, podB, ctl2}, {ouA, ngx2, podA, ctl2}, {ouB, ngx1, podB, ctl1}}
	for i := range 40 {
		s := srcs[i%4]
		at := time.Duration(i) * 1100 * time.Millisecond
		if i >= 10 {
			at = 11*time.Second + time.Duration(i)*300*time.Millisecond
		}
		client := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		in = append(in, ou(parser.KindTokenOK, at, s.ou, s.ctl, fmt.Sprint("t", i)), nginx(s.ngx, at, client, s.pod, 200, kubectlAgent))
	}
	out := run(a, in...)
	if s := a.Stats(); s.Upstreams != 2 {
		t.Errorf("learned %d upstreams, want 2", s.Upstreams)
	}
	if a.learn.upstream[ouA] != podA || a.learn.peer[ngx2] != ctl2 {
		t.Errorf("learned upstreams %v, peers %v", a.learn.upstream, a.learn.peer)
	}
	joined := 0
	for i, ev := range out {
		if ev.Attribution == parser.AttrJoined {
			joined++
			if want := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}); ev.IP != want {
				t.Errorf("event %d joined to %s, want %s", i, ev.IP, want)
			}
		}
	}
	if joined != 40 {
		t.Errorf("%d of 40 joined: %q", joined, describe(out))
	}
}

func TestMemoryIsBounded(t *testing.T) {
	t.Parallel()
	a := New(Options{MaxPending: 10})
	a.ExpectProxies()
	for i := range 30 {
		a.Push(nginx(ngx1, time.Duration(i)*time.Millisecond, alice, podA, 200, kubectlAgent), t0)
		a.Push(ou(parser.KindTokenOK, time.Duration(i)*time.Millisecond, ouA, ctl1, fmt.Sprint("t", i)), t0)
	}
	out := a.Release(nil, func(string) time.Time { return t0 }, t0)
	s := a.Stats()
	if s.WaitingRecords > 10 || s.WaitingEvents > 10 || s.RecordsEvicted != 20 || s.EventsEvicted != 20 || len(out) != 20 {
		t.Errorf("stats %+v, released %d", s, len(out))
	}
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	a.ExpectProxies()
	a.Push(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"), t0)
	a.Push(nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), t0)
	a.learn.setUpstream(ouA, podA)
	b := New(Options{})
	b.Restore(a.Snapshot(), t0)
	if !b.Expecting() || b.learn.upstream[ouA] != podA {
		t.Errorf("restored %+v", b.Snapshot())
	}
	got := describe(b.Flush(nil))
	if len(got) != 1 || got[0] != "joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []" {
		t.Errorf("after restore: %q", got)
	}
}

// A restored attributor waits for the same logs the saved one did: every
// OpenUnison log and every proxy log it had seen, not only those whose
// events or records were held when it was saved. Forgotten, a held
// event went on before the other replica's log (its twin's) or the
// quiet proxy's log (its record's) was read past it.
func TestRestoredAttributorWaitsForEveryLogTheSavedOneHadSeen(t *testing.T) {
	t.Parallel()
	held := ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")
	past := 10 * time.Second
	for _, tc := range []struct {
		name   string
		seen   func(a *Attributor)
		behind string // the log still read only to t0
	}{
		{"another OpenUnison log", func(a *Attributor) {
			a.Push(ou(parser.KindTokenOK, -time.Minute, ouB, ctl2, "t0"), t0)
		}, ouB},
		{"a proxy log with nothing held", func(a *Attributor) { a.ExpectSource(ngx2) }, ngx2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The proxies are known, so nothing waits to learn them.
			opt := Options{Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}}
			a := New(opt)
			a.ExpectProxies()
			a.Push(nginx(ngx1, 0, alice, podA, 200, kubectlAgent), t0)
			tc.seen(a)
			clock := func(src string) time.Time {
				if src == tc.behind {
					return t0
				}
				return t0.Add(past)
			}
			if a.Release(nil, clock, t0.Add(time.Second)); len(a.Snapshot().Events) != 0 {
				t.Fatalf("still held: %+v", a.Snapshot().Events)
			}
			a.Push(held, t0)
			if got := a.Release(nil, clock, t0.Add(time.Second)); len(got) != 0 {
				t.Fatalf("before saving, released %q", describe(got))
			}
			b := New(opt)
			b.Restore(a.Snapshot(), t0)
			// Past the proxies' lag, within MaxWait: only the clocks hold it.
			if got := b.Release(nil, clock, t0.Add(time.Second)); len(got) != 0 {
				t.Errorf("restored, released %q before %s was read past it", describe(got), tc.behind)
			}
			if got := b.Release(nil, func(string) time.Time { return t0.Add(past) }, t0.Add(time.Second)); len(got) != 1 {
				t.Errorf("restored, released %q once every log was read past it", describe(got))
			}
		})
	}
}

// Behind proxies whose logs are not read, every token event is
// unattributed and names its proxy: the right one for each event, and
// without building the name anew for each (it was an allocation an event).
func TestUnattributedViaNamesEachProxyWithoutAllocating(t *testing.T) {
	a := New(Options{Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}})
	var i int
	pass := func(peer netip.Addr) parser.Event {
		ev := ou(parser.KindTokenOK, time.Duration(i)*time.Second, ouA, peer, "t1")
		i++
		if !a.Pass(&ev, ev.Time) {
			t.Fatal("a token event with no proxy log waited")
		}
		return ev
	}
	for _, peer := range []netip.Addr{ctl1, ctl1, ctl2, ctl1, ctl2, ctl2} {
		ev := pass(peer)
		if want := "proxy " + peer.String(); ev.Attribution != parser.AttrUnattributed || ev.Via != want {
			t.Fatalf("%s: %s via %q, want unattributed via %q", peer, ev.Attribution, ev.Via, want)
		}
	}
	tmpl := ou(parser.KindTokenOK, 0, ouA, ctl1, "t1")
	var ev parser.Event
	if n := testing.AllocsPerRun(100, func() {
		ev = tmpl
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		i++
		a.Pass(&ev, ev.Time)
	}); n != 0 {
		t.Errorf("%.1f allocations an event behind one proxy, want 0", n)
	}
}

// HeldBefore names the earliest event of a source attribution holds,
// before a time, and nothing once they went on.
func TestHeldBefore(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	a.ExpectProxies()
	a.Push(ou(parser.KindTokenOK, 2*time.Second, ouA, ctl1, "t1"), t0)
	a.Push(ou(parser.KindTokenOK, time.Second, "other", ctl1, "t2"), t0)
	a.Push(ou(parser.KindTokenOK, 3*time.Second, ouA, ctl1, "t3"), t0)
	for _, tc := range []struct {
		src    string
		until  time.Duration
		want   time.Duration
		wantOK bool
	}{
		{ouA, time.Minute, 2 * time.Second, true},
		{ouA, 2 * time.Second, 0, false}, // held at 2s, not before it
		{"other", time.Minute, time.Second, true},
		{"nobody", time.Minute, 0, false},
	} {
		got, ok := a.HeldBefore(tc.src, t0.Add(tc.until))
		if ok != tc.wantOK || ok && !got.Equal(t0.Add(tc.want)) {
			t.Errorf("HeldBefore(%s, +%v) = %v %v, want +%v %v", tc.src, tc.until, got.Sub(t0), ok, tc.want, tc.wantOK)
		}
	}
	a.Flush(nil)
	for _, src := range []string{ouA, "other"} {
		if _, ok := a.HeldBefore(src, t0.Add(time.Minute)); ok {
			t.Errorf("HeldBefore(%s) found an event after the flush", src)
		}
	}
	if len(a.heldBy) != 0 {
		t.Errorf("heldBy %v after the flush, want empty", a.heldBy)
	}
}

// firstDiff is the first line where got and want differ, both ways.
func firstDiff(got, want []string) [2]string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return [2]string{g, w}
		}
	}
	return [2]string{}
}

// A rotated generation read under the name it has now (SameLog) is its
// log's file: the upstream and the peer learned for the log hold for it,
// and survive a checkpoint. Learned under the log's name only, they
// refused every record to a generation's requests.
func TestGenerationsShareTheirLogsMappings(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	a.learn.setUpstream(ouA, podA)
	a.learn.setPeer(ngx1, ctl1)
	a.SameLog(ouA+".1", ouA)
	a.SameLog(ngx1+".2", ngx1)
	b := New(Options{})
	b.Restore(a.Snapshot(), t0)
	for name, at := range map[string]*Attributor{"learned": a, "restored": b} {
		got := describe(run(at,
			ou(parser.KindTokenOK, 100*time.Millisecond, ouA+".1", ctl1, "t1"),
			nginx(ngx1+".2", 100*time.Millisecond, alice, podA, 200, kubectlAgent)))
		if len(got) != 1 || !strings.HasPrefix(got[0], "joined 203.0.113.9 ") {
			t.Errorf("%s: a generation's request %q, want joined to its record", name, got)
		}
	}
}

// What is learned per log name is capped at maxVoteKeys names; each start
// afresh at a cap is counted (graceguard_attribution_evicted_total's
// learned_names), as every cache's eviction is.
func TestLearnedNamesForgottenAtTheirCapAreCounted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		learn func(a *Attributor, i int)
	}{
		{"generations' logs", func(a *Attributor, i int) { a.SameLog(fmt.Sprintf("ou.log.%d", i+1), "ou.log") }},
		{"upstreams", func(a *Attributor, i int) {
			a.learn.setUpstream(fmt.Sprintf("ou-%d.log", i), netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
		}},
		{"proxy logs", func(a *Attributor, i int) { a.ExpectSource(fmt.Sprintf("ingress-%d.log", i)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			for i := range maxVoteKeys {
				tt.learn(a, i)
			}
			if n := a.Stats().NamesForgotten; n != 0 {
				t.Fatalf("%d names forgotten within the cap", n)
			}
			tt.learn(a, maxVoteKeys)
			if n := a.Stats().NamesForgotten; n != 1 {
				t.Errorf("%d names forgotten one past the cap, want 1", n)
			}
		})
	}
}
