package correlate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// Watchers sharing a store learn events out of log order: a replay held for
// the settle time on one replica's watcher is judged after another's wrote
// the thief's next refresh, from the replaying address. The reuse's facts
// are the history as it stood at the reuse: an address, a country or a
// network first seen after it is not yet the user's, whatever was learned
// first; one seen before it is, though seen again after.
func TestFactsLeaveOutWhatWasFirstSeenAfterTheEvent(t *testing.T) {
	t.Parallel()
	user := UserID{IdP: "k8sIdp", DN: "uid=mmosley,ou=shadow,o=Tremolo"}
	obs := func(d time.Duration, ip, country string, asn uint, a Action, source string, offset int64) Observation {
		return Observation{User: user, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Country: country, ASN: asn,
			Action: a, Session: "null", Source: source, Offset: offset, Digest: uint64(offset) + 1<<32}
	}
	type tc struct {
		name    string
		history []Observation // learned before the reuse, in this order
		reuse   Observation
		ips     []netip.Addr
		seen    bool
		places  []string
		asns    []uint
	}
	reuse := obs(2*time.Second, "203.0.113.9", "US", 64501, Reuse, "pod-b", 0)
	cases := []tc{
		{
			name: "the thief's next refresh, learned before its replay",
			history: []Observation{
				obs(0, "10.0.0.1", "NL", 64500, Refresh, "pod-a", 0),
				obs(3*time.Second, "203.0.113.9", "US", 64501, Refresh, "pod-a", 100),
			},
			reuse: reuse, ips: addrs("10.0.0.1"), places: []string{"NL"}, asns: []uint{64500},
		},
		{
			name: "learned before the refresh before it",
			history: []Observation{
				obs(3*time.Second, "203.0.113.9", "US", 64501, Refresh, "pod-a", 100),
				obs(0, "10.0.0.1", "NL", 64500, Refresh, "pod-a", 0),
			},
			reuse: reuse, ips: addrs("10.0.0.1"), places: []string{"NL"}, asns: []uint{64500},
		},
		{
			name: "an address and a place seen before the reuse stay known, though seen again after it",
			history: []Observation{
				obs(-time.Minute, "203.0.113.9", "US", 64501, Login, "pod-a", 0),
				obs(0, "10.0.0.1", "NL", 64500, Refresh, "pod-a", 100),
				obs(3*time.Second, "203.0.113.9", "US", 64501, Refresh, "pod-a", 200),
			},
			reuse: reuse, ips: addrs("203.0.113.9", "10.0.0.1"), seen: true, places: []string{"US", "NL"}, asns: []uint{64501, 64500},
		},
		{
			name: "seen before the reuse, learned last",
			history: []Observation{
				obs(0, "10.0.0.1", "NL", 64500, Refresh, "pod-a", 100),
				obs(3*time.Second, "203.0.113.9", "US", 64501, Refresh, "pod-a", 200),
				obs(-time.Minute, "203.0.113.9", "US", 64501, Login, "pod-c", 0),
			},
			reuse: reuse, ips: addrs("203.0.113.9", "10.0.0.1"), seen: true, places: []string{"US", "NL"}, asns: []uint{64501, 64500},
		},
	}
	check := func(t *testing.T, c tc, f Facts) {
		t.Helper()
		if !slices.Equal(f.UserIPs, c.ips) || f.IPSeen != c.seen {
			t.Errorf("addresses %v (seen %v), want %v (%v)", f.UserIPs, f.IPSeen, c.ips, c.seen)
		}
		if !slices.Equal(f.Countries, c.places) || !slices.Equal(f.ASNs, c.asns) {
			t.Errorf("countries %v networks %v, want %v %v", f.Countries, f.ASNs, c.places, c.asns)
		}
	}
	// How a store is given the history: as a watcher learning what no rule
	// judges (Redis: plain commands, batched), the same with no name (the
	// script), as events whose facts were asked (the script, with facts),
	// and in one batch with the reuse.
	ways := []struct {
		name  string
		apply func(t *testing.T, s Store, history []Observation, reuse Observation) Facts
	}{
		{"learned", func(t *testing.T, s Store, history []Observation, reuse Observation) Facts {
			return applyEach(t, s, history, reuse, func(*Observation) {})
		}},
		{"learned, unnamed", func(t *testing.T, s Store, history []Observation, reuse Observation) Facts {
			return applyEach(t, s, history, reuse, func(o *Observation) { o.Source = "" })
		}},
		{"judged", func(t *testing.T, s Store, history []Observation, reuse Observation) Facts {
			return applyEach(t, s, history, reuse, func(o *Observation) { o.NeedFacts = true })
		}},
		{"one batch", func(t *testing.T, s Store, history []Observation, reuse Observation) Facts {
			reuse.NeedFacts = true
			batch := append(slices.Clone(history), reuse)
			r, ok := s.(*Redis)
			if !ok {
				return applyEach(t, s, history, reuse, func(*Observation) {})
			}
			facts := make([]Facts, len(batch))
			if err := r.ApplyBatch(context.Background(), batch, facts); err != nil {
				t.Fatal(err)
			}
			return facts[len(batch)-1]
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, way := range ways {
				t.Run(way.name, func(t *testing.T) {
					forEachStore(t, Limits{}, func(t *testing.T, s Store) {
						check(t, c, way.apply(t, s, c.history, c.reuse))
					})
				})
			}
		})
	}
}

