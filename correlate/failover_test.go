package correlate

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

func TestFailoverKeepsAnalysingWhenRedisGoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt := failoverOptions(t, srv)
	store := newFailover(ctx, NewRedis(redis.NewClient(opt), RedisOptions{Owner: "this watcher"}), NewMemory(Limits{}), nil, fastProbe)
	defer store.Close()
	if !store.Up() {
		t.Fatal("not up with Redis running")
	}
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	refresh := Observation{User: u, Time: t0, IP: netip.MustParseAddr("198.51.100.23"), Action: Refresh}
	reuse := func(at time.Duration) Observation {
		return Observation{User: u, Time: t0.Add(at), IP: netip.MustParseAddr("192.0.2.66"), Action: Reuse, NeedFacts: true}
	}
	if _, err := store.Apply(ctx, refresh); err != nil {
		t.Fatal(err)
	}
	store.Flush(ctx) // the refresh is in Redis, so that the restart's loss shows
	if ok, _ := store.Claim(ctx, "alert-1", time.Hour); !ok {
		t.Fatal("first claim refused")
	}
	other := NewRedis(redis.NewClient(opt), RedisOptions{Owner: "another watcher"})
	if ok, _ := other.Claim(ctx, "alert-1", time.Hour); ok {
		t.Fatal("another watcher's claim of the same id granted")
	}

	srv.Stop()
	f, err := store.Apply(ctx, reuse(time.Second))
	if err != nil {
		t.Fatalf("Apply failed with Redis down: %v", err)
	}
	if f.Prev == nil || f.Prev.IP != refresh.IP {
		t.Errorf("with Redis down the local history must answer: prev %+v", f.Prev)
	}
	if store.Up() || store.Errors() == 0 {
		t.Errorf("up %v errors %d: Redis down must show", store.Up(), store.Errors())
	}
	if ok, _ := store.Claim(ctx, "alert-2", time.Hour); !ok {
		t.Error("with Redis down a claim must be granted: a duplicate beats a lost alert")
	}

	srv.Restart()
	testsync.WaitFor(t, "the reconnect", store.Up)
	// The restarted server lost its data (no persistence): the facts come
	// from Redis again, which no longer knows the refresh.
	f, err = store.Apply(ctx, reuse(2*time.Second))
	if err != nil || f.Prev != nil {
		t.Fatalf("after reconnecting the facts must come from Redis: prev %+v err %v", f.Prev, err)
	}
}

func TestFailoverStartsDegradedWithoutRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	opt := failoverOptions(t, srv)
	srv.Stop()
	store := newFailover(context.Background(), NewRedis(redis.NewClient(opt), RedisOptions{}), NewMemory(Limits{}), nil, fastProbe)
	defer store.Close()
	if store.Up() {
		t.Fatal("up with Redis stopped")
	}
	f, err := store.Apply(context.Background(), Observation{User: UserID{DN: "u"}, Time: t0, IP: netip.MustParseAddr("192.0.2.1"), Action: Reuse, NeedFacts: true})
	if err != nil || f.Reuses10m != 1 {
		t.Fatalf("facts %+v err %v", f, err)
	}
	srv.Restart()
	testsync.WaitFor(t, "the connection once Redis started", store.Up)
}

func TestRedisClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt, _ := redis.ParseURL(srv.URL(0))
	a := NewRedis(redis.NewClient(opt), RedisOptions{Owner: "pod-a"})
	b := NewRedis(redis.NewClient(opt), RedisOptions{Owner: "pod-b"})
	steps := []struct {
		store *Redis
		id    string
		want  bool
	}{
		{a, "x", true},  // first claim
		{b, "x", false}, // another watcher's
		{a, "x", true},  // its own, after a crash before the send
		{b, "y", true},
	}
	for i, s := range steps {
		got, err := s.store.Claim(ctx, s.id, time.Hour)
		if err != nil || got != s.want {
			t.Fatalf("step %d: %s claims %s: %v %v, want %v", i, s.store.owner, s.id, got, err, s.want)
		}
	}
	if err := a.Unclaim(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Claim(ctx, "x", time.Hour); !ok {
		t.Error("an unclaimed id must be free again")
	}
}

// A watcher restarted from a checkpoint re-reads lines whose effect Redis
// kept: learning them again must not count them twice.
func TestRedisLearnsAnEventOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	for range 2 { // the first run, then the restart re-reading the same lines
		for i := range 3 {
			o := Observation{User: u, Time: t0.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("192.0.2.66"),
				Action: Reuse, NeedFacts: true, Source: "8:1234", Offset: int64(1000 * i)}
			f, err := store.Apply(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if f.Reuses10m != i+1 {
				t.Fatalf("reuse %d: counted %d reuses, want %d", i, f.Reuses10m, i+1)
			}
		}
	}
}

// A Redis that answers PING but refuses writes (a read-only replica after
// a failover here; out of memory or an ACL are the same) stays out of use
// until it can write again, rather than flapping between up and down.
func TestFailoverWaitsForARedisThatCanWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt := failoverOptions(t, srv)
	admin := redis.NewClient(opt)
	defer admin.Close()
	store := newFailover(ctx, NewRedis(redis.NewClient(opt), RedisOptions{}), NewMemory(Limits{}), nil, fastProbe)
	defer store.Close()
	if err := admin.Do(ctx, "REPLICAOF", "127.0.0.1", "1").Err(); err != nil {
		t.Fatal(err)
	}
	reuse := Observation{User: UserID{DN: "u"}, Time: t0, IP: netip.MustParseAddr("192.0.2.1"), Action: Reuse, NeedFacts: true}
	if _, err := store.Apply(ctx, reuse); err != nil {
		t.Fatal(err)
	}
	if store.Up() {
		t.Fatal("a failed write left the shared store in use")
	}
	// Probes that find it answering but refusing writes: one that took it
	// back would stop probing, and up shows.
	n := store.Errors()
	testsync.WaitFor(t, "probes of the read-only Redis", func() bool { return store.Up() || store.Errors() >= n+5 })
	if store.Up() {
		t.Fatal("a Redis that cannot write was taken back into use")
	}
	if err := admin.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "back in use once Redis could write again", store.Up)
}

