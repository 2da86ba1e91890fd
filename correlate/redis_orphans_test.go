package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys the caps must keep reaching, and the moves' by-address view, when
// other watchers, a FLUSHDB or a lost key come between a group's writes.

// h2:rx is now written only when ZADD h2:ra GT added a new pair, on the
// ground that rx always holds ra's pairs. Once rx lacks a pair of ra
// (rx evicted by a Redis run with an allkeys-* maxmemory policy, which
// this change makes likelier: rx is now written far less often than the
// keys around it, so it is the LRU candidate; a restore; an operator's
// DEL), no refresh ever puts the pair back while the user keeps
// refreshing from that address (ZADD GT of an existing pair adds
// nothing), so a refusal at that address never finds the move. Before
// this change the next refresh from the address repaired rx.
func TestRedisMovesByAddressHealsAPairItLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newTestRedis(t, Limits{})
	home, away := byte(1), byte(2)
	if err := r.ApplyBatch(ctx, []Observation{r3obs("u", 0, home, 300, false)}, make([]Facts, 1)); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Del(ctx, r.hist+"rx").Err(); err != nil { // evicted
		t.Fatal(err)
	}
	// The user refreshes from home again, then its chain moves away.
	// Two round trips, as a watcher following a live log sends them.
	for _, o := range []Observation{r3obs("u", time.Minute, home, 600, false), r3obs("u", time.Minute+time.Second, away, 900, false)} {
		if err := r.ApplyBatch(ctx, []Observation{o}, make([]Facts, 1)); err != nil {
			t.Fatal(err)
		}
	}
	from := netip.AddrFrom4([4]byte{192, 0, 2, home})
	moves, err := r.MovesFrom(ctx, from, t0.Add(time.Minute+2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 1 || moves[0].To != netip.AddrFrom4([4]byte{192, 0, 2, away}) {
		t.Errorf("moves away from %s after its pair was refreshed: %+v, want the move to 192.0.2.%d", from, moves, away)
	}
}

// Checked and found sound (passes): Redis flushed (FLUSHDB) between a
// gate and its group's writes takes the gate's mark and h2:drops with it;
// the missing mark reads as a drop, so the call after the group reads the
// users set and drops the keys the writes recreated outside it.
func TestRedisFlushBetweenAGateAndItsWritesLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _, hook, raw := twoWatchers(t, Limits{MaxUsers: 2})
	// Drops counted before the flush, so that h2:drops and the mark exist.
	warm := []Observation{r3obs("w1", 0, 1, 100, false), r3obs("w2", time.Second, 2, 200, false), r3obs("w3", 2*time.Second, 3, 250, false)}
	if err := a.ApplyBatch(ctx, warm, make([]Facts, len(warm))); err != nil {
		t.Fatal(err)
	}
	hook.at = func(cmds []redis.Cmder) int { return evalshaIndexes(cmds)[0] + 1 } // after the gate's call
	hook.between = func() {
		if err := raw.FlushDB(ctx).Err(); err != nil {
			t.Error(err)
		}
	}
	group := []Observation{r3obs("p", time.Minute, 4, 300, false), r3obs("q", time.Minute+time.Second, 5, 600, false)}
	if err := a.ApplyBatch(ctx, group, make([]Facts, len(group))); err != nil {
		t.Fatal(err)
	}
	if o := orphanKeys(t, raw); len(o) > 0 {
		t.Errorf("keys of users outside the users set after a FLUSHDB between a gate and its writes: %v", o)
	}
}
