package attribute

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// reuse is the two lines OpenUnison logs for one grace reuse: the
// AzSuccess and the ExpiredRefreshTokenUsed of the same thread.
func reuse(at time.Duration, src string, peer netip.Addr, thread string) []parser.Event {
	return []parser.Event{
		ou(parser.KindTokenOK, at, src, peer, thread),
		ou(parser.KindGraceReuse, at+50*time.Microsecond, src, peer, thread),
	}
}

func TestPairReasoning(t *testing.T) {
	t.Parallel()
	bob := netip.MustParseAddr("198.51.100.23")
	carol := netip.MustParseAddr("198.51.100.40")
	other := func(ev parser.Event) parser.Event { ev.User = "uid=other,o=T"; return ev }
	tests := []struct {
		name string
		in   []parser.Event
		// want is, for the grace reuse, its attribution and whether its
		// client was proved not to be the refresh's.
		want string
	}{
		{
			name: "a bot replaying 5 ms after the refresh, same pod, same replica: two records, two clients",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0")},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			// A record naming no client ("-") may be the refresh's own
			// client's: neither a proof nor "one of invalid IP, ...".
			name: "a record naming no client beside the refresh's: nothing proved, the client unknown",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, netip.Addr{}, podA, 200, "curl/8.5.0")},
			),
			want: "unattributed [] distinct=false",
		},
		{
			name: "the thief refreshing first and the victim's request reused: distinct all the same",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, thief, podA, 200, "curl/8.5.0"), nginx(ngx1, 105*time.Millisecond, alice, podA, 200, kubectlAgent)},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "a benign race 5 ms apart: one client, two records, joined, nothing to prove",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, alice, podA, 200, kubectlAgent)},
			),
			want: "joined [] distinct=false",
		},
		{
			name: "a benign race beside another user's request in the same second: the race may have both of alice's records",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 107*time.Millisecond, ouA, ctl1, "t3"))},
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, alice, podA, 200, kubectlAgent),
					nginx(ngx1, 107*time.Millisecond, bob, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [198.51.100.23 203.0.113.9] distinct=false",
		},
		{
			name: "three requests, three clients, one second: every sharing gives the pair different clients",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 107*time.Millisecond, ouA, ctl1, "t3"))},
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
					nginx(ngx1, 107*time.Millisecond, bob, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [192.0.2.66 198.51.100.23 203.0.113.9] distinct=true",
		},
		{
			name: "another request from alice's office later in the second: the log's order keeps it from the pair",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 800*time.Millisecond, ouA, ctl1, "t3"))},
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
					nginx(ngx1, 800*time.Millisecond, alice, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "a later request of another client: the reuse's candidates narrowed to the two the order allows",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 105*time.Millisecond+500*time.Microsecond, ouA, ctl1, "t3"))},
				[]parser.Event{other(ou(parser.KindTokenOK, 800*time.Millisecond, ouA, ctl1, "t4"))},
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
					nginx(ngx1, 106*time.Millisecond, carol, podA, 200, kubectlAgent), nginx(ngx1, 800*time.Millisecond, bob, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [192.0.2.66 198.51.100.40 203.0.113.9] distinct=true",
		},
		{
			name: "a third record with the refresh's client and no request of its own: the pair may be alice's two",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
					nginx(ngx1, 108*time.Millisecond, alice, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=false",
		},
		{
			name: "four records of four clients for three requests: a sharing leaves the pair different, always",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				reuse(105*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 107*time.Millisecond, ouA, ctl1, "t3"))},
				[]parser.Event{
					nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0"),
					nginx(ngx1, 107*time.Millisecond, bob, podA, 200, kubectlAgent), nginx(ngx1, 109*time.Millisecond, carol, podA, 200, kubectlAgent),
				},
			),
			want: "ambiguous [192.0.2.66 198.51.100.23 198.51.100.40 203.0.113.9] distinct=true",
		},
		{
			name: "behind Istio every pod is 127.0.0.6: the bot's record and the victim's, within the skew",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1")},
				reuse(103*time.Millisecond, ouA, sidecarInbound, "t2"),
				[]parser.Event{istio("gw-1.log", 100*time.Millisecond, alice, podA, gatewayPod), istio("gw-2.log", 103*time.Millisecond, thief, podA, netip.MustParseAddr("10.1.80.4"))},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "a refresh joined exactly leaves the comparison to the rules",
			in: cat(
				[]parser.Event{ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")},
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent)},
				reuse(1300*time.Millisecond, ouA, ctl1, "t2"),
				[]parser.Event{other(ou(parser.KindTokenOK, 1305*time.Millisecond, ouA, ctl1, "t3"))},
				[]parser.Event{nginx(ngx1, 1300*time.Millisecond, thief, podA, 200, "curl/8.5.0"), nginx(ngx1, 1305*time.Millisecond, bob, podA, 200, kubectlAgent)},
			),
			want: "ambiguous [192.0.2.66 198.51.100.23] distinct=false",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := reuseVerdict(run(New(Options{}), tc.in...))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// The order the two OpenUnison logs are read in must not matter: the reuse
