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

// Envoy's and Istio's default formats log %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%,
// and an edge Envoy does not strip X-Envoy-Original-Path from a client's
// request: the client writes the path its record shows. A thief can hide
// its token request (its record shows /healthz and the parser drops it) or
// plant a token record (any request to OpenUnison, its record showing the
// token endpoint). These tests run the proxies' lines through the parser
// and the join, as a scan does.

var (
	envoyPod = netip.MustParseAddr("10.1.80.7")     // an edge Envoy's pod, the peer OpenUnison logs behind it
	planter  = netip.MustParseAddr("198.51.100.7")  // an attacker planting token records
	bob      = netip.MustParseAddr("198.51.100.23") // another user's client
)

// proxyLine is a gateway's access line in its default text format, of a
// request that started at t0+at and took dur; path is what the format's
// %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% wrote. Istio's is behind OpenUnison's
// sidecar (OpenUnison logs 127.0.0.6); Envoy's logs no peer but the last
// X-Forwarded-For entry, the address the edge appended.
func proxyLine(format parser.ProxyFormat, at, dur time.Duration, method, path string, client netip.Addr, agent string) string {
	ts := t0.Add(at).Format("2006-01-02T15:04:05.000Z")
	ms := dur.Milliseconds()
	if format == parser.ProxyEnvoy {
		return fmt.Sprintf(`[%s] "%s %s HTTP/1.1" 200 - 412 1893 %d %d "%s" "%s" "r-%d" "k8sou.example.com" "%s:8080"`,
			ts, method, path, ms, ms-1, client, agent, at.Microseconds(), podA)
	}
	return fmt.Sprintf(`[%s] "%s %s HTTP/1.1" 200 - via_upstream - "-" 412 1893 %d %d "%s" "%s" "r-%d" "k8sou.example.com" "%s:8080" outbound|8080||openunison.svc %s:45678 %s:8443 %s:51234 k8sou.example.com -`,
		ts, method, path, ms, ms-1, client, agent, at.Microseconds(), podA, gatewayPod, gatewayPod, client)
}

// parseProxyLines parses lines as the proxy log src, keeping what the
// parser makes a proxy record: a line whose path is no token endpoint is
// none, and attribution never sees it.
func parseProxyLines(t *testing.T, src string, lines []string) []parser.Event {
	t.Helper()
	var out []parser.Event
	for _, l := range lines {
		ev, err := parser.Parse([]byte(l), nil)
		if err != nil || ev.Kind != parser.KindProxy {
			if strings.Contains(l, tokenPath) {
				t.Fatalf("a token record not parsed as one (%v): %s", err, l)
			}
			continue
		}
		ev.Source = src
		out = append(out, ev)
	}
	return out
}

// outcome is each token event given back: who logged it, its kind, its
// attribution, its client and candidates, and on a grace reuse whether its
// client was proved to differ from its refresh's.
func outcome(out []parser.Event, who map[string]string) []string {
	var got []string
	for _, ev := range out {
		if !IsToken(ev.Kind) {
			continue
		}
		s := fmt.Sprintf("%s %s %s", who[ev.Thread], ev.Kind, ev.Attribution)
		if ev.Attribution == parser.AttrJoined {
			s += " " + ev.IP.String()
		}
		if len(ev.Candidates) > 0 {
			s += fmt.Sprint(" ", ev.Candidates)
		}
		if ev.Kind == parser.KindGraceReuse {
			s += fmt.Sprint(" distinct=", ev.DistinctFromPrev)
		}
		got = append(got, s)
	}
	return got
}

type forgedCase struct {
	name   string
	format parser.ProxyFormat
	// reqs are the token requests, in time order: who sent it, when
	// OpenUnison logged it, whether it was a grace reuse, and the line
	// the proxy wrote for it ("" when it wrote none of a token path).
	reqs []forgedReq
	// planted are the proxy's lines of requests that were no token
	// requests.
	planted []string
	want    []string
	// outnumbered is how many token events (lines) were left
	// unattributed as outnumbered (Stats.Outnumbered).
	outnumbered int64
}

type forgedReq struct {
	who   string
	at    time.Duration
	reuse bool
	line  string
}

func (tc *forgedCase) run(t *testing.T) ([]string, Stats) {
	peer, src := sidecarInbound, "istio-gw.log"
	if tc.format == parser.ProxyEnvoy {
		peer, src = envoyPod, "envoy.log"
	}
	who := map[string]string{}
	var evs []parser.Event
	var lines []string
	for i, r := range tc.reqs {
		thread := fmt.Sprint("t", i)
		who[thread] = r.who
		if r.reuse {
			evs = append(evs, reuse(r.at, ouA, peer, thread)...)
		} else {
			ev := ou(parser.KindTokenOK, r.at, ouA, peer, thread)
			if r.who == "bob" {
				ev.User = "uid=bob,o=T" // another user's refresh
			}
			evs = append(evs, ev)
		}
		lines = append(lines, r.line)
	}
	lines = append(lines, tc.planted...)
	evs = append(evs, parseProxyLines(t, src, lines)...)
	slices.SortStableFunc(evs, func(x, y parser.Event) int { return x.Time.Compare(y.Time) })
	// The proxy is known, as in Kubernetes mode or once learned: a request
	// through it that no record can be is unattributed, not direct.
	a := New(Options{ProxyPeers: map[string]netip.Addr{src: peer}})
	return outcome(run(a, evs...), who), a.Stats()
}