// applyEach applies history one event at a time, each changed by mod, then
// returns the reuse's facts.
func applyEach(t *testing.T, s Store, history []Observation, reuse Observation, mod func(*Observation)) Facts {
	t.Helper()
	ctx := context.Background()
	for _, o := range history {
		mod(&o)
		if _, err := s.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	reuse.NeedFacts = true
	f, err := s.Apply(ctx, reuse)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// An address evicted (past the cap, or unseen for the address TTL) and seen
// again is first seen again: a replay logged in between, from it, and
// judged after the thief's next refresh from it was learned, finds it new.
// Each event is sent on its own, as watchers sharing Redis send them; a
// plain group of Redis learns a user's addresses at once, so one evicted and
// seen again inside one group keeps its first sight (redis_parity_test.go).
func TestFactsOfAnAddressSeenAgainAfterItWasForgotten(t *testing.T) {
	t.Parallel()
	user := UserID{IdP: "k8sIdp", DN: "uid=mmosley,ou=shadow,o=Tremolo"}
	obs := func(d time.Duration, ip string, a Action, offset int64) Observation {
		return Observation{User: user, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Country: "NL", ASN: 64500,
			Action: a, Session: "null", Source: "pod-a", Offset: offset, Digest: uint64(offset) + 1<<32}
	}
	for _, tc := range []struct {
		name    string
		limits  Limits
		history []Observation
		ips     []netip.Addr
	}{
		{"past the cap", Limits{MaxIPsPerUser: 2}, []Observation{
			obs(-3*time.Minute, "203.0.113.9", Login, 0), obs(-2*time.Minute, "10.0.0.2", Refresh, 100),
			obs(-time.Minute, "10.0.0.1", Refresh, 200), obs(3*time.Second, "203.0.113.9", Refresh, 300),
		}, addrs("10.0.0.1")},
		{"unseen for the address TTL", Limits{IPTTL: time.Hour}, []Observation{
			obs(-2*time.Hour, "203.0.113.9", Login, 0), obs(-time.Minute, "10.0.0.1", Refresh, 100),
			obs(0, "10.0.0.1", Reuse, 150), // its facts expire the address
			obs(3*time.Second, "203.0.113.9", Refresh, 300),
		}, addrs("10.0.0.1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, tc.limits, func(t *testing.T, s Store) {
				ctx := context.Background()
				for _, o := range tc.history {
					o.NeedFacts = o.Action == Reuse
					if _, err := s.Apply(ctx, o); err != nil {
						t.Fatal(err)
					}
					if r, ok := s.(*Redis); ok {
						if err := r.Flush(ctx); err != nil {
							t.Fatal(err)
						}
					}
				}
				reuse := obs(2*time.Second, "203.0.113.9", Reuse, 0)
				reuse.Source, reuse.NeedFacts = "pod-b", true
				f, err := s.Apply(ctx, reuse)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(f.UserIPs, tc.ips) || f.IPSeen {
					t.Errorf("addresses %v (seen %v), want %v and the replaying address new", f.UserIPs, f.IPSeen, tc.ips)
				}
			})
		})
	}
}

// Redis keeps a user's first sights beside the last ones, with the same
// members: what the caps trim or the address TTL expires loses its first
// sight too (else an address seen again would be first seen long before),
// and a user dropped loses both.
func TestRedisFirstSightsKeepTheirKeysMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := Limits{MaxIPsPerUser: 3, MaxPlaces: 2, MaxUsers: 3, IPTTL: time.Hour}
	store := newTestRedis(t, l)
	var obs []Observation
	for i := range 120 {
		u := i % 3
		if i%17 == 16 {
			u = 9 // one more than the cap: the least recently seen goes
		}
		o := Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", u)}, Time: t0.Add(time.Duration(i) * 4 * time.Minute),
			IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 11)}), Action: []Action{Login, Refresh, Refresh, Reuse}[i%4],
			Session: "null", Country: []string{"NL", "DE", "FR"}[i%3], ASN: uint(64500 + i%5), Source: "pod-a", Offset: int64(i) * 100}
		o.NeedFacts = o.Action == Reuse
		if i%5 == 0 {
			o.Source = "" // through the script
		}
		obs = append(obs, o)
	}
	for part := range slices.Chunk(obs, 6) {
		if err := store.ApplyBatch(ctx, part, make([]Facts, len(part))); err != nil {
			t.Fatal(err)
		}
		users, err := store.client.ZRange(ctx, store.hist+"users", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		keys, err := store.client.Keys(ctx, store.hist+"u:*:f?").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if u := strings.TrimPrefix(k[:strings.LastIndexByte(k, ':')], store.hist+"u:"); !slices.Contains(users, u) {
				t.Fatalf("%s outlived its user", k)
			}
		}
		for _, u := range users {
			for _, kind := range []string{"i", "c", "a"} {
				k := store.hist + "u:" + u + ":" + kind
				last, err1 := store.client.ZRange(ctx, k, 0, -1).Result()
				first, err2 := store.client.ZRange(ctx, store.hist+"u:"+u+":f"+kind, 0, -1).Result()
				if err := errors.Join(err1, err2); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(sorted(last), sorted(first)) {
					t.Fatalf("%s holds %v, its first sights %v", k, last, first)
				}
			}
		}
	}
}

