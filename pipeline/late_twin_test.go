package pipeline

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// skewedHarness is a watch harness whose clock only the test moves on
// (handClock), so that a test can make a quiet source's wait pass without
// sleeping through it.
type skewedHarness struct {
	*watchHarness
	*handClock
	t       *testing.T
	handled chan struct{}
}

func newSkewedHarness(t *testing.T) *skewedHarness {
	t.Helper()
	c := newHandClock()
	handled := make(chan struct{}, 1)
	w := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Settle: 5 * time.Second, now: c.now, ticked: c.ticked,
		handled: func(source.Batch) { handled <- struct{}{} }})
	return &skewedHarness{watchHarness: w, handClock: c, t: t, handled: handled}
}

// The watcher takes a batch off its channel ahead of handling it
// (catchup.go), and stamps it with its clock only then: a clock the test
// moved in between (a watcher not run for a moment on a loaded machine)
// made an idle source's quiet start after the move, never long enough to
// let the replay go. So each batch is handed over and awaited.

func (h *skewedHarness) send(key, data string) {
	h.watchHarness.send(key, data)
	h.awaitHandled()
}

func (h *skewedHarness) idle(key string) {
	h.watchHarness.idle(key)
	h.awaitHandled()
}

// away says key's source is reconnecting (a container log stream ended).
func (h *skewedHarness) away(key string) {
	h.batches <- source.Batch{Key: key, Path: key, Offset: h.offsets[key], Away: true}
	h.awaitHandled()
}

func (h *skewedHarness) awaitHandled() {
	h.t.Helper()
	select {
	case <-h.handled:
	case <-time.After(testsync.Patience):
		h.t.Fatal("the watcher did not handle a batch")
	}
}

// handClock is a watcher's clock (WatchOptions.now) that stands still but
// for what the test moves it by, told of the watcher's ticks
// (WatchOptions.ticked): on a loaded machine the real time between two of
// a test's steps could pass a wait the test means them to fall within.
type handClock struct {
	start time.Time
	skew  *atomic.Int64
	ticks chan struct{}
}

func newHandClock() *handClock {
	return &handClock{start: time.Now(), skew: new(atomic.Int64), ticks: make(chan struct{}, 1)}
}

// another is the same clock for another watcher, told of that one's ticks.
func (c *handClock) another() *handClock {
	return &handClock{start: c.start, skew: c.skew, ticks: make(chan struct{}, 1)}
}

func (c *handClock) now() time.Time { return c.start.Add(time.Duration(c.skew.Load())) }

func (c *handClock) ticked() {
	select {
	case c.ticks <- struct{}{}:
	default:
	}
}

// pass moves the watcher's clock on by d and waits for its ticks (awaitTicks).
func (c *handClock) pass(t *testing.T, d time.Duration) {
	t.Helper()
	c.skew.Add(int64(d))
	c.awaitTicks(t)
}

// awaitTicks waits for three ticks: whatever waited on the clock as it
// stood for less than the watcher's time since has been let go, and a
// source silent since has been looked at for a stall. The first tick
// heard may be one from before; a tick reports before the look at stalled
// sources that follows it, which a batch sent at once after the second
// would be taken before.
func (c *handClock) awaitTicks(t *testing.T) {
	t.Helper()
	for range 3 {
		select {
		case <-c.ticks:
		case <-time.After(testsync.Patience):
			t.Fatal("the watcher stopped ticking")
		}
	}
}

// OpenUnison writes a replay's AzSuccess and its ExpiredRefreshTokenUsed
// line microseconds apart, but a watcher can get them apart: the JVM paused
// between the two writes, a pod-log stream's chunk ended between them.
// With 500 ms between (helper-68's det2.sh), the AzSuccess was committed
// as the user's refresh after 300 ms of quiet, the history learned the
// replayer's address from it, and the replay, judged against that, raised
// nothing.
func TestWatchLateTwinStillAlerts(t *testing.T) {
	t.Parallel()
	h := newSkewedHarness(t)
	// The user's refresh from home, committed by the log's next line.
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa")+
		strings.ReplaceAll(refreshLine("10:00:03,000", "198.51.100.40", "fb"), "task-2", "task-5"))
	// The replay: its AzSuccess, then quiet.
	replay := reuseLines("10:00:05,000", "192.0.2.99", "fc")
	azSuccess, reuse, _ := strings.Cut(replay, "\n")
	h.send("pod-a", azSuccess+"\n")
	h.idle("pod-a")
	h.pass(t, 500*time.Millisecond)
	h.send("pod-a", reuse+"\n")
	h.idle("pod-a")
	h.waitFor("reuse-ip-mismatch", 1)
	if n := h.count("reuse-ip-mismatch"); n != 1 {
		t.Fatalf("%d reuse-ip-mismatch alerts, want 1: the replay's twin, read 500 ms after it, was taken for the user's refresh", n)
	}
}

