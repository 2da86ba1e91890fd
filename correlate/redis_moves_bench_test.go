package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// What one refusal costs Redis when the moves index is full of pairs
// refreshed within the last two SessionReach, none or 82 of them from the
// address asked: the by-address view (rx) makes it a lookup of the
// address's pairs (~50 µs with none, ~0.45 ms with 82, a round trip each,
// loaded), where it was a walk of every pair in the window (16-25 ms at the
// cap, loaded). Redis runs scripts one at a time, so every watcher waits
// this long per refusal.
func BenchmarkRedisMovesFromFullIndex(b *testing.B) {
	ctx := context.Background()
	store := newOwnTestRedis(b, Limits{})
	obs := make([]Observation, maxMovesIndexed)
	for i := range obs {
		obs[i] = Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i)}, Time: t0.Add(time.Duration(i) * time.Millisecond),
			IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 200)}), Action: Refresh, Source: "8:1", Offset: int64(i) * 300}
	}
	if err := store.ApplyBatch(ctx, obs, make([]Facts, len(obs))); err != nil {
		b.Fatal(err)
	}
	at := t0.Add(time.Minute)
	for _, c := range []struct {
		name string
		from netip.Addr
	}{
		{"address without pairs", netip.MustParseAddr("198.51.100.9")},
		{"address with 82 pairs", netip.MustParseAddr("192.0.2.9")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := store.MovesFrom(ctx, c.from, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
