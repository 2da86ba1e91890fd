package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// An ingress controller's log carries every app's traffic. Its clock moves
// only on token requests, so while it keeps writing other lines it must not
// hold OpenUnison's events back: the replay's alert comes out while the
// ingress is still busy (it waited for the next token request through that
// pod, or for 50,000 queued events, before).
//
// The token events wait for the ingress's records at most MaxWait of the
// watcher's clock (4 s with the default settle): the clock is one the test
// moves (handClock), a second each time the watcher has ticked, so that wait
// passes in a fraction of a second, while the ingress sends its other
// lines all along.
func TestBusyIngressLogHoldsNoAlertBack(t *testing.T) {
	t.Parallel()
	clock := newHandClock()
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), now: clock.now, ticked: clock.ticked})
	h.send("ingress", nginxLine("10:00:00", "203.0.113.9")+nginxLine("10:00:01", "192.0.2.66"))
	h.send("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
		refreshLine("10:00:09,000", "10.1.67.12", "fz"))
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			h.send("ingress", fmt.Sprintf("198.51.100.7 - - [23/Nov/2026:10:00:%02d +0000] \"GET /api/v1/shop/items HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\" 300 0.002 [shop-web-80] [] 10.1.80.99:8080 512 0.002 200 q%d\n", 2+i/20%50, i))
		}
	}()
	// Any bound on the wait will do but none at all: a minute of the
	// watcher's clock, fifteen times MaxWait.
	for passed := time.Duration(0); h.count("reuse-ip-mismatch") == 0; passed += time.Second {
		if passed > time.Minute {
			t.Fatalf("no alert after %s of the watcher's clock with the ingress busy", passed)
		}
		clock.pass(t, time.Second)
	}
	close(stop)
	<-fed
	close(h.batches)
	<-h.done
}

// The follower announces every file with an empty batch before its data
// (order.go): a proxy's log is still recognised on its first data, so
// token events wait for its records from the start.
func TestAnnouncedProxyLogIsExpected(t *testing.T) {
	t.Parallel()
	for _, announce := range []bool{false, true} {
		t.Run(fmt.Sprintf("announced first %v", announce), func(t *testing.T) {
			h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin()})
			if announce {
				h.send("ingress", "")
				h.send("pod-a", "")
			}
			h.send("ingress", "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n")
			h.send("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
				refreshLine("10:00:09,000", "10.1.67.12", "fz"))
			h.send("ingress", nginxLine("10:00:00", "203.0.113.9")+nginxLine("10:00:01", "192.0.2.66")+nginxLine("10:00:09", "203.0.113.9"))
			h.idle("pod-a")
			h.idle("ingress")
			close(h.batches)
			<-h.done
			if n := h.count("reuse-ip-mismatch"); n != 1 {
				t.Errorf("%d reuse-ip-mismatch alerts; want the replay through the ingress named once (outcomes %v)", n, h.w.attr.Stats().Outcomes)
			}
		})
	}
}

// The follower announces every file before any data, and then reads them
// one after another: OpenUnison's whole backlog can come before the proxy
// log's first line (graceguard watch openunison.log traefik.log, which
// sort so). The announcement's head tells the proxy's log, so the token
// events wait for its records: before, they were all judged without them,
// and the replay through the proxy raised nothing.
func TestProxyLogAnnouncedWithItsHeadIsExpected(t *testing.T) {
	t.Parallel()
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin()})
	proxy := nginxLine("10:00:00", "203.0.113.9") + nginxLine("10:00:01", "192.0.2.66") + nginxLine("10:00:09", "203.0.113.9")
	h.batches <- source.Batch{Key: "pod-a", Path: "pod-a"}
	h.batches <- source.Batch{Key: "traefik", Path: "traefik", Head: []byte(proxy)}
	h.send("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
		refreshLine("10:00:09,000", "10.1.67.12", "fz"))
	h.idle("pod-a")
	h.send("traefik", proxy)
	h.idle("traefik")
	close(h.batches)
	<-h.done
	if n := h.count("reuse-ip-mismatch"); n != 1 {
		t.Errorf("%d reuse-ip-mismatch alerts; want the replay through the proxy named once (outcomes %v)", n, h.w.attr.Stats().Outcomes)
	}
}
