package correlate

import (
	"net/netip"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// MemorySnapshot is a Memory store's content, for a checkpoint.
type MemorySnapshot struct {
	Users    []UserSnapshot
	Sessions []SessionSnapshot
	Stats    MemoryStats
}

// UserSnapshot is one user's history.
type UserSnapshot struct {
	ID        UserID
	FirstSeen time.Time
	LastSeen  time.Time
	Refreshes []RefreshFact // oldest first
	IPs       []SeenIP      // most recently seen first
	Reuses    []time.Time   // oldest first
	// ForeignReuses says, index by index, which of Reuses came from another
	// client than their rotating refresh; shorter (older checkpoints): false.
	ForeignReuses []bool
	Countries     []string
	ASNs          []uint
	// CountriesFirst and ASNsFirst are, index by index, when each of
	// Countries and ASNs was first seen; shorter (older checkpoints):
	// before any event still to be judged.
	CountriesFirst []time.Time
	ASNsFirst      []time.Time
}

// SeenIP is an address seen for a user.
type SeenIP struct {
	Addr        netip.Addr
	First, Last time.Time
}

// SessionSnapshot is one session slot.
type SessionSnapshot struct {
	Hash uint64
	IPs  [][16]byte
}

// Snapshot copies the store's content. Users come least recently seen
// first, so Restore rebuilds the same eviction order.
func (m *Memory) Snapshot() MemorySnapshot {
	snap := m.SnapshotWithoutUsers()
	m.EachUser(func(us UserSnapshot) error {
		snap.Users = append(snap.Users, us)
		return nil
	})
	return snap
}

// EachUser calls fn with each user's history, least recently seen first,
// without copying the whole store: a checkpoint streams users to disk one
// by one, so a full store is never held twice in memory. The store is
// locked meanwhile.
func (m *Memory) EachUser(fn func(UserSnapshot) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.users.each(func(u *userState) error { return fn(m.userSnapshot(u)) })
}

func (m *Memory) userSnapshot(u *userState) UserSnapshot {
	us := UserSnapshot{ID: u.id, FirstSeen: m.zones.time(u.firstSeen), LastSeen: m.zones.time(u.lastSeen)}
	for i := u.refreshes.len() - 1; i >= 0; i-- {
		us.Refreshes = append(us.Refreshes, m.refreshOut(u.refreshes.at(i)))
	}
	if mo := u.more; mo != nil {
		us.Countries, us.CountriesFirst = placesOut(mo.countries)
		us.ASNs, us.ASNsFirst = placesOut(mo.asns)
		for i := mo.reuses.len() - 1; i >= 0; i-- {
			r := mo.reuses.newest(i)
			us.Reuses = append(us.Reuses, r.time)
			us.ForeignReuses = append(us.ForeignReuses, r.foreign)
		}
	}
	for _, ip := range u.ips {
		us.IPs = append(us.IPs, SeenIP{Addr: ip.addr, First: m.zones.time(ip.first(u.lastSeen.loc)), Last: m.zones.time(ip.last(u.lastSeen.loc))})
	}
	return us
}

// SnapshotWithoutUsers copies everything but the users: sessions and counts.
func (m *Memory) SnapshotWithoutUsers() MemorySnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := MemorySnapshot{Stats: m.stats}
	t := m.sessions
	for i, h := range t.hashes {
		if h != 0 {
			snap.Sessions = append(snap.Sessions, SessionSnapshot{Hash: h, IPs: t.slotIPs(i)})
		}
	}
	return snap
}

// Restore replaces the store's content with a snapshot, applying today's
// limits: a snapshot from a run with larger caps is trimmed.
func (m *Memory) Restore(snap MemorySnapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users = newTable[userState]()
	m.sessions = newSessionTable(m.limits.MaxSessions)
	m.stats = snap.Stats
	for _, us := range snap.Users {
		m.addUser(us)
	}
	for _, ss := range snap.Sessions {
		m.sessions.set(int(ss.Hash&m.sessions.mask), ss.Hash, ss.IPs)
	}
}

// CorrelatorSnapshot is what a Correlator holds back, for a checkpoint.
type CorrelatorSnapshot struct {
	Pending []parser.Event
	Reuses  []ReuseMark
	Stats   CorrelatorStats
	// Chains and Moves are the moved-chain index (takeover.go): each user's
	// last refresh young enough to be moved from, and the moves still in
	// reach. Absent in older checkpoints.
	Chains []ChainLast
	Moves  []ChainMove
	// Places are the pairs of places users' refreshes went between
	// (places.go), so refresh-travel stays quiet for two devices it had
	// learned. Absent in older checkpoints.
	Places []PlacePairs
}

// PlacePairs are one user's learned pairs of places.
type PlacePairs struct {
	User  UserID
	Pairs []PlacePair
}

// PlacePair is a pair of places and how often a user's refreshes went
// between them, last at Last.
type PlacePair struct {
	A, B  string
	Count int
	Last  time.Time
}

// ChainLast is a user's last refresh, for the moved-chain index.
type ChainLast struct {
	User  UserID
	IP    netip.Addr
	Time  time.Time
	Agent string
}

// ReuseMark is a grace reuse remembered for pairing with an AzSuccess
// logged after it.
type ReuseMark struct {
	Source, Thread, Session string
	Time                    time.Time
}

// Snapshot copies what the Correlator holds back.
func (c *Correlator) Snapshot() CorrelatorSnapshot {
	snap := CorrelatorSnapshot{Pending: c.pending.live(), Stats: c.stats}
	for _, r := range c.reuses {
		snap.Reuses = append(snap.Reuses, ReuseMark{Source: r.source, Thread: r.thread, Session: r.session, Time: r.time})
	}
	snap.Chains, snap.Moves = c.chains.snapshot()
	snap.Places = c.places.snapshot()
	return snap
}

