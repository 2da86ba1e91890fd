package attribute

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// With Istio's access log on (meshConfig.accessLogFile), OpenUnison's own
// istio-proxy sidecar logs every request it passes in, in the format of
// the gateway's log, and graceguard takes that log for a proxy's wherever
// it is given (a glob over the OpenUnison pods' container logs takes it in
// with OpenUnison's). A request through the gateway then has two records:
// the gateway's, naming the client, and the sidecar's, naming the gateway
// pod, whose address the gateway's own records give as its address
// towards OpenUnison. That record is a hop of a request the gateway logged,
// not a client's: taken for a candidate, every request through the gateway
// was ambiguous between its client and the gateway, and a thief's replay
// was compared with nothing. A client inside the mesh calling the Service
// (its record only in the sidecar's log) is its pod.
func TestMeshSidecarLogBesideTheGateways(t *testing.T) {
	t.Parallel()
	const gw, sidecar = "gw-1.log", "openunison-a-istio-proxy.log"
	meshPod := netip.MustParseAddr("10.244.7.19")
	warmup := func() []parser.Event {
		var in []parser.Event
		for i := range 8 {
			at := time.Duration(i)*700*time.Millisecond + 100*time.Millisecond
			in = append(in, ou(parser.KindTokenOK, at, ouA, sidecarInbound, fmt.Sprint("t", i)),
				istio(gw, at, alice, podA, gatewayPod), istio(sidecar, at+time.Millisecond, gatewayPod, podA, sidecarInbound))
		}
		return in
	}
	at := 8*700*time.Millisecond + 100*time.Millisecond
	tests := []struct {
		name string
		last []parser.Event
		want string // the last token event's
	}{
		{
			name: "an honest refresh through the gateway is its client's",
			last: []parser.Event{ou(parser.KindTokenOK, at, ouA, sidecarInbound, "r"),
				istio(gw, at, alice, podA, gatewayPod), istio(sidecar, at+time.Millisecond, gatewayPod, podA, sidecarInbound)},
			want: "token_ok joined 203.0.113.9 []",
		},
		{
			name: "a replay through the gateway is the thief's",
			last: cat(reuse(at, ouA, sidecarInbound, "r"),
				[]parser.Event{istio(gw, at, thief, podA, gatewayPod), istio(sidecar, at+time.Millisecond, gatewayPod, podA, sidecarInbound)}),
			want: "grace_reuse joined 192.0.2.66 []",
		},
		{
			name: "a replay from a pod inside the mesh is that pod's",
			last: cat(reuse(at, ouA, sidecarInbound, "r"),
				[]parser.Event{istio(sidecar, at+time.Millisecond, meshPod, podA, sidecarInbound)}),
			want: "grace_reuse joined 10.244.7.19 []",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := New(Options{})
			out := run(a, append(warmup(), tc.last...)...)
			for _, ev := range out[:8] {
				if ev.Attribution != parser.AttrJoined || ev.IP != alice {
					t.Errorf("alice's refresh through the gateway: %v %v %v", ev.Attribution, ev.IP, ev.Candidates)
				}
			}
			last := out[len(out)-1]
			if got := fmt.Sprintf("%v %v %v %v", last.Kind, last.Attribution, last.IP, last.Candidates); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if n := a.Stats().RecordsUnmatched; n != 0 {
				t.Errorf("%d records unmatched: the sidecar's hops counted as records no request claimed", n)
			}
		})
	}
}

// With the gateway's log alone, a replay from a pod inside the mesh has no
// record, and OpenUnison logs 127.0.0.6 for it as for the gateway's
// requests: beside its victim's refresh through the gateway it must not
// take that refresh's record (and so the victim's address).
func TestMeshPodReplayBesideAGatewayRefresh(t *testing.T) {
	t.Parallel()
	var in []parser.Event
	for i := range 8 {
		at := time.Duration(i)*700*time.Millisecond + 100*time.Millisecond
		in = append(in, ou(parser.KindTokenOK, at, ouA, sidecarInbound, fmt.Sprint("t", i)), istio("gw-1.log", at, alice, podA, gatewayPod))
	}
	for _, gap := range []time.Duration{3 * time.Millisecond, 40 * time.Millisecond} {
		t.Run(gap.String(), func(t *testing.T) {
			t.Parallel()
			at := 8*700*time.Millisecond + 100*time.Millisecond
			evs := cat(in, []parser.Event{ou(parser.KindTokenOK, at, ouA, sidecarInbound, "r")},
				reuse(at+gap, ouA, sidecarInbound, "m"), []parser.Event{istio("gw-1.log", at, alice, podA, gatewayPod)})
			out := run(New(Options{}), evs...)
			reuse := out[len(out)-1]
			if reuse.Kind != parser.KindGraceReuse || reuse.Attribution == parser.AttrJoined && reuse.IP == alice ||
				reuse.Attribution == parser.AttrAmbiguous {
				t.Errorf("the mesh pod's replay: %v %v %v %v", reuse.Kind, reuse.Attribution, reuse.IP, reuse.Candidates)
			}
		})
	}
}