// A refused refresh on one replica is judged against a chain move another
// replica logged just before it. The move, that replica's last refresh,
// waits for a twin (twinWait) longer than the merge holds other events
// (idleSettle): the refusal is held until the move is settled (idleHold),
// and the move committed before the refusal is judged, or the takeover
// goes unseen.
func TestWatchRefusalSeesAMoveStillWaitingForItsTwin(t *testing.T) {
	t.Parallel()
	h := newSkewedHarness(t)
	line := func(at, task, event, dn, ip, sid string) string {
		return fmt.Sprintf("[2026-11-23 %s][XNIO-1 %s] INFO  AccessLog - [%s] - k8sidp - %s - %s - NONE [%s] - [%s]\n", at, task, event, tokenURL, dn, ip, sid)
	}
	victim := "uid=mmosley,ou=shadow,o=Tremolo"
	h.send("pod-a", line("10:00:00,000", "task-1", "AzSuccess", victim, "198.51.100.23", "fa")+
		line("10:00:03,000", "task-9", "AzSuccess", "uid=other,o=Tremolo", "203.0.113.50", "fz")+
		line("10:00:30,000", "task-2", "AzSuccess", victim, "192.0.2.66", "fb")) // the move
	h.idle("pod-a")
	h.send("pod-b", "[2026-11-23 10:00:30,500][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n"+
		line("10:00:30,502", "task-3", "AzFail", "uid=Anonymous,o=Tremolo", "198.51.100.23", "fc"))
	h.idle("pod-b")
	h.pass(t, idleSettle+100*time.Millisecond) // pod-a quiet long enough for the merge, not for its twin
	if n := h.count("chain-takeover"); n != 0 {
		t.Fatalf("%d chain-takeover alerts before pod-a's last refresh waited for its twin: the refusal was not held", n)
	}
	h.pass(t, lateTwinWait) // the move has waited out its twin: the refusal goes, and sees it
	h.waitFor("chain-takeover", 1)
	if n := h.count("chain-takeover"); n != 1 {
		t.Fatalf("%d chain-takeover alerts, want 1: the refusal was judged before the move pod-a logged before it", n)
	}
}

// A source whose connection broke says it is away while it reconnects (a
// container log stream the API server ended): what it brings back may have
// been logged before another replica's replay, so the replay waits for it
// as for a source being read, not the 300 ms of one at its end. It was
// judged without the refresh pod-a logged meanwhile, and raised nothing
// (helper-77: 3 of 3 runs with a 1.5 s reconnection).
func TestWatchAwaySourceHoldsReuse(t *testing.T) {
	t.Parallel()
	h := newSkewedHarness(t)
	h.send("pod-a", refreshLine("10:00:00,000", "203.0.113.1", "fa")+
		strings.ReplaceAll(refreshLine("10:00:00,100", "203.0.113.1", "fz"), "task-2", "task-5"))
	h.idle("pod-a")
	h.away("pod-a")
	h.send("pod-b", strings.ReplaceAll(reuseLines("10:00:01,500", "192.0.2.99", "fb"), "task-2", "task-7"))
	h.idle("pod-b")
	h.pass(t, 3*idleSettle) // long past a quiet source's hold, within the settle time
	if n := h.count("reuse-ip-mismatch"); n != 0 {
		t.Fatalf("the reuse was judged while pod-a was away (%d alerts)", n)
	}
	h.send("pod-a", refreshLine("10:00:01,000", "198.51.100.40", "fc")) // logged while it was away
	h.idle("pod-a")
	h.pass(t, lateTwinWait)
	h.waitFor("reuse-ip-mismatch", 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.alerts) == 0 || h.alerts[0].PrevIP != "198.51.100.40" {
		t.Fatalf("alerts %+v: want the reuse judged against the refresh pod-a logged while away", h.alerts)
	}
}
