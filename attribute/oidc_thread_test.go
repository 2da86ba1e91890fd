package attribute

import (
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// With the OIDC session's id in the brackets (OpenUnison behind a browser-
// like client, the bundled IdP's --session-id oidc), a thief replaying the
// victim's token logs the victim's session id; a worker pool that hands the
// thread just released to the next request (Undertow's, when idle) serves
// the replay on the thread of the refresh it races. The refresh is then of
// the same source, thread and session as the reuse, and only the reuse's own
// AzSuccess, the newest such line, is its twin: the refresh before it is
// another request, the one the pair proof compares the reuse with.
func TestPairReasoningOIDCSessionSameThread(t *testing.T) {
	t.Parallel()
	oidc := func(evs ...parser.Event) []parser.Event {
		for i := range evs {
			evs[i].Session = "oidc-session-of-alice"
		}
		return evs
	}
	tests := []struct {
		name string
		in   []parser.Event
		want string
	}{
		{
			name: "a bot replaying 5 ms after the refresh on the refresh's thread: two records, two clients",
			in: cat(
				oidc(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")),
				oidc(reuse(105*time.Millisecond, ouA, ctl1, "t1")...),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, thief, podA, 200, "curl/8.5.0")},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "the bot in the refresh's millisecond on its thread: the lines in log order still tell them apart",
			in: cat(
				oidc(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
					ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"),
					ou(parser.KindGraceReuse, 100*time.Millisecond, ouA, ctl1, "t1")),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 100*time.Millisecond, thief, podA, 200, "curl/8.5.0")},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "a benign race on one thread: one client, joined",
			in: cat(
				oidc(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1")),
				oidc(reuse(105*time.Millisecond, ouA, ctl1, "t1")...),
				[]parser.Event{nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), nginx(ngx1, 105*time.Millisecond, alice, podA, 200, kubectlAgent)},
			),
			want: "joined [] distinct=false",
		},
		{
			name: "behind Istio, the bot within the skew on the refresh's thread: two records, two clients",
			in: cat(
				oidc(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1")),
				oidc(reuse(103*time.Millisecond, ouA, sidecarInbound, "t1")...),
				[]parser.Event{istio("gw-1.log", 100*time.Millisecond, alice, podA, gatewayPod), istio("gw-2.log", 103*time.Millisecond, thief, podA, netip.MustParseAddr("10.1.80.4"))},
			),
			want: "ambiguous [192.0.2.66 203.0.113.9] distinct=true",
		},
		{
			name: "the replay 50 ms later in a millisecond format: joined to the thief",
			in: cat(
				oidc(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, sidecarInbound, "t1")),
				oidc(reuse(150*time.Millisecond, ouA, sidecarInbound, "t1")...),
				[]parser.Event{istio("gw-1.log", 100*time.Millisecond, alice, podA, gatewayPod), istio("gw-1.log", 150*time.Millisecond, thief, podA, gatewayPod)},
			),
			want: "joined [] distinct=false ip=192.0.2.66",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ev := reuseVerdict(run(New(Options{}), tc.in...))
			if ev != nil && ev.Attribution == parser.AttrJoined && ev.Peer == sidecarInbound {
				got += " ip=" + ev.IP.String()
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
