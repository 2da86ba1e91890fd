package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

type pairsGeo map[netip.Addr]geo.Info

func (g pairsGeo) Lookup(a netip.Addr) (geo.Info, bool) { i, ok := g[a]; return i, ok }

// The place pairs refresh-travel learns (pair_seen) survive a checkpoint:
// two devices learned before a restart are not a journey after it.
func TestPlacePairsSurviveSnapshot(t *testing.T) {
	t.Parallel()
	ldn, syd := netip.MustParseAddr("198.51.100.23"), netip.MustParseAddr("192.0.2.66")
	g := pairsGeo{ldn: {Country: "GB", City: "London", Lat: 51.5, Lon: -0.1, HasLocation: true},
		syd: {Country: "AU", City: "Sydney", Lat: -33.9, Lon: 151.2, HasLocation: true}}
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	c.Geo = g
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var seen int
	judge := func(_ context.Context, jc *Context) error {
		if jc.Event.Kind == parser.KindTokenOK && jc.Travel != nil {
			seen = jc.TravelPairSeen
		}
		return nil
	}
	feed := func(c *Correlator, i int) {
		ip := ldn
		if i%2 == 1 {
			ip = syd
		}
		ev := parser.Event{Kind: parser.KindTokenOK, Time: base.Add(time.Duration(i) * time.Minute), User: "uid=a,o=T", IdP: "k8sidp", IP: ip, Thread: "t", Source: "a"}
		if err := c.Observe(context.Background(), &ev, judge); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(context.Background(), judge); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 6; i++ {
		feed(c, i)
	}
	before := seen
	c2 := NewCorrelator(store, 0)
	c2.Geo = g
	c2.Restore(c.Snapshot())
	feed(c2, 6)

	if seen <= before {
		t.Errorf("the learned place pair was lost by Snapshot/Restore: pair_seen %d after, %d before", seen, before)
	}
}

// Both of the place pairs' caps hold, and each counts what it lets go: the
// least recently travelled pair of a user past maxPairsPerUser, the least
// recently seen user past maxPlaceUsers.
func TestPlacePairsAtTheirCaps(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		users, pairs int // each user travels pairs distinct pairs
		wantUsers    int64
		wantPairs    int64
	}{
		{"under the caps", 2, maxPairsPerUser, 0, 0},
		{"pairs of one user", 1, maxPairsPerUser + 3, 0, 3},
		{"users", maxPlaceUsers + 2, 1, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, st := newPlacePairs(), &CorrelatorStats{}
			for u := range tc.users {
				id := UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", u)}
				for i := range tc.pairs {
					p.learn(id, "GB/London", fmt.Sprintf("AU/city%d", i), base.Add(time.Duration(u*tc.pairs+i)*time.Second), st)
				}
			}
			if st.PlaceUsersEvicted != tc.wantUsers || st.PlacePairsEvicted != tc.wantPairs {
				t.Errorf("evicted %d users and %d pairs, want %d and %d", st.PlaceUsersEvicted, st.PlacePairsEvicted, tc.wantUsers, tc.wantPairs)
			}
			if p.users.len() > maxPlaceUsers {
				t.Errorf("%d users, past the cap %d", p.users.len(), maxPlaceUsers)
			}
		})
	}
}
