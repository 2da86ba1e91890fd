package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A user's meta lists the addresses its moves are recorded under, so that a
// refresh clears a move only where there is one; the list is bounded: a
// chain moving through more addresses than it keeps clears its oldest
// moves, and the newer ones stay.
func TestRedisKeepsAUsersRecentMovesOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newTestRedis(t, Limits{})
	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	addr := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1)) }
	const hops = 11 // 10 moves, 8 kept
	for i := range hops {
		o := Observation{User: user, Session: "s1", Time: t0.Add(time.Duration(i) * time.Second), IP: addr(i), Action: Refresh,
			Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
		if _, err := store.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(time.Minute)
	for i := range hops - 1 {
		moves, err := store.MovesFrom(ctx, addr(i), at)
		if err != nil {
			t.Fatal(err)
		}
		kept := i >= hops-1-8
		if kept != (len(moves) == 1) || kept && moves[0].To != addr(i+1) {
			t.Errorf("moves away from %s: %+v; want the move to %s kept: %v", addr(i), moves, addr(i+1), kept)
		}
	}
	mf, err := store.client.HGet(ctx, store.prefix+"u:"+member(user)+":m", "mf").Result()
	if err != nil || len(strings.Fields(mf)) != 8 {
		t.Fatalf("meta lists the addresses %q (%v), want 8", mf, err)
	}
}