// waits for replica B's log to be read past it, and let go unread by
// MaxWait it claims nothing.
func TestPairReasoningWaitsForEveryOpenUnisonLog(t *testing.T) {
	t.Parallel()
	a := New(Options{ProxyPeers: map[string]netip.Addr{ngx1: ctl1}})
	refresh := ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")
	rec := []parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0")}
	for _, ev := range append(append([]parser.Event{refresh}, reuse(105*time.Millisecond, ouA, ctl1, "t2")...), rec...) {
		a.Push(ev, t0)
	}
	a.Push(ou(parser.KindTokenOK, -3*time.Second, ouB, ctl2, "b1"), t0) // replica B is known, and read only to 09:00:04
	clock := func(src string) time.Time {
		if src == ouB {
			return t0
		}
		return t0.Add(10 * time.Second)
	}
	reuses := func(now time.Time) []parser.Event {
		return slices.DeleteFunc(a.Release(nil, clock, now), func(ev parser.Event) bool { return ev.Kind != parser.KindGraceReuse })
	}
	if got := reuses(t0); len(got) != 0 {
		t.Fatalf("released while replica B's log may still hold a request for the same records: %+v", got)
	}
	got := reuses(t0.Add(a.opt.MaxWait))
	if len(got) != 1 {
		t.Fatalf("%d grace reuses released after MaxWait, want 1", len(got))
	}
	if got[0].DistinctFromPrev {
		t.Errorf("distinct claimed while replica B's log may still hold a request for the same records: %+v", got[0])
	}
}

func cat(parts ...[]parser.Event) []parser.Event {
	var out []parser.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// A pod inside the cluster calling the Service directly, in the first
// second of the logs, meets a client's record through an ingress pod whose
// peer is not learned yet. Joined at once it would take that client's
// address; waiting for the mapping (learned from the traffic that follows)
// it stays direct.
func TestEarlyEventsWaitForTheMappings(t *testing.T) {
	t.Parallel()
	in := []parser.Event{
		ou(parser.KindTokenOK, 50*time.Millisecond, ouA, inPod, "p1"),
		ou(parser.KindTokenOK, 400*time.Millisecond, ouA, ctl1, "t1"),
		nginx(ngx1, 400*time.Millisecond, alice, podA, 200, kubectlAgent),
	}
	for i := range 6 {
		at := time.Duration(i+1)*1100*time.Millisecond + 100*time.Millisecond
		in = append(in, ou(parser.KindTokenOK, at, ouA, ctl1, fmt.Sprintf("t%d", i+2)), nginx(ngx1, at, alice, podA, 200, kubectlAgent))
	}
	var got []string
	for _, ev := range run(New(Options{}), in...) {
		got = append(got, ev.Peer.String()+" "+ev.Attribution.String()+" "+ev.IP.String())
	}
	want := "10.244.5.31 direct 10.244.5.31"
	if len(got) != 8 || got[0] != want {
		t.Fatalf("the pod's refresh: got %q, want %q first", got, want)
	}
	for _, g := range got[1:] {
		if g != "10.1.67.12 joined 203.0.113.9" {
			t.Errorf("a refresh through the ingress: %s", g)
		}
	}
}

// In Kubernetes mode the proxy pods' IPs are their logs' peers from their
// first line (Options.PeerOf): a pod calling the Service in the first
// second is direct at once, with nothing to learn and nothing held.
func TestPeerOfNamesTheProxyFromItsFirstLine(t *testing.T) {
	t.Parallel()
	in := []parser.Event{
		ou(parser.KindTokenOK, 50*time.Millisecond, ouA, inPod, "p1"),
		ou(parser.KindTokenOK, 400*time.Millisecond, ouA, ctl1, "t1"),
		nginx(ngx1, 400*time.Millisecond, alice, podA, 200, kubectlAgent),
	}
	for _, tc := range []struct {
		name   string
		peerOf func(string) (netip.Addr, bool)
		want   string
	}{
		{"pod IPs given", func(src string) (netip.Addr, bool) { return ctl1, src == ngx1 }, "[10.244.5.31 direct 10.244.5.31 10.1.67.12 joined 203.0.113.9]"},
		{"learned from the traffic: the pod's refresh waits", nil, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := New(Options{Expect: true, PeerOf: tc.peerOf})
			for _, ev := range in {
				a.Push(ev, t0)
			}
			var got []string
			for _, ev := range a.Release(nil, func(string) time.Time { return t0.Add(3 * time.Second) }, t0) {
				got = append(got, ev.Peer.String()+" "+ev.Attribution.String()+" "+ev.IP.String())
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("released %v, want %s", got, tc.want)
			}
		})
	}
}

