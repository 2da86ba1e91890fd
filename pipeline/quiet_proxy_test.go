package pipeline

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/rules"
)

// stepClock is a wall clock a test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A proxy writes its access-log line when the response is done, after
// OpenUnison's. An ingress log quiet for a while (the demo's pause before
// the replay) counts as read to the far future, yet the replay's own record
// is still to come: the replay waits for it and names the thief, not the
// controller (the demo's ingress act failed about one run in two when the
// follower read the two files in different polls).
func TestQuietProxyLogStillBringsTheRecordInFlight(t *testing.T) {
	t.Parallel()
	for _, gap := range []time.Duration{0, 20 * time.Millisecond, 150 * time.Millisecond} {
		t.Run(gap.String(), func(t *testing.T) {
			clock := &stepClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
			h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), now: clock.now})
			h.send("ingress", "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n")
			h.send("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa"))
			h.send("ingress", nginxLine("10:00:00", "198.51.100.40"))
			h.idle("ingress")
			h.idle("pod-a")
			// The pause: the ingress log has been quiet long enough to count
			// as read through.
			clock.add(time.Second)
			h.send("pod-a", reuseLines("10:00:01,500", "10.1.67.12", "fb"))
			clock.add(gap) // the proxy logs once the answer has gone
			h.send("ingress", nginxLine("10:00:01", "192.0.2.99"))
			h.idle("ingress")
			h.idle("pod-a")
			clock.add(5 * time.Second)
			close(h.batches)
			if err := <-h.done; err != nil {
				t.Fatal(err)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			named := false
			for _, a := range h.alerts {
				if a.IP != "192.0.2.99" {
					t.Errorf("alert %s names %s, want the thief 192.0.2.99 (outcomes %v)", a.Rule, a.IP, h.w.attr.Stats().Outcomes)
				}
				named = named || a.Rule == "reuse-ip-mismatch"
			}
			if !named {
				t.Errorf("no reuse-ip-mismatch naming the thief; alerts %d", len(h.alerts))
			}
		})
	}
}

// An ingress carries the whole cluster's traffic, and OpenUnison's token
// requests are a sliver of it. Its other requests move its log's clock as
// much as token requests do: a replay waits for the proxy's log to be read
// past it, and with the clock moved only by token records it waited the
// whole MaxWait (4 s) on every busy cluster, though the log had long gone
// past it. Here the wall clock stands still, so only the logs' clocks can
// let the replay go.
func TestBusyProxyLogsOtherRequestsMoveItsClock(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), now: clock.now})
	h.send("ingress", "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n")
	h.send("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa"))
	h.send("ingress", nginxLine("10:00:00", "198.51.100.40"))
	h.send("pod-a", reuseLines("10:00:01,500", "10.1.67.12", "fb"))
	h.send("ingress", nginxLine("10:00:01", "192.0.2.99"))
	for s := 2; s <= 5; s++ {
		at := fmt.Sprintf("10:00:%02d", s)
		h.send("pod-a", fmt.Sprintf("[2026-11-23 %s,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example/auth/idp/k8sIdp/auth - uid=other,ou=users - NONE [10.1.67.12] - [s%d]\n", at, s))
		h.send("ingress", otherRequestLine(at))
	}
	h.waitFor("reuse-ip-mismatch", 1)
	if h.count("reuse-ip-mismatch") != 1 {
		t.Errorf("the replay still waits, with both logs read 4 s past it (outcomes %v)", h.w.attr.Stats().Outcomes)
	}
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

// otherRequestLine is an ingress-nginx access line of a request to another
// service than OpenUnison.
func otherRequestLine(clock string) string {
	return fmt.Sprintf("203.0.113.5 - - [23/Nov/2026:%s +0000] \"GET /api/v1/namespaces HTTP/2.0\" 200 512 \"-\" \"kubectl/v1.31.0\" 98 0.004 [kube-system-kubernetes-443] [] 10.1.80.20:6443 512 0.004 200 q\n", clock)
}
