package correlate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// pooled makes r send its batches on the client's pool, one round trip at a
// time, as go-redis does: what tests that watch or break a round trip with
// go-redis hooks need, as the duplex connection's commands pass no hook.
func pooled(r *Redis) *Redis {
	r.duplex = nil
	return r
}

// sentBatches is how many batches f sent to Redis.
func sentBatches(f *Failover) uint64 {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	return f.sent
}

// pauseWrites holds every write command Redis gets (CLIENT PAUSE WRITE),
// so batches sent meanwhile wait in Redis, all on their way at once, until
// the returned function (or the test's end) lets them run.
func pauseWrites(t *testing.T, raw *redis.Client) (unpause func()) {
	t.Helper()
	ctx := context.Background()
	if err := raw.Do(ctx, "CLIENT", "PAUSE", 60_000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	unpause = func() { raw.Do(ctx, "CLIENT", "UNPAUSE") }
	t.Cleanup(unpause)
	return unpause
}

func rawClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// Redis killed while two batches are on their way on the duplex
// connection, both written and neither applied: both are answered with the
// local facts, both wait to be written back, each observation once and in
// log order, and once Redis is back the next batch meets all of them in
// Redis, each learned once.
func TestFailoverRedisKilledBetweenTwoBatchesOnTheirWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	pauseWrites(t, rawClient(t, srv))
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	b1, b2 := batchOf(u, 1), batchOf(u, 2)
	f1, f2 := make([]Facts, len(b1)), make([]Facts, len(b2))
	w1 := store.StartBatch(ctx, b1, f1)
	w2 := store.StartBatch(ctx, b2, f2)
	testsync.WaitFor(t, "both batches written", func() bool { return sentBatches(store) == 2 })
	srv.Stop()
	w1()
	w2()
	if store.Up() {
		t.Fatal("up with Redis killed")
	}
	// The local store's facts: the second batch's reuse follows the first's.
	if f2[1].Reuses1h != 2 || f2[1].Prev == nil || f2[1].Prev.IP != b2[0].IP {
		t.Errorf("second batch's facts %+v, want the local store's (2 reuses, the previous refresh its own)", f2[1])
	}
	store.mu.Lock()
	kept := slices.Clone(store.writeBack)
	store.mu.Unlock()
	if want := slices.Concat(b1, b2); !reflect.DeepEqual(kept, want) {
		t.Errorf("kept to write back:\n%+v\nwant both batches, once each, in log order:\n%+v", kept, want)
	}
	srv.Restart()
	testsync.WaitFor(t, "the reconnect", store.Up)
	b3 := batchOf(u, 3)
	f3 := make([]Facts, len(b3))
	store.StartBatch(ctx, b3, f3)()
	if !store.Up() || store.WriteBackPending() != 0 {
		t.Fatalf("after the reconnect: up %v, %d waiting to be written back", store.Up(), store.WriteBackPending())
	}
	// Redis restarted empty: what it knows came from the write-back.
	if f3[1].Reuses1h != 3 || f3[1].Prev == nil || f3[1].Prev.IP != b3[0].IP {
		t.Errorf("after the write-back: facts %+v, want 3 reuses (two written back and this one)", f3[1])
	}
	raw := rawClient(t, srv)
	if n := raw.ZCard(ctx, "graceguard:h2:u:"+member(u)+":r").Val(); n != 3 {
		t.Errorf("%d refreshes in Redis, want the 3 logged, each once", n)
	}
}

// A batch that fails in Redis (a script or command error, the connection
// intact) while the batch after it is already on its way: Redis applies
// that one after the failed one, so its facts are not judged as Redis's
// (they would miss what the failed batch taught): it is answered with the
// local facts and kept to write back, like the failed one.
func TestFailoverBatchSentBeforeAFailureWasKnownIsNotJudgedApplied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	raw := rawClient(t, srv)
	x, y := UserID{IdP: "k8sIdp", DN: "uid=x,o=T"}, UserID{IdP: "k8sIdp", DN: "uid=y,o=T"}
	firstSeen := learnedElsewhere(t, srv, y)
	// x's refreshes key is not a sorted set: x's batch fails (WRONGTYPE).
	if err := raw.Set(ctx, "graceguard:h2:u:"+member(x)+":r", "not a zset", 0).Err(); err != nil {
		t.Fatal(err)
	}
	unpause := pauseWrites(t, raw)
	bx, by := batchOf(x, 1), batchOf(y, 1)
	fx, fy := make([]Facts, len(bx)), make([]Facts, len(by))
	wx := store.StartBatch(ctx, bx, fx)
	wy := store.StartBatch(ctx, by, fy)
	testsync.WaitFor(t, "both batches written", func() bool { return sentBatches(store) == 2 })
	unpause()
	wx()
	wy()
	if store.Errors() == 0 {
		t.Fatal("the failed batch counted no error")
	}
	if fy[1].FirstSeen.Equal(firstSeen) {
		t.Errorf("y's batch was judged with Redis's facts (first seen %v), sent before x's failure was known", fy[1].FirstSeen)
	}
	store.mu.Lock()
	kept := slices.Clone(store.writeBack)
	store.mu.Unlock()
	if want := slices.Concat(bx, by); !reflect.DeepEqual(kept, want) {
		t.Errorf("kept to write back:\n%+v\nwant both batches in order:\n%+v", kept, want)
	}
}

