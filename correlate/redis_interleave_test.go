package correlate

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/parser"
)

// splitHook runs a pipeline in two parts, cut before the command index at
// says (-1: not cut), and calls between once in between: another watcher's
// round trip landing inside this one, as Redis allows (no MULTI).
type splitHook struct {
	at      func(cmds []redis.Cmder) int
	between func()
}

func (h *splitHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *splitHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *splitHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		i := -1
		if h.between != nil && len(evalshaIndexes(cmds)) > 0 {
			i = h.at(cmds)
		}
		if i < 0 {
			return next(ctx, cmds)
		}
		if err := next(ctx, cmds[:i]); err != nil {
			return err
		}
		h.between()
		h.between = nil
		return next(ctx, cmds[i:])
	}
}

func evalshaIndexes(cmds []redis.Cmder) []int {
	var out []int
	for i, c := range cmds {
		if c.Name() == "evalsha" {
			out = append(out, i)
		}
	}
	return out
}

func twoWatchers(t *testing.T, l Limits) (a, b *Redis, hook *splitHook, raw *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	opt, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	ca, cb, cr := redis.NewClient(opt), redis.NewClient(opt), redis.NewClient(opt)
	t.Cleanup(func() { ca.Close(); cb.Close(); cr.Close() })
	hook = &splitHook{}
	ca.AddHook(hook)
	return pooled(NewRedis(ca, RedisOptions{Limits: l, Owner: "a"})), NewRedis(cb, RedisOptions{Limits: l, Owner: "b"}), hook, cr
}

func r3obs(user string, at time.Duration, ip byte, off int64, need bool) Observation {
	return Observation{User: UserID{IdP: "k8sIdp", DN: "uid=" + user + ",o=T"}, Time: t0.Add(at),
		IP: netip.AddrFrom4([4]byte{192, 0, 2, ip}), Action: Refresh, NeedFacts: need, Country: "NL",
		Source: "8:1", Offset: off, Digest: uint64(off) + 1, Attribution: parser.AttrJoined}
}

// orphanKeys lists the users with keys under h2:u: but not in the users set:
// keys no trim reaches (the trims go through the users set).
func orphanKeys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "graceguard:h2:u:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		m := strings.TrimPrefix(k, "graceguard:h2:u:")
		m = m[:strings.LastIndex(m, ":")]
		if err := c.ZScore(ctx, "graceguard:h2:users", m).Err(); err == redis.Nil {
			out = append(out, k)
		}
	}
	return out
}

// Watcher a catches up a backlog (old log times) while watcher b is live
// at MaxUsers 2. a's gate writes its group's users to the users set, then
// its plain writes follow in the same pipeline; b's round trip lands in
// between and evicts a's user (the least recently seen). a's plain writes
// then recreate that user's keys outside the users set, which no trim
// reaches: the call that follows a's group must drop them.
func TestRedisGateRaceLeavesNoKeysOutsideTheUsersSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, hook, raw := twoWatchers(t, Limits{MaxUsers: 2})
	hook.at = func(cmds []redis.Cmder) int { return evalshaIndexes(cmds)[0] + 1 } // after the gate's call
	hook.between = func() {
		live := []Observation{r3obs("x", time.Hour, 10, 1000, false), r3obs("y", time.Hour+time.Second, 11, 1300, false)}
		if err := b.ApplyBatch(ctx, live, make([]Facts, len(live))); err != nil {
			t.Error(err)
		}
	}
	backlog := []Observation{r3obs("old", 0, 1, 300, false), r3obs("old", time.Second, 2, 600, false)}
	if err := a.ApplyBatch(ctx, backlog, make([]Facts, len(backlog))); err != nil {
		t.Fatal(err)
	}
	// More traffic from both: the orphans stay.
	for i, w := range []*Redis{a, b} {
		more := []Observation{r3obs("z", 2*time.Hour, byte(20+i), int64(5000+300*i), false)}
		if err := w.ApplyBatch(ctx, more, make([]Facts, 1)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if o := orphanKeys(t, raw); len(o) > 0 {
		t.Errorf("keys of users outside the users set, which no trim reaches: %v", o)
	}
}

// Watcher a's gate evicts user p after p's events in a's group (cut
// "drop", applied at a's next call, the round trip's last). Watcher b logs
// p again in between: p is back in the users set with b's writes. a's next
// call must then keep b's history of p (losing only a's writes, from before
// p's return), so that a later replay from elsewhere meets it.
func TestRedisStaleCutKeepsAnotherWatchersHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, hook, _ := twoWatchers(t, Limits{MaxUsers: 2})
	hook.at = func(cmds []redis.Cmder) int { ix := evalshaIndexes(cmds); return ix[len(ix)-1] } // before the last call
	hook.between = func() {
		back := []Observation{r3obs("p", 10*time.Second, 50, 9000, false)}
		if err := b.ApplyBatch(ctx, back, make([]Facts, 1)); err != nil {
			t.Error(err)
		}
		if err := b.Flush(ctx); err != nil {
			t.Error(err)
		}
	}
	group := []Observation{r3obs("p", 0, 1, 300, false), r3obs("q", time.Second, 2, 600, false), r3obs("r", 2*time.Second, 3, 900, false)}
	if err := a.ApplyBatch(ctx, group, make([]Facts, len(group))); err != nil {
		t.Fatal(err)
	}
	f, err := b.Apply(ctx, r3obs("p", 11*time.Second, 60, 9300, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.UserIPs) != 1 || f.UserIPs[0] != netip.AddrFrom4([4]byte{192, 0, 2, 50}) {
		t.Errorf("p's addresses %v, want b's 192.0.2.50 (logged after a's events)", f.UserIPs)
	}
}

// brokenHook ends a pipeline with an error after the command index at
// says: a connection lost halfway through a round trip.
type brokenHook struct{ at func(cmds []redis.Cmder) int }

func (h brokenHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h brokenHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h brokenHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(evalshaIndexes(cmds)) == 0 {
			return next(ctx, cmds)
		}
		if err := next(ctx, cmds[:h.at(cmds)]); err != nil {
			return err
		}
		return errors.New("connection lost")
	}
}

