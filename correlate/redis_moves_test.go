package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Moves are found when a refusal asks, from each address's latest refresh
// per user and the user's refresh after it: a chain moving through eleven
// addresses moved away from each of the first ten, learned plainly or by
// the script (a refresh whose facts are asked); and a refresh back from an
// address ends the move away from it.
func TestRedisFindsMovesWhenARefusalAsks(t *testing.T) {
	t.Parallel()
	for _, need := range []bool{false, true} {
		t.Run(fmt.Sprint("facts asked ", need), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := newTestRedis(t, Limits{})
			user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
			addr := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1)) }
			refresh := func(i int, ip netip.Addr) Observation {
				return Observation{User: user, Session: "s1", Time: t0.Add(time.Duration(i) * time.Second), IP: ip, Action: Refresh,
					NeedFacts: need, Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
			}
			const hops = 11
			var obs []Observation
			for i := range hops {
				obs = append(obs, refresh(i, addr(i)))
			}
			obs = append(obs, refresh(hops, addr(0))) // back where it started
			if err := store.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
				t.Fatal(err)
			}
			at := t0.Add(time.Minute)
			for i := range hops - 1 {
				moves, err := store.MovesFrom(ctx, addr(i), at)
				if err != nil {
					t.Fatal(err)
				}
				want := i != 0
				if want != (len(moves) == 1) || want && (moves[0].To != addr(i+1) || !moves[0].FromTime.Equal(obs[i].Time) || !moves[0].ToTime.Equal(obs[i+1].Time)) {
					t.Errorf("moves away from %s: %+v; want the move to %s: %v", addr(i), moves, addr(i+1), want)
				}
			}
			// Asked at the time of the move, it has not happened yet.
			if moves, err := store.MovesFrom(ctx, addr(3), obs[4].Time); err != nil || len(moves) != 0 {
				t.Fatalf("moves away from %s before it moved: %+v (%v)", addr(3), moves, err)
			}
		})
	}
}

// testMovesCap is the moves index's cap in the tests that fill it: what
// the trims do does not depend on the cap's size, and 16,384 pairs, each
// through the script, were a third of the package's CPU time. Above 1,000,
// so that the index rebuilt from ra is written in several ZADDs.
const testMovesCap = 1_200

// The moves index holds the (address, user) pairs with the most recent
// refreshes, a bounded number of them.
func TestRedisMovesIndexIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	store.movesCap = testMovesCap
	obs := make([]Observation, store.movesCap+100)
	for i := range obs {
		obs[i] = Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i%5000)}, Time: t0.Add(time.Duration(i) * time.Millisecond),
			IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i / 5000)}), Action: Refresh, Source: "8:1", Offset: int64(i) * 300}
	}
	if err := store.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
		t.Fatal(err)
	}
	n, err := store.client.ZCard(ctx, store.hist+"ra").Result()
	if err != nil || n != int64(store.movesCap) {
		t.Fatalf("the index holds %d pairs (%v), want %d", n, err, store.movesCap)
	}
	last := obs[len(obs)-1]
	if s, err := store.client.ZScore(ctx, store.hist+"ra", last.IP.String()+"|"+member(last.User)).Result(); err != nil || int64(s) != last.Time.UnixMicro() {
		t.Fatalf("the latest refresh is indexed at %v (%v), want %d", s, err, last.Time.UnixMicro())
	}
}

// The moves index keeps its cap, the most recent pairs, counting what it
// drops (graceguard_evictions_total{what="moves_index"}), and its
// by-address view keeps step with it, whether the pairs came as plain
// writes or through the script.
func TestRedisMovesIndexTrimsAreCounted(t *testing.T) {
	t.Parallel()
	for _, need := range []bool{false, true} {
		t.Run(fmt.Sprint("facts asked ", need), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := newTestRedis(t, Limits{})
			store.movesCap = testMovesCap
			const extra = 100
			obs := make([]Observation, store.movesCap+extra)
			for i := range obs {
				obs[i] = Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i)}, Time: t0.Add(time.Duration(i) * time.Millisecond),
					IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i%200 + 1)}), Action: Refresh, NeedFacts: need && i%2 == 0,
					Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
			}
			if err := store.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
				t.Fatal(err)
			}
			st, err := store.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.MovesIndexEvicted != extra {
				t.Errorf("%d pairs counted evicted, want %d", st.MovesIndexEvicted, extra)
			}
			for _, key := range []string{"ra", "rx"} {
				if n := store.client.ZCard(ctx, store.hist+key).Val(); n != int64(store.movesCap) {
					t.Errorf("%s holds %d pairs, want %d", key, n, store.movesCap)
				}
			}
			// the first pairs went: the oldest
			if n := store.client.ZScore(ctx, store.hist+"rx", obs[0].IP.String()+"|"+member(obs[0].User)).Err(); n == nil {
				t.Errorf("the oldest pair is still in rx")
			}
		})
	}
}

// A refusal's lookup reads the refreshes of every user seen at its address,
// other users' keys than any its round trip writes. One of them holding
// another type (set by hand) failed the lookup, and with it the round trip
// it rode, at every refusal from that address: the failover store's
// write-back repairs only the keys its own events write, so nothing ever
// mended it. The lookup now passes such a key by, as it passes by a user
// with no refresh after the one from the address, and finds the others'
// moves.
func TestRedisMovesPassAKeyOfTheWrongTypeBy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	from, to := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	var obs []Observation
	users := []UserID{{IdP: "k8sIdp", DN: "uid=a,o=T"}, {IdP: "k8sIdp", DN: "uid=b,o=T"}}
	for i, u := range users {
		for j, ip := range []netip.Addr{from, to} {
			obs = append(obs, Observation{User: u, Session: "s" + fmt.Sprint(i), Time: t0.Add(time.Duration(2*i+j) * time.Second), IP: ip,
				Action: Refresh, Source: "8:1", Offset: int64(2*i+j) * 300, Digest: 1<<32 | uint64(2*i+j)})
		}
	}
	if err := store.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
		t.Fatal(err)
	}
	if err := store.client.Set(ctx, store.hist+"u:"+member(users[0])+":r", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	moves, err := store.MovesFrom(ctx, from, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("moves away from %s: %v", from, err)
	}
	if len(moves) != 1 || moves[0].User != users[1] || moves[0].To != to {
		t.Errorf("moves away from %s: %+v; want %s's to %s alone", from, moves, users[1].DN, to)
	}
}