// A checkpoint keeps when the memory store first saw each place; one
// written before it did reads as places seen before any event.
func TestMemorySnapshotKeepsPlacesFirstSights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	user := UserID{IdP: "k8sIdp", DN: "uid=mmosley,ou=shadow,o=Tremolo"}
	m := NewMemory(Limits{})
	for _, o := range []Observation{
		{User: user, Time: t0, IP: netip.MustParseAddr("10.0.0.1"), Country: "NL", ASN: 64500, Action: Refresh},
		{User: user, Time: t0.Add(3 * time.Second), IP: netip.MustParseAddr("203.0.113.9"), Country: "US", ASN: 64501, Action: Refresh},
	} {
		if _, err := m.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	reuse := Observation{User: user, Time: t0.Add(2 * time.Second), IP: netip.MustParseAddr("203.0.113.9"), Action: Reuse, NeedFacts: true}
	snap := m.Snapshot()
	older := m.Snapshot()
	older.Users[0].CountriesFirst, older.Users[0].ASNsFirst = nil, nil
	for _, c := range []struct {
		name      string
		snap      MemorySnapshot
		countries []string
		asns      []uint
	}{
		{"this version's", snap, []string{"NL"}, []uint{64500}},
		{"an older one", older, []string{"US", "NL"}, []uint{64501, 64500}},
	} {
		restored := NewMemory(Limits{})
		restored.Restore(c.snap)
		f, _ := restored.Apply(ctx, reuse)
		if !slices.Equal(f.Countries, c.countries) || !slices.Equal(f.ASNs, c.asns) {
			t.Errorf("%s checkpoint: countries %v networks %v, want %v %v", c.name, f.Countries, f.ASNs, c.countries, c.asns)
		}
	}
}

// A watcher's refreshes from an address its local store held already
// (Failover) write its first sight all the same: Redis may have lost it
// (here the keys are emptied behind the store's back), and an address back
// in the user's addresses with no first sight would read as seen before
// any event. The address is still known to a reuse after the refreshes.
func TestFailoverWritesAFirstSightRedisLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	store := newTestFailover(t, srv)
	u := UserID{IdP: "k8sIdp", DN: "uid=repeat,o=T"}
	home := netip.MustParseAddr("198.51.100.23")
	// Named by their place in a log, as a watcher's are: those go to Redis
	// as plain commands.
	refresh := func(at time.Time) Observation {
		return Observation{User: u, Time: at, IP: home, Country: "FR", ASN: 64500, Action: Refresh, Source: "8:1", Offset: at.Unix()}
	}
	if err := store.ApplyBatch(ctx, []Observation{refresh(t0)}, make([]Facts, 1)); err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(failoverOptions(t, srv))
	defer admin.Close()
	key := "graceguard:h2:u:" + member(u)
	for _, k := range []string{":fi", ":fc", ":fa"} {
		if n := admin.ZCard(ctx, key+k).Val(); n != 1 {
			t.Fatalf("%s holds %d first sights after the first refresh, want 1", k, n)
		}
	}
	admin.Del(ctx, key+":fi", key+":fc", key+":fa")
	batch := []Observation{refresh(t0.Add(time.Minute)), refresh(t0.Add(2 * time.Minute))}
	if err := store.ApplyBatch(ctx, batch, make([]Facts, len(batch))); err != nil {
		t.Fatal(err)
	}
	want := float64(t0.Add(time.Minute).UnixMicro())
	for _, k := range []string{":fi", ":fc", ":fa"} {
		if s := admin.ZRangeWithScores(ctx, key+k, 0, -1).Val(); len(s) != 1 || s[0].Score != want {
			t.Errorf("%s holds %v after the refreshes, want their first sight", k, s)
		}
	}
	reuse := Observation{User: u, Time: t0.Add(3 * time.Minute), IP: home, Country: "FR", ASN: 64500, Action: Reuse, NeedFacts: true}
	f, err := store.Apply(ctx, reuse)
	if err != nil {
		t.Fatal(err)
	}
	if !f.IPSeen || !slices.Contains(f.Countries, "FR") || !slices.Contains(f.ASNs, 64500) {
		t.Errorf("facts %+v: the home address, country and network must read as known", f)
	}
}