// A batches' connection that the server closed while it sat idle (a
// server timeout, CLIENT KILL) is dialled again for the next batch: no
// error, no outage.
func TestDuplexRedialsAConnectionClosedWhileIdle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	raw := rawClient(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	store.StartBatch(ctx, batchOf(u, 0), make([]Facts, 1))()
	conn := store.shared.duplex.conn
	if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the reader seeing the close", func() bool { return conn.dead() != nil })
	f := make([]Facts, 2)
	store.StartBatch(ctx, batchOf(u, 1), f)()
	if store.Errors() != 0 || !store.Up() {
		t.Fatalf("%d errors, up %v: a connection closed while idle failed a batch", store.Errors(), store.Up())
	}
	if f[1].Prev == nil || f[1].Prev.IP != netip.AddrFrom4([4]byte{198, 51, 100, 2}) {
		t.Errorf("facts %+v, want the batch's own refresh before its reuse", f[1])
	}
}

// The batches' connection sets itself up as the client's pool does: TLS
// with the client's roots, the password, the database.
func TestDuplexConnectsWithTLSPasswordAndDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.WithTLS(), redistest.WithPassword("s3cret"))
	opt, err := redis.ParseURL(srv.URL(3))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	opt.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	opt.MaxRetries = -1
	client := redis.NewClient(opt)
	r := NewRedis(client, RedisOptions{})
	defer r.Close()
	if r.duplex == nil {
		t.Fatal("no duplex connection for a TLS client with a password")
	}
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	b := slices.Concat(batchOf(u, 0), batchOf(u, 1))
	f := make([]Facts, len(b))
	if err := r.ApplyBatch(ctx, b, f); err != nil {
		t.Fatal(err)
	}
	if f[2].Prev == nil || f[2].Prev.IP != b[1].IP {
		t.Errorf("facts %+v, want the refresh before", f[2])
	}
	if n := client.ZCard(ctx, "graceguard:h2:u:"+member(u)+":r").Val(); n != 2 {
		t.Errorf("database 3 holds %d of the user's refreshes, want 2", n)
	}
	wrong := *client.Options()
	wrong.Password = "wrong"
	d := newDuplex(&wrong)
	defer d.close()
	ping, _ := appendCommand(nil, []any{"PING"})
	if err := d.send(ctx, ping, []redis.Cmder{redis.NewCmd(ctx, "PING")}).wait(); err == nil || !strings.Contains(err.Error(), "AUTH") {
		t.Errorf("a wrong password: %v, want AUTH's refusal", err)
	}
}

// A refusal's lookup that finds no batch to ride goes down the batches'
// connection as a batch of its own, in turn: with every batch on its way
// at once, it still sees the refreshes of the batches started before it
// (the move) and not those of the batch started after (a refresh from the
// refused address, which would hide the move).
func TestRefusalLookupOfItsOwnKeepsItsTurnOnTheDuplexConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	unpause := pauseWrites(t, rawClient(t, srv))
	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	refresh := func(i int, ip netip.Addr) Observation {
		return Observation{User: user, Session: "s1", Time: t0.Add(time.Duration(i) * time.Second), IP: ip, Action: Refresh,
			Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
	}
	before := store.StartBatch(ctx, []Observation{refresh(1, a), refresh(2, b)}, make([]Facts, 2))
	testsync.WaitFor(t, "the batch written", func() bool { return sentBatches(store) == 1 })
	moves := store.StartMovesFrom(ctx, a, t0.Add(10*time.Second))
	after := store.StartBatch(ctx, []Observation{refresh(3, a)}, make([]Facts, 1))
	testsync.WaitFor(t, "the lookup and the batch after it written", func() bool { return sentBatches(store) == 3 })
	unpause()
	before()
	got := moves()
	after()
	if len(got) != 1 || got[0].To != b || !got[0].FromTime.Equal(t0.Add(time.Second)) {
		t.Errorf("moves away from %s: %+v, want the move to %s at 2 s", a, got, b)
	}
	if store.Errors() != 0 {
		t.Errorf("%d errors", store.Errors())
	}
	if d := newDuplex(store.shared.client.Options()); d.send(ctx, nil, nil).wait() != nil {
		t.Error("an empty flight failed")
	}
}

