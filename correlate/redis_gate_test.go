package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A run of learn-only events sent in one batch, at MaxUsers 2 or an address
// TTL of 3 s, drops what the memory store drops at each event: a user
// evicted after its events in the run loses them ("drop"), one evicted and
// back keeps only what came after its return, one back after the TTL only
// what came after it. The last event asks for the user's facts; memory and
// Redis must say the same.
func TestRedisGateCutsWhatMemoryDrops(t *testing.T) {
	t.Parallel()
	type ev struct {
		user string
		at   time.Duration
		ip   byte
	}
	for _, tc := range []struct {
		name      string
		limits    Limits
		run       []ev          // learned in one batch, plainly
		ask       ev            // then asked, alone
		wantFirst time.Duration // -1: none, the user is new
		wantIPs   int
	}{
		{"evicted after its events", Limits{MaxUsers: 2},
			[]ev{{"a", 0, 1}, {"b", 1, 2}, {"c", 2, 3}}, ev{"a", 3, 4}, -1, 0},
		{"evicted and back", Limits{MaxUsers: 2},
			[]ev{{"a", 0, 1}, {"b", 1, 2}, {"c", 2, 3}, {"a", 3, 4}, {"a", 4, 5}}, ev{"a", 5, 6}, 3, 2},
		{"kept by its return", Limits{MaxUsers: 2},
			[]ev{{"a", 0, 1}, {"b", 1, 2}, {"a", 2, 3}, {"c", 3, 4}}, ev{"a", 4, 6}, 0, 2},
		{"back after the address TTL", Limits{IPTTL: 3 * time.Second},
			[]ev{{"a", 0, 1}, {"b", 1, 2}, {"a", 5, 3}}, ev{"a", 6, 6}, 5, 1},
		{"expired in the run", Limits{IPTTL: 3 * time.Second},
			[]ev{{"a", 0, 1}, {"b", 4, 2}}, ev{"a", 5, 6}, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, tc.limits, func(t *testing.T, s Store) {
				ctx := context.Background()
				off := int64(0)
				obs := func(e ev, need bool) Observation {
					off += 300
					return Observation{User: UserID{IdP: "k8sIdp", DN: "uid=" + e.user + ",o=T"}, Time: t0.Add(e.at * time.Second),
						IP: netip.AddrFrom4([4]byte{192, 0, 2, e.ip}), Action: Refresh, NeedFacts: need, Country: "NL",
						Source: "8:1", Offset: off, Digest: uint64(off) + 1, Attribution: parser.AttrJoined}
				}
				var run []Observation
				for _, e := range tc.run {
					run = append(run, obs(e, false))
				}
				facts := make([]Facts, len(run))
				if b, ok := s.(BatchStore); ok {
					if err := b.ApplyBatch(ctx, run, facts); err != nil {
						t.Fatal(err)
					}
				} else {
					for _, o := range run {
						if _, err := s.Apply(ctx, o); err != nil {
							t.Fatal(err)
						}
					}
				}
				f, err := s.Apply(ctx, obs(tc.ask, true))
				if err != nil {
					t.Fatal(err)
				}
				want := t0.Add(tc.wantFirst * time.Second)
				if tc.wantFirst < 0 {
					want = time.Time{}
				}
				if !f.FirstSeen.Equal(want) {
					t.Errorf("first seen %v, want %v", f.FirstSeen, want)
				}
				if len(f.UserIPs) != tc.wantIPs {
					t.Errorf("addresses %v, want %d", f.UserIPs, tc.wantIPs)
				}
			})
		})
	}
}

// A Redis whose scripts were flushed (restarted, or SCRIPT FLUSH) between
// two round trips applies the next batch whole and in order: the round trip
// loads the script before its first call, so no script call fails after the
// round trip's plain writes were applied.
func TestRedisBatchAfterScriptFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newOwnTestRedis(t, Limits{}) // SCRIPT FLUSH is the whole server's
	user := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	obs := func(i int, need bool) Observation {
		return Observation{User: user, Session: "s1", Time: t0.Add(time.Duration(i) * time.Second),
			IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), Action: Refresh, NeedFacts: need,
			Source: "8:1", Offset: int64(i) * 300, Digest: 1<<32 | uint64(i)}
	}
	if err := store.ApplyBatch(ctx, []Observation{obs(0, true)}, make([]Facts, 1)); err != nil {
		t.Fatal(err)
	}
	if err := store.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	batch := []Observation{obs(1, false), obs(2, true), obs(3, false), obs(4, true)}
	facts := make([]Facts, len(batch))
	if err := store.ApplyBatch(ctx, batch, facts); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	for _, i := range []int{1, 3} {
		if n := len(facts[i].UserIPs); n != i+1 {
			t.Errorf("event %d saw %d addresses (%v), want %d", i+1, n, facts[i].UserIPs, i+1)
		}
	}
}
