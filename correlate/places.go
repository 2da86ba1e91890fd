package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/geo"
)

// A user with two devices in two places (a laptop at home, a VM in another
// region, a VPN exit) refreshes from both in turn, every refresh a jump no
// one could travel. The Correlator counts, per user, how often consecutive
// refreshes went between each pair of places, so a rule can learn the pairs
// a user keeps using (Context.TravelPairSeen) and stop alerting on them.
// In-process and bounded, like the chain index.

// PlacePairWindow is how long a pair of places stays learned without being
// travelled again.
const PlacePairWindow = 7 * 24 * time.Hour

const (
	maxPlaceUsers   = 100_000 // users whose place pairs are remembered
	maxPairsPerUser = 8       // pairs per user; the least recently travelled goes
)

type placePair struct {
	a, b  string // place keys, a < b
	count int
	last  time.Time
}

type placePairs struct {
	users *lru[UserID, []placePair]
}

func newPlacePairs() placePairs { return placePairs{users: newLRU[UserID, []placePair]()} }

// placeKey names a place coarsely enough that two addresses of one city are
// one place: country and city, else the coordinates to a tenth of a degree.
func placeKey(g geo.Info) string {
	if g.City != "" {
		return g.Country + "/" + g.City
	}
	return fmt.Sprintf("%s/%.1f,%.1f", g.Country, g.Lat, g.Lon)
}

// learn counts a refresh that went from place from to place to, and returns
// how often the pair was travelled before (within PlacePairWindow). The
// same place twice is no pair.
func (p *placePairs) learn(u UserID, from, to string, at time.Time, st *CorrelatorStats) int {
	if from == to {
		return 0
	}
	a, b := min(from, to), max(from, to)
	pairs, ok := p.users.get(u)
	if !ok {
		if p.users.len() >= maxPlaceUsers {
			p.users.removeOldest()
			st.PlaceUsersEvicted++
		}
		u = UserID{IdP: strings.Clone(u.IdP), DN: strings.Clone(u.DN)}
	}
	seen := 0
	i := slices.IndexFunc(pairs, func(x placePair) bool { return x.a == a && x.b == b })
	switch {
	case i >= 0 && within(pairs[i].last, at, PlacePairWindow):
		seen = pairs[i].count
		pairs[i].count++
		pairs[i].last = maxTime(pairs[i].last, at)
	case i >= 0:
		pairs[i] = placePair{a: a, b: b, count: 1, last: at}
	default:
		if len(pairs) >= maxPairsPerUser {
			oldest := 0
			for j := range pairs {
				if pairs[j].last.Before(pairs[oldest].last) {
					oldest = j
				}
			}
			pairs = slices.Delete(pairs, oldest, oldest+1)
			st.PlacePairsEvicted++
		}
		pairs = append(pairs, placePair{a: strings.Clone(a), b: strings.Clone(b), count: 1, last: at})
	}
	if ok {
		p.users.put(u, pairs)
	} else {
		p.users.add(u, pairs)
	}
	return seen
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// snapshot copies every user's pairs, oldest user first, so a restore
// rebuilds the same recency order.
func (p *placePairs) snapshot() []PlacePairs {
	var out []PlacePairs
	for e := p.users.head.prev; e != &p.users.head; e = e.prev {
		up := PlacePairs{User: e.key, Pairs: make([]PlacePair, len(e.val))}
		for i, x := range e.val {
			up.Pairs[i] = PlacePair{A: x.a, B: x.b, Count: x.count, Last: x.last}
		}
		out = append(out, up)
	}
	return out
}

// restore adds one user's pairs from a snapshot, within the caps.
func (p *placePairs) restore(up PlacePairs) {
	if p.users.len() >= maxPlaceUsers || len(up.Pairs) == 0 {
		return
	}
	pairs := make([]placePair, 0, min(len(up.Pairs), maxPairsPerUser))
	for _, x := range up.Pairs[:min(len(up.Pairs), maxPairsPerUser)] {
		pairs = append(pairs, placePair{a: x.A, b: x.B, count: x.Count, last: x.Last})
	}
	p.users.add(up.User, pairs)
}