// BenchmarkPairProof is the cost of attribution per token event with the
// pair proof at work: nginx's whole seconds at rate requests per second
// through one pod, one request in ten a bot's replay 5 ms after its
// victim's refresh, every such pair ambiguous.
func BenchmarkPairProof(b *testing.B) {
	for _, rate := range []float64{5, 20, 50} {
		b.Run(fmt.Sprintf("%g req/s", rate), func(b *testing.B) {
			evs, _ := load(rate, 60, time.Second, 7)
			var with []parser.Event
			n := 0
			for _, ev := range evs {
				if ev.Kind != parser.KindTokenOK {
					with = append(with, ev)
					continue
				}
				n++
				ev.User = fmt.Sprint("uid=u", n%50, ",o=T")
				with = append(with, ev)
				if n%10 != 0 {
					continue
				}
				// The bot's request 5 ms later, its record in the same second.
				at := ev.Time.Add(5 * time.Millisecond)
				r := reuse(at.Sub(t0), ouA, ctl1, ev.Thread+"-bot")
				for i := range r {
					r[i].User = ev.User
				}
				with = append(with, r...)
				with = append(with, nginx(ngx1, at.Sub(t0), thief, podA, 200, "curl/8.5.0"))
			}
			slices.SortStableFunc(with, func(x, y parser.Event) int { return x.Time.Compare(y.Time) })
			b.ReportAllocs()
			b.ResetTimer()
			var out []parser.Event
			tokens, distinct := 0, 0
			for b.Loop() {
				a := New(Options{})
				a.ExpectProxies()
				for i := range with {
					a.Push(with[i], t0)
					now := with[i].Time
					out = a.Release(out[:0], func(string) time.Time { return now }, t0)
					distinct += countDistinct(out)
				}
				out = a.Flush(out[:0])
				distinct += countDistinct(out)
				for i := range with {
					if IsToken(with[i].Kind) {
						tokens++
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token-event")
			b.ReportMetric(float64(distinct)/float64(b.N), "distinct/op")
		})
	}
}

func countDistinct(evs []parser.Event) int {
	n := 0
	for i := range evs {
		if evs[i].DistinctFromPrev {
			n++
		}
	}
	return n
}

// reuseVerdict says how the last grace reuse among out was attributed, as
// the pair tests write it, and returns it (nil: none).
func reuseVerdict(out []parser.Event) (string, *parser.Event) {
	got, reuse := "no grace reuse", (*parser.Event)(nil)
	for i, ev := range out {
		if ev.Kind == parser.KindGraceReuse {
			got, reuse = fmt.Sprintf("%s %v distinct=%v", ev.Attribution, ev.Candidates, ev.DistinctFromPrev), &out[i]
		}
	}
	return got, reuse
}