// goRedisBytes returns the bytes go-redis itself writes for a pipeline of
// cmds: a listener on loopback plays a server that turns HELLO down (so
// the client speaks RESP2 and sends nothing else first), keeps what the
// pipeline wrote, read as len(cmds) commands, and hangs up, which ends the
// pipeline's wait for replies at once. No timeout decides when the
// pipeline is done: a 100 ms one on the client failed the test under load.
func goRedisBytes(t *testing.T, cmds [][]any) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(testsync.Patience))
		var read bytes.Buffer // all read from nc; rd.Buffered() of it not parsed yet
		rd := bufio.NewReader(io.TeeReader(nc, &read))
		if _, err := readReply(rd); err != nil { // HELLO
			return
		}
		if _, err := nc.Write([]byte("-ERR unknown command 'HELLO'\r\n")); err != nil {
			return
		}
		start := read.Len() - rd.Buffered()
		for range cmds {
			if _, err := readReply(rd); err != nil {
				return
			}
		}
		got <- read.Bytes()[start : read.Len()-rd.Buffered()]
	}()
	// Timeouts only for a hung test: the listener's hang-up ends Exec.
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), DisableIdentity: true, MaxRetries: -1,
		DialTimeout: testsync.Patience, ReadTimeout: testsync.Patience, WriteTimeout: testsync.Patience,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer client.Close()
	pipe := client.Pipeline()
	for _, args := range cmds {
		pipe.Do(context.Background(), args...)
	}
	_, _ = pipe.Exec(context.Background()) // the listener answers nothing: only what it read counts
	b, ok := <-got
	if !ok {
		t.Fatalf("go-redis wrote fewer than the pipeline's %d commands", len(cmds))
	}
	return b
}

// The batch the duplex connection writes is, byte for byte, what go-redis
// writes for the same batch built for its pipeline: the same commands,
// encoded as go-redis encodes them.
func TestWireBatchIsThePipelinesBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), RedisOptions{})
	defer store.Close()
	// Each call carries the birth mark to make, the clock: the same for both builds.
	at := time.Now()
	store.now = func() time.Time { return at }
	obs := benchObservations(600)
	// Sessions the local store knew (merged by the gate) beside new ones
	// (the group's HSET), and one seen with more addresses than the
	// table keeps, both ways.
	for i := range obs {
		obs[i].sessionNew = i%3 != 0
		if i%50 < 12 {
			obs[i].Session = fmt.Sprint("browser-", i%2)
		}
	}
	for _, size := range []int{0, 1, 31, 512} {
		batch := make([]Observation, size)
		fillCatchUpBatch(batch, obs, 7)
		pooled, wire := store.prepare(ctx, batch, true), store.prepare(ctx, batch, false)
		if wire.wire.err != nil {
			t.Fatalf("%d events: %v", size, wire.wire.err)
		}
		if size == 0 {
			if len(wire.wire.buf) != 0 || len(pooled.pipe.Cmds()) != 0 {
				t.Errorf("no events: %d bytes and %d commands, want none", len(wire.wire.buf), len(pooled.pipe.Cmds()))
			}
			continue
		}
		var cmds [][]any
		for _, c := range pooled.pipe.Cmds() {
			cmds = append(cmds, c.Args())
		}
		if size == 512 && !strings.Contains(string(wire.wire.buf), "$4\r\nHSET\r\n$16\r\ngraceguard:h2:st\r\n") {
			t.Errorf("%d events: no HSET of the group's new sessions", size)
		}
		if want := goRedisBytes(t, cmds); string(wire.wire.buf) != string(want) {
			t.Errorf("%d events: the wire batch differs from go-redis's bytes for the pipeline's commands", size)
		}
		if len(wire.wire.sinks) != len(pooled.pipe.Cmds()) || len(wire.parts) != len(pooled.parts) {
			t.Fatalf("%d events: %d replies and %d parts, want %d and %d", size, len(wire.wire.sinks), len(wire.parts), len(pooled.pipe.Cmds()), len(pooled.parts))
		}
		for i, p := range wire.parts {
			q := pooled.parts[i]
			if (p.script == nil) != (q.script == nil) || p.plain != q.plain || (p.replies.sessions == nil) != (q.replies.sessions == nil) ||
				p.replies.pairs != q.replies.pairs || p.replies.overCap != q.replies.overCap {
				t.Errorf("%d events: part %d reads other replies than the pipeline's", size, i)
			}
		}
	}
}

// A nil bulk answering a *redis.StringCmd is redis.Nil, as go-redis has
// it, and leaves the connection up for the next batch (it was a protocol
// error that killed the connection).
func TestDuplexNilBulkToAStringCmdIsRedisNil(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		rd := bufio.NewReader(nc)
		for _, reply := range []string{"$-1\r\n", "+OK\r\n"} {
			if _, err := readReply(rd); err != nil {
				return
			}
			if _, err := nc.Write([]byte(reply)); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, rd)
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: 5 * time.Second})
	defer client.Close()
	d := newDuplex(client.Options())
	defer d.close()
	ctx := context.Background()
	get := redis.NewStringCmd(ctx, "GET", "k")
	wire, err := appendCommand(nil, get.Args())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.send(ctx, wire, []redis.Cmder{get}).wait(); err != redis.Nil || get.Err() != redis.Nil {
		t.Fatalf("GET of a missing key: flight %v, command %v; want redis.Nil for both", err, get.Err())
	}
	set := redis.NewCmd(ctx, "SET", "k", "v")
	if wire, err = appendCommand(nil, set.Args()); err != nil {
		t.Fatal(err)
	}
	if err := d.send(ctx, wire, []redis.Cmder{set}).wait(); err != nil || set.Val() != "OK" {
		t.Fatalf("the next batch on the connection: %v, %v; want OK", err, set.Val())
	}
}
