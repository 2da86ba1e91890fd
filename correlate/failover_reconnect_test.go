package correlate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// replyHold holds the replies coming back on the batches' own connection
// (any connection whose first write is not go-redis's HELLO) while the
// pool's connections answer as usual: Redis has applied what was written,
// the watcher has not read it yet, as on a slow network.
type replyHold struct {
	mu   sync.Mutex
	held chan struct{} // closed at release; nil while not holding
}

func (h *replyHold) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		h.held = make(chan struct{})
	}
}

func (h *replyHold) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != nil {
		close(h.held)
		h.held = nil
	}
}

func (h *replyHold) wait() {
	h.mu.Lock()
	ch := h.held
	h.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (h *replyHold) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: c, h: h}, nil
}

type heldConn struct {
	net.Conn
	h      *replyHold
	wrote  atomic.Bool
	pooled atomic.Bool // its first write was go-redis's HELLO
}

func (c *heldConn) Write(b []byte) (int, error) {
	if !c.wrote.Swap(true) {
		c.pooled.Store(bytes.Contains(bytes.ToUpper(b), []byte("HELLO")))
	}
	return c.Conn.Write(b)
}

// Read hands over what arrived only once the hold is released, on the
// batches' connection: its reader reads before anything is written (and
// go-redis peeks at a pooled connection before its HELLO), so which
// connection it is is known once the bytes are in.
func (c *heldConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.wrote.Load() && !c.pooled.Load() {
		c.h.wait()
	}
	return n, err
}

// probeGate fails the failover's probes (Check's SET of its probe key) while
// shut, so that a reconnect comes when the test opens it and not when the
// probe's backoff ends, whatever the machine's load.
type probeGate struct{ shut atomic.Bool }

var errProbeGateShut = errors.New("the test keeps the probe from reconnecting")

func (g *probeGate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *probeGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); g.shut.Load() && len(args) > 1 && strings.EqualFold(fmt.Sprint(args[0]), "set") &&
			strings.Contains(fmt.Sprint(args[1]), ":probe:") {
			cmd.SetErr(errProbeGateShut)
			return errProbeGateShut
		}
		return next(ctx, cmd)
	}
}
func (g *probeGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// holdsWithin polls cond for at most d and reports whether it held: for a step
// that a correct store may hold back indefinitely (so WaitFor cannot be
// used) and a wrong one takes at once.
func holdsWithin(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// An outage that starts outside the batches (a claim's error) while a
// batch P is on its way; a batch A started during the outage is kept to
// write back when it lands, after P. Redis answers again before P and A
// have landed, and a batch B is started: B must not be applied in Redis
// and judged with Redis's facts before A is written back, or B's facts
// miss A (here A's reuse: 2 reuses in the hour instead of 3) and Redis
// learns A after B. sendShared used to write back only when something was
// already kept (WriteBackPending), which A is not yet, so B went straight
// down the connection.
func TestFailoverBatchSentAfterReconnectSeesTheBatchKeptWhileDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt := failoverOptions(t, srv)
	h := &replyHold{}
	opt.Dialer = h.dial
	client := redis.NewClient(opt)
	gate := &probeGate{}
	client.AddHook(gate)
	store := newFailover(ctx, NewRedis(client, RedisOptions{}), NewMemory(Limits{}), nil, fastProbe)
	t.Cleanup(func() {
		h.release()
		store.Close()
	})
	raw := rawClient(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	bp, ba, bb := batchOf(u, 1), batchOf(u, 2), batchOf(u, 3)
	fp, fa, fb := make([]Facts, len(bp)), make([]Facts, len(ba)), make([]Facts, len(bb))

	h.hold()
	wp := store.StartBatch(ctx, bp, fp)
	testsync.WaitFor(t, "P written", func() bool { return sentBatches(store) == 1 })
	// A claim fails (WRONGTYPE): the shared store is down, nothing kept yet.
	if err := raw.RPush(ctx, "graceguard:sent:x", "not a string").Err(); err != nil {
		t.Fatal(err)
	}
	// The probe may not reconnect before A's turn: A would be sent, and
	// wait for P to land, which the hold keeps from happening (the test
	// hung until go test's timeout when it was descheduled for the 50 ms
	// the product's backoff gave it).
	gate.shut.Store(true)
	store.Claim(ctx, "x", time.Minute)
	if store.Up() {
		t.Fatal("up after a failed claim")
	}
	wa := store.StartBatch(ctx, ba, fa)
	store.sends.wait() // A's turn to be sent came while Redis was down: it will be kept
	gate.shut.Store(false)
	testsync.WaitFor(t, "the reconnect", store.Up)
	wb := store.StartBatch(ctx, bb, fb)
	// Without the fix B went down at once; a correct store holds it back
	// until P and A landed, which the hold keeps from happening: give the
	// wrong order a moment to show.
	holdsWithin(time.Second, func() bool { return sentBatches(store) == 2 })
	h.release()
	wp()
	wa()
	wb()
	if fb[1].Reuses1h != 3 {
		t.Errorf("B's reuse judged with %d reuses in the hour, want 3 (P's, A's kept while down, its own): facts %+v", fb[1].Reuses1h, fb[1])
	}
}
