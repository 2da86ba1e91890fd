package attribute

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// ingress-nginx as a hostNetwork DaemonSet (bare metal): each controller's
// address towards OpenUnison is its node's, and a client on a node (an
// admin's kubectl on a control-plane node, a CI runner) has that node's
// address too. Its request through another node's controller is logged
// there naming the node, and by nobody else: the request is no hop (the
// proxy its address names never passed it on), and its record is its own.
func TestHonestClientAtAnotherProxysAddress(t *testing.T) {
	t.Parallel()
	node1, node2 := netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")
	peers := map[string]netip.Addr{ngx1: node1, ngx2: node2}
	var in []parser.Event
	for i := range 6 {
		at := time.Duration(i)*time.Second + 100*time.Millisecond
		in = append(in, ou(parser.KindTokenOK, at, ouA, node2, fmt.Sprint("t", i)), nginx(ngx2, at, alice, podA, 200, kubectlAgent))
	}
	at := 6*time.Second + 100*time.Millisecond
	in = append(in, ou(parser.KindTokenOK, at, ouA, node1, "admin"), nginx(ngx1, at, node2, podA, 200, kubectlAgent))
	a := New(Options{ProxyPeers: peers})
	out := run(a, in...)
	last := out[len(out)-1]
	if got := fmt.Sprintf("%v %v %v", last.Attribution, last.IP, last.Candidates); got != "joined 10.0.0.12 []" {
		t.Errorf("the admin's refresh from node 2 through node 1's controller: %s, want joined 10.0.0.12", got)
	}
}
