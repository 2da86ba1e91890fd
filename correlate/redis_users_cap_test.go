package correlate

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// At MaxUsers, a batch whose script call (an event needing facts, for a
// new user) comes after a learn-only refresh of another user in the same
// batch evicts the user the memory store evicts: the refresh's time is in
// Redis's users set before the script judges who was least recently seen
// (the plain group's gate writes it). Before, the script ran first and
// evicted the refreshing user, whose history was lost.
func TestRedisBatchAtUsersCapEvictsAsMemoryDoes(t *testing.T) {
	t.Parallel()
	l := Limits{MaxUsers: 2}
	forEachStore(t, l, func(t *testing.T, s Store) {
		ctx := context.Background()
		user := func(n string) UserID { return UserID{IdP: "k8sIdp", DN: "uid=" + n + ",o=T"} }
		obs := func(u string, at time.Duration, a Action, need bool, off int64) Observation {
			return Observation{User: user(u), Session: "s-" + u, Time: t0.Add(at),
				IP: netip.MustParseAddr("192.0.2.7"), Action: a, NeedFacts: need, Country: "NL",
				Source: "8:1", Offset: off, Digest: uint64(off) + 1, Attribution: parser.AttrJoined}
		}
		apply := func(batch ...Observation) []Facts {
			facts := make([]Facts, len(batch))
			if b, ok := s.(BatchStore); ok {
				if err := b.ApplyBatch(ctx, batch, facts); err != nil {
					t.Fatal(err)
				}
				return facts
			}
			for i, o := range batch {
				var err error
				if facts[i], err = s.Apply(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			return facts
		}
		apply(obs("a", 0, Refresh, false, 100), obs("b", time.Second, Refresh, false, 200))
		// a refreshes (learn-only), then c, new, logs in and asks: b is the
		// least recently seen user, the one to go.
		apply(obs("a", 2*time.Second, Refresh, false, 300), obs("c", 3*time.Second, Login, true, 400))
		f := apply(obs("a", 4*time.Second, Refresh, true, 500))[0]
		if !f.FirstSeen.Equal(t0) {
			t.Errorf("a first seen %v, want %v (its history was evicted for b's)", f.FirstSeen, t0)
		}
		if st := statsOf(t, s); st.UsersEvicted != 1 {
			t.Errorf("%d users evicted, want 1 (b)", st.UsersEvicted)
		}
	})
}