// snapshot copies the index, oldest user first. Only last refreshes within
// SessionReach of the newest are kept: an older one can no longer be moved
// from, so a checkpoint holds what the last quarter hour touched.
func (ch *chains) snapshot() ([]ChainLast, []ChainMove) {
	var newest time.Time
	if v := ch.last.newest(); v != nil {
		newest = v.time
	}
	var lasts []ChainLast
	ch.last.each(func(l *lastRefresh) error {
		if within(l.time, newest, SessionReach) {
			lasts = append(lasts, ChainLast{User: l.user, IP: l.ip, Time: l.time, Agent: l.agent})
		}
		return nil
	})
	var moves []ChainMove
	for _, ms := range ch.moves {
		moves = append(moves, ms...)
	}
	return lasts, moves
}

// Restore puts back what a Snapshot copied.
func (c *Correlator) Restore(snap CorrelatorSnapshot) {
	c.pending = newPendingQueue()
	for i := range snap.Pending {
		c.pending.push(&snap.Pending[i], c.pending.threadOf(&snap.Pending[i]))
	}
	c.reuses = c.reuses[:0]
	for _, r := range snap.Reuses {
		// Keyed by this queue's seeds, made above.
		k := c.pending.threadOf(&parser.Event{Source: r.Source, Thread: r.Thread})
		c.reuses = append(c.reuses, reuseMark{key: k, source: r.Source, thread: r.Thread, session: r.Session, time: r.Time})
	}
	c.stats = snap.Stats
	c.chains = newChains()
	for _, l := range snap.Chains {
		h := c.chains.hasher.hash(l.User)
		// The same user twice: the later one is the more recent, as in
		// the memory store.
		// No moves are restored yet: the count the entry removed had is 0.
		c.chains.last.remove(h)
		if c.chains.last.len() < maxChainUsers {
			c.chains.add(h, lastRefresh{user: l.User, ip: l.IP, time: l.Time, agent: l.Agent})
		}
	}
	for _, m := range snap.Moves {
		c.addMove(c.chains.hasher.hash(m.User), m)
	}
	c.places = newPlacePairs()
	for _, up := range snap.Places {
		c.places.restore(up)
	}
}

// AddUser puts back one user's history, as the most recently seen: a
// checkpoint is read back user by user in the order EachUser gave.
func (m *Memory) AddUser(us UserSnapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addUser(us)
}

func (m *Memory) addUser(us UserSnapshot) {
	u := userState{id: m.ownID(us.ID), firstSeen: m.zones.stamp(us.FirstSeen), lastSeen: m.zones.stamp(us.LastSeen)}
	if len(us.Countries) > 0 || len(us.ASNs) > 0 || len(us.Reuses) > 0 {
		mo := u.extra()
		mo.countries = placesIn(us.Countries, us.CountriesFirst, m.limits.MaxPlaces)
		mo.asns = placesIn(us.ASNs, us.ASNsFirst, m.limits.MaxPlaces)
		for i, t := range us.Reuses {
			mo.reuses.push(reuseFact{time: t, foreign: i < len(us.ForeignReuses) && us.ForeignReuses[i]}, m.limits.MaxReuses, &m.reuseSpares)
		}
	}
	for _, r := range us.Refreshes {
		u.refreshes.push(m.newRefreshFact(&u, m.zones.stamp(r.Time), r.IP, r.Peer, r.Session, r.Agent, r.Attribution), m.limits.MaxRefreshes, &m.refreshSpares)
	}
	u.ips = make([]seenIP, 0, min(len(us.IPs), m.limits.MaxIPsPerUser))
	for _, ip := range us.IPs[:cap(u.ips)] {
		first, last := m.zones.stamp(ip.First), m.zones.stamp(ip.Last)
		u.ips = append(u.ips, seenIP{addr: ip.Addr, firstSec: first.sec, firstNsec: first.nsec, lastSec: last.sec, lastNsec: last.nsec})
	}
	h := m.hasher.hash(u.id)
	if m.users.peek(h) != nil {
		// The same user twice in a snapshot: the later one is the more
		// recently seen, as an lru keyed by name kept it.
		m.users.remove(h)
	}
	if m.users.len() >= m.limits.MaxUsers {
		m.users.removeOldest()
	}
	m.users.add(h, u)
}

// placesOut are a user's places as a snapshot keeps them, and their first
// sights.
func placesOut[T comparable](s []seenPlace[T]) ([]T, []time.Time) {
	if len(s) == 0 {
		return nil, nil
	}
	vs, firsts := make([]T, len(s)), make([]time.Time, len(s))
	for i, p := range s {
		vs[i] = p.v
		if p.first != unknownFirst {
			firsts[i] = time.Unix(0, p.first).UTC()
		}
	}
	return vs, firsts
}

// placesIn are a snapshot's places, at most max; one with no first sight
// (a zero time, or past firsts) was seen before any event to be judged.
func placesIn[T comparable](vs []T, firsts []time.Time, max int) []seenPlace[T] {
	if len(vs) == 0 {
		return nil
	}
	out := make([]seenPlace[T], min(len(vs), max))
	for i := range out {
		out[i] = seenPlace[T]{v: vs[i], first: unknownFirst}
		if i < len(firsts) && !firsts[i].IsZero() {
			out[i].first = firsts[i].UnixNano()
		}
	}
	return out
}

// Local returns the store itself: all of a Memory store's history is local,
// and a checkpoint keeps it.
func (m *Memory) Local() *Memory { return m }