// A round trip broken after a gate that cut leaves the cut for the owner's
// next call; owner ids are stable across restarts, so the cut must expire
// rather than fire at a restarted watcher's first call, hours later, on a
// user logged since.
func TestRedisCutOfABrokenRoundTripExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _, _, raw := twoWatchers(t, Limits{MaxUsers: 2})
	a.client.AddHook(brokenHook{at: func(cmds []redis.Cmder) int { return evalshaIndexes(cmds)[0] + 1 }})
	group := []Observation{r3obs("p", 0, 1, 300, false), r3obs("q", time.Second, 2, 600, false), r3obs("r", 2*time.Second, 3, 900, false)}
	if err := a.ApplyBatch(ctx, group, make([]Facts, len(group))); err == nil {
		t.Fatal("a round trip broken halfway reported no error")
	}
	cut := "graceguard:h2:cut:a"
	if raw.HGet(ctx, cut, member(group[0].User)).Val() != "drop" {
		t.Fatalf("the gate left no cut for p: %v", raw.HGetAll(ctx, cut).Val())
	}
	if ttl := raw.PTTL(ctx, cut).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("the cut's time to live is %v, want at most a minute", ttl)
	}
}

// Watcher b keeps the moves index at its cap while watcher a catches up a
// backlog (older refreshes). a's group writes its pair to ra, then to rx,
// two commands of its pipeline; b's round trip lands in between, and its
// trimMoves pops a's pair (the oldest) from ra and removes it from rx,
// where it is not yet. a's ZADD to rx then adds it: a pair in rx and not
// in ra, which no trim ever removes (trimMoves removes from rx only what it
// pops from ra). rx must hold ra's pairs, whatever lands between a's
// commands.
func TestRedisMovesByAddressKeepsTheIndexsPairs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, hook, raw := twoWatchers(t, Limits{})
	a.movesCap, b.movesCap = testMovesCap, testMovesCap
	addr := func(i int) netip.Addr {
		nets := [3][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
		n := nets[i%3]
		return netip.AddrFrom4([4]byte{n[0], n[1], n[2], byte(i / 3 % 256)})
	}
	var fill []Observation
	for i := 0; i < testMovesCap; i++ {
		o := r3obs(strings.Repeat("u", 1+i/768), time.Hour+time.Duration(i)*time.Millisecond, 0, int64(300*(i+1)), false)
		o.IP = addr(i % 768)
		fill = append(fill, o)
	}
	if err := b.ApplyBatch(ctx, fill, make([]Facts, len(fill))); err != nil {
		t.Fatal(err)
	}
	// b lands between the group's plain writes to ra and rx when they are
	// two commands, else just before the call that follows the group.
	hook.at = func(cmds []redis.Cmder) int {
		for i, c := range cmds {
			if args := c.Args(); len(args) > 1 && args[0] == "ZADD" && args[1] == "graceguard:h2:rx" {
				return i
			}
		}
		ix := evalshaIndexes(cmds)
		return ix[len(ix)-1]
	}
	hook.between = func() {
		live := []Observation{r3obs("live", 2*time.Hour, 77, 99_000_000, false)}
		if err := b.ApplyBatch(ctx, live, make([]Facts, 1)); err != nil {
			t.Error(err)
		}
	}
	backlog := []Observation{r3obs("old", 0, 1, 300, false)}
	if err := a.ApplyBatch(ctx, backlog, make([]Facts, 1)); err != nil {
		t.Fatal(err)
	}
	ra, rx := raw.ZCard(ctx, "graceguard:h2:ra").Val(), raw.ZCard(ctx, "graceguard:h2:rx").Val()
	if ra != rx || rx > testMovesCap {
		t.Errorf("ra holds %d pairs, rx %d: rx must hold ra's pairs, at most %d", ra, rx, testMovesCap)
	}
}

// A round trip whose last event goes to the script (asked facts) and has
// no session has no trailing call, and the gate's call keeps the users set
// only: the sessions its groups wrote must still be trimmed to MaxSessions
// by the round trip's end.
func TestRedisSessionsCapKeptWhenARoundTripEndsWithAScriptEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newTestRedis(t, Limits{MaxSessions: 2})
	var batch []Observation
	for i := range 6 {
		o := r3obs("s", time.Duration(i)*time.Second, byte(i+1), int64(300*(i+1)), false)
		o.Session = "sess-" + strings.Repeat("x", i+1)
		batch = append(batch, o)
	}
	last := r3obs("s", 10*time.Second, 9, 9000, true)
	last.Session = ""
	batch = append(batch, last)
	if err := r.ApplyBatch(ctx, batch, make([]Facts, len(batch))); err != nil {
		t.Fatal(err)
	}
	if n := r.client.HLen(ctx, r.hist+"st").Val(); n > 2 {
		t.Errorf("%d sessions after the round trip, cap 2", n)
	}
}