// What was learned while Redis was down is written back when it answers
// again, before a reuse is judged against it: here and in another watcher.
func TestFailoverWritesBackWhatItLearnedWhileRedisWasDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	opt := failoverOptions(t, srv)
	store := newFailover(ctx, NewRedis(redis.NewClient(opt), RedisOptions{Owner: "a"}), NewMemory(Limits{}), nil, fastProbe)
	defer store.Close()
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	at := func(d time.Duration, ip string, action Action, off int64) Observation {
		return Observation{User: u, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Action: action, NeedFacts: action == Reuse,
			Source: "8:1234", Offset: off}
	}
	// Learned while Redis is up, batched and not yet sent when it dies.
	if _, err := store.Apply(ctx, at(0, "203.0.113.1", Refresh, 0)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// Learned while it is down: the refresh the replay below follows. The
	// watcher flushes every tick; that finds Redis gone.
	if _, err := store.Apply(ctx, at(time.Second, "198.51.100.40", Refresh, 100)); err != nil {
		t.Fatal(err)
	}
	store.Flush(ctx)
	if store.Up() {
		t.Fatal("up with Redis stopped")
	}
	if _, err := store.Apply(ctx, at(2*time.Second, "198.51.100.41", Refresh, 200)); err != nil {
		t.Fatal(err)
	}
	srv.Restart() // its data is gone: what it knows now is only what is written back
	testsync.WaitFor(t, "the reconnect", store.Up)
	f, err := store.Apply(ctx, at(3*time.Second, "192.0.2.66", Reuse, 300))
	if err != nil {
		t.Fatal(err)
	}
	if f.Prev == nil || f.Prev.IP != netip.MustParseAddr("198.51.100.41") || len(f.UserIPs) != 3 {
		t.Fatalf("after the reconnect the reuse was judged without what was learned meanwhile: prev %+v, addresses %v", f.Prev, f.UserIPs)
	}
	if n := store.WriteBackPending(); n != 0 {
		t.Errorf("%d observations still wait to be written back", n)
	}
	other := NewRedis(redis.NewClient(opt), RedisOptions{Owner: "b"})
	defer other.Close()
	f, err = other.Apply(ctx, Observation{User: u, Time: t0.Add(4 * time.Second), IP: netip.MustParseAddr("192.0.2.67"), Action: Reuse, NeedFacts: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Prev == nil || f.Prev.IP != netip.MustParseAddr("198.51.100.41") || f.Reuses10m != 2 {
		t.Fatalf("another watcher does not see what was written back: prev %+v, reuses %d", f.Prev, f.Reuses10m)
	}
}

// An error is logged each time it changes, not each time it recurs: a
// refused connection, then a wrong password once Redis is back with
// another one, each once.
func TestFailoverLogsEachNewError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.WithPassword("first"))
	opt := failoverOptions(t, srv)
	var logs testsync.Buffer
	store := newFailover(ctx, NewRedis(redis.NewClient(opt), RedisOptions{}), NewMemory(Limits{}), slog.New(slog.NewTextHandler(&logs, nil)), fastProbe)
	defer store.Close()
	srv.Stop()
	reuse := Observation{User: UserID{DN: "u"}, Time: t0, IP: netip.MustParseAddr("192.0.2.1"), Action: Reuse, NeedFacts: true}
	store.Apply(ctx, reuse)
	testsync.WaitFor(t, "probes to fail again", func() bool { return store.Errors() >= 3 })
	srv.Password = "second"
	srv.Restart()
	testsync.WaitFor(t, "the wrong password to be logged", func() bool { return strings.Contains(logs.String(), "WRONGPASS") })
	n := store.Errors()
	testsync.WaitFor(t, "probes to fail again", func() bool { return store.Errors() >= n+2 })
	refused, wrongpass := strings.Count(logs.String(), "connection refused"), strings.Count(logs.String(), "WRONGPASS")
	if refused != 1 || wrongpass != 1 {
		t.Fatalf("logged the refusal %d times and the wrong password %d times, want each once:\n%s", refused, wrongpass, logs.String())
	}
}

// A batch applied in one round trip gives each observation the facts one
// Apply after another would have given it.
func TestRedisApplyBatchAgreesWithApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := func(db int) *Redis {
		opt, err := redis.ParseURL(srv.URL(db))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return NewRedis(c, RedisOptions{Limits: Limits{MaxUsers: 50}})
	}
	one, batched := store(0), store(1)
	obs := benchObservations(600)
	for i := range obs {
		obs[i].Time = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		obs[i].Source, obs[i].Offset = "8:1", int64(i)
		if i%7 == 0 {
			obs[i].Action, obs[i].NeedFacts = Reuse, true
		}
		if i%11 == 0 {
			obs[i].NeedFacts = true // a refresh some rule judges
		}
	}
	want := make([]Facts, len(obs))
	for i, o := range obs {
		f, err := one.Apply(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = f
	}
	got := make([]Facts, len(obs))
	for start := 0; start < len(obs); start += 100 {
		end := min(start+100, len(obs))
		if err := batched.ApplyBatch(ctx, obs[start:end], got[start:end]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range obs {
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Fatalf("observation %d (%+v): batched facts %+v, one by one %+v", i, obs[i], got[i], want[i])
		}
	}
}