// A thief replaying a victim's refresh token with its record's path forged
// leaves OpenUnison one token request more than the proxy's token records.
// Whichever request took the victim's record, the thief's may be it: none
// of them may be joined to the victim's client, or the replay reads as the
// victim's own race.
func TestForgedPathHidesNoReplay(t *testing.T) {
	t.Parallel()
	line := func(f parser.ProxyFormat, at time.Duration, path string, client netip.Addr, agent string) string {
		return proxyLine(f, at-2*time.Millisecond, 15*time.Millisecond, "POST", path, client, agent)
	}
	var tests []forgedCase
	for _, f := range []parser.ProxyFormat{parser.ProxyIstio, parser.ProxyEnvoy} {
		ms := time.Millisecond
		tests = append(tests,
			forgedCase{
				name: "the victim's race, logged honestly: both its requests the victim's", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"victim", 110 * ms, true, line(f, 110*ms, tokenPath, alice, kubectlAgent)},
				},
				want: []string{"victim token_ok joined 203.0.113.9", "victim token_ok joined 203.0.113.9", "victim grace_reuse joined 203.0.113.9 distinct=false"},
			},
			forgedCase{
				name: "a thief's replay 6 ms after the victim's refresh, logged honestly: proved another client", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"thief", 106 * ms, true, line(f, 106*ms, tokenPath, thief, "curl/8.5.0")},
				},
				want: []string{
					"victim token_ok ambiguous [192.0.2.66 203.0.113.9]",
					"thief token_ok ambiguous [192.0.2.66 203.0.113.9]", "thief grace_reuse ambiguous [192.0.2.66 203.0.113.9] distinct=true",
				},
			},
			forgedCase{
				name: "hiding: the thief's replay inside the victim's race, its path forged", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"thief", 104 * ms, true, line(f, 104*ms, "/healthz", thief, "curl/8.5.0")},
					{"victim", 110 * ms, true, line(f, 110*ms, tokenPath, alice, kubectlAgent)},
				},
				want: []string{
					"victim token_ok unattributed",
					"thief token_ok unattributed", "thief grace_reuse unattributed distinct=false",
					"victim token_ok unattributed", "victim grace_reuse unattributed distinct=false",
				},
				outnumbered: 5, // every line, a reuse's as its AzSuccess's
			},
			forgedCase{
				name: "hiding: the thief uses the stolen token first, its path forged, the victim's client 6 ms later", format: f,
				reqs: []forgedReq{
					{"thief", 100 * ms, false, line(f, 100*ms, "/", thief, "curl/8.5.0")},
					{"victim", 106 * ms, true, line(f, 106*ms, tokenPath, alice, kubectlAgent)},
				},
				want:        []string{"thief token_ok unattributed", "victim token_ok unattributed", "victim grace_reuse unattributed distinct=false"},
				outnumbered: 3,
			},
			forgedCase{
				name: "hiding: the thief replays 6 ms after the victim's refresh, its path forged", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"thief", 106 * ms, true, line(f, 106*ms, "/anything", thief, "curl/8.5.0")},
				},
				want:        []string{"victim token_ok unattributed", "thief token_ok unattributed", "thief grace_reuse unattributed distinct=false"},
				outnumbered: 3,
			},
			forgedCase{
				// The victim's record could be the thief's, the thief's
				// request bob's record too, and bob's record only bob's:
				// three requests, two records, found a step away. The
				// thief's, between two clients, is ambiguous (never joined).
				name: "hiding: the thief's forged replay between the victim's refresh and another user's", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"thief", 116 * ms, true, line(f, 116*ms, "/healthz", thief, "curl/8.5.0")},
					{"bob", 122 * ms, false, line(f, 122*ms, tokenPath, bob, kubectlAgent)},
				},
				want: []string{
					"victim token_ok unattributed",
					"thief token_ok ambiguous [198.51.100.23 203.0.113.9]", "thief grace_reuse ambiguous [198.51.100.23 203.0.113.9] distinct=false",
					"bob token_ok unattributed",
				},
				outnumbered: 2,
			},
			forgedCase{
				name: "the same second's requests far apart keep their joins", format: f,
				reqs: []forgedReq{
					{"victim", 100 * ms, false, line(f, 100*ms, tokenPath, alice, kubectlAgent)},
					{"thief", 600 * ms, true, line(f, 600*ms, "/anything", thief, "curl/8.5.0")},
				},
				want: []string{"victim token_ok joined 203.0.113.9", "thief token_ok unattributed", "thief grace_reuse unattributed distinct=false"},
			},
		)
	}
	for _, tc := range tests {
		t.Run(tc.format.String()+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, st := tc.run(t)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			if st.Outnumbered != tc.outnumbered {
				t.Errorf("%d outnumbered, want %d", st.Outnumbered, tc.outnumbered)
			}
		})
	}
}

// A planted token record is one candidate more, naming the planter: as
// with any record no request claims, the requests beside it are
// ambiguous. A victim's benign race stays one client's (no proof, no
// alert). A thief planting its own address beside the victim's refresh
// leaves that refresh ambiguous: its replay in the same second is not
// proved (the records allow "the thief sent both"), and one later is
// joined but compared with a refresh whose client is unknown. Those are
// missed alerts only an edge stripping the header prevents. A record of a
// method no token request has (RFC 6749 §3.2: POST) is none.
func TestForgedPathPlantedRecords(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	line := func(f parser.ProxyFormat, at time.Duration, method string, client netip.Addr, agent string) string {
		return proxyLine(f, at-2*ms, 15*ms, method, tokenPath, client, agent)
	}
	var tests []forgedCase
	for _, f := range []parser.ProxyFormat{parser.ProxyIstio, parser.ProxyEnvoy} {
		victimRefresh := forgedReq{"victim", 100 * ms, false, line(f, 100*ms, "POST", alice, kubectlAgent)}
		tests = append(tests,
			forgedCase{
				name: "planted beside the victim's race: one client's race all the same, no proof", format: f,
				reqs:    []forgedReq{victimRefresh, {"victim", 110 * ms, true, line(f, 110*ms, "POST", alice, kubectlAgent)}},
				planted: []string{line(f, 104*ms, "POST", planter, "curl/8.5.0")},
				want: []string{
					"victim token_ok ambiguous [198.51.100.7 203.0.113.9]",
					"victim token_ok ambiguous [198.51.100.7 203.0.113.9]", "victim grace_reuse ambiguous [198.51.100.7 203.0.113.9] distinct=false",
				},
			},
			forgedCase{
				name: "the thief's replay 10 ms after the victim's refresh, nothing planted: each joined", format: f,
				reqs: []forgedReq{victimRefresh, {"thief", 110 * ms, true, line(f, 110*ms, "POST", thief, "curl/8.5.0")}},
				want: []string{"victim token_ok joined 203.0.113.9", "thief token_ok joined 192.0.2.66", "thief grace_reuse joined 192.0.2.66 distinct=false"},
			},
			forgedCase{
				name: "the same replay with a POST planted from the thief's address: not proved", format: f,
				reqs:    []forgedReq{victimRefresh, {"thief", 110 * ms, true, line(f, 110*ms, "POST", thief, "curl/8.5.0")}},
				planted: []string{line(f, 104*ms, "POST", thief, "curl/8.5.0")},
				want: []string{
					"victim token_ok ambiguous [192.0.2.66 203.0.113.9]",
					"thief token_ok ambiguous [192.0.2.66 203.0.113.9]", "thief grace_reuse ambiguous [192.0.2.66 203.0.113.9] distinct=false",
				},
			},
			forgedCase{
				name: "the same replay with a GET planted from the thief's address: no token request, each joined", format: f,
				reqs:    []forgedReq{victimRefresh, {"thief", 110 * ms, true, line(f, 110*ms, "POST", thief, "curl/8.5.0")}},
				planted: []string{line(f, 104*ms, "GET", thief, "curl/8.5.0")},
				want:    []string{"victim token_ok joined 203.0.113.9", "thief token_ok joined 192.0.2.66", "thief grace_reuse joined 192.0.2.66 distinct=false"},
			},
			forgedCase{
				name: "a GET planted beside the victim's refresh leaves it joined", format: f,
				reqs:    []forgedReq{victimRefresh, {"thief", 1500 * ms, true, line(f, 1500*ms, "POST", thief, "curl/8.5.0")}},
				planted: []string{line(f, 104*ms, "GET", thief, "curl/8.5.0")},
				want:    []string{"victim token_ok joined 203.0.113.9", "thief token_ok joined 192.0.2.66", "thief grace_reuse joined 192.0.2.66 distinct=false"},
			},
			forgedCase{
				// The rules compare a reuse only with a refresh whose
				// client is known: this replay raises no reuse-ip-mismatch.
				name: "a POST planted beside the victim's refresh leaves it ambiguous, the thief's replay 1.4 s later joined", format: f,
				reqs:    []forgedReq{victimRefresh, {"thief", 1500 * ms, true, line(f, 1500*ms, "POST", thief, "curl/8.5.0")}},
				planted: []string{line(f, 104*ms, "POST", thief, "curl/8.5.0")},
				want:    []string{"victim token_ok ambiguous [192.0.2.66 203.0.113.9]", "thief token_ok joined 192.0.2.66", "thief grace_reuse joined 192.0.2.66 distinct=false"},
			},
		)
	}
	for _, tc := range tests {
		t.Run(tc.format.String()+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, st := tc.run(t)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			if st.Outnumbered != 0 {
				t.Errorf("%d outnumbered, want none", st.Outnumbered)
			}
		})
	}
}
