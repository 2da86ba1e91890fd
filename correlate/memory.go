package correlate

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Limits bound a Memory store. Zero fields take the defaults.
type Limits struct {
	RefreshTTL    time.Duration // how long a refresh can be a reuse's "prev" (1h)
	IPTTL         time.Duration // how long an address stays known for a user (30 days)
	MaxUsers      int           // users tracked; the least recently seen is evicted (100,000)
	MaxIPsPerUser int           // addresses per user; the least recently seen is evicted (64)
	MaxRefreshes  int           // refreshes remembered per user (16)
	MaxReuses     int           // reuse times remembered per user, for the burst counts (64)
	MaxSessions   int           // session ids tracked, rounded up to a power of two (16,384)
	MaxPlaces     int           // countries and networks remembered per user, each (16)
}

// DefaultLimits are the limits DESIGN.md names.
func DefaultLimits() Limits {
	return Limits{
		RefreshTTL: time.Hour, IPTTL: 30 * 24 * time.Hour,
		MaxUsers: 100_000, MaxIPsPerUser: 64, MaxRefreshes: 16, MaxReuses: 64,
		MaxSessions: 16_384, MaxPlaces: 16,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	if l.RefreshTTL <= 0 {
		l.RefreshTTL = d.RefreshTTL
	}
	if l.IPTTL <= 0 {
		l.IPTTL = d.IPTTL
	}
	l.MaxUsers = pick(l.MaxUsers, d.MaxUsers)
	l.MaxIPsPerUser = pick(l.MaxIPsPerUser, d.MaxIPsPerUser)
	l.MaxRefreshes = pick(l.MaxRefreshes, d.MaxRefreshes)
	l.MaxReuses = pick(l.MaxReuses, d.MaxReuses)
	l.MaxSessions = pick(l.MaxSessions, d.MaxSessions)
	l.MaxPlaces = pick(l.MaxPlaces, d.MaxPlaces)
	return l
}

// MemoryStats counts a Memory store's size and what it dropped to stay bounded.
type MemoryStats struct {
	Users            int
	Sessions         int
	UsersEvicted     int64 // over MaxUsers
	UsersExpired     int64 // unseen for longer than the IP TTL
	IPsEvicted       int64 // over MaxIPsPerUser
	IPsExpired       int64 // older than the IP TTL
	SessionsEvicted  int64 // a session's slot taken by a newer session
	SessionIPsCapped int64 // addresses not recorded because a session had sessionIPs already
}

// Memory is the in-process Store: maps with least-recently-seen eviction.
// It is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	limits   Limits
	users    *lru[UserID, *userState]
	sessions *sessionTable
	stats    MemoryStats
}

type seenIP struct {
	addr        netip.Addr
	first, last time.Time
}

// reuseFact is a grace reuse remembered for the burst counts.
type reuseFact struct {
	time    time.Time
	foreign bool // its client was not the rotating refresh's
}

type userState struct {
	firstSeen time.Time
	lastSeen  time.Time
	refreshes ring[RefreshFact]
	ips       []seenIP // most recently seen first
	reuses    ring[reuseFact]
	countries []string // most recently seen first
	asns      []uint   // most recently seen first
}

// NewMemory returns an empty Memory store.
func NewMemory(l Limits) *Memory {
	l = l.withDefaults()
	return &Memory{limits: l, users: newLRU[UserID, *userState](), sessions: newSessionTable(l.MaxSessions)}
}

// Stats returns sizes and eviction counts.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.Users, s.Sessions = m.users.len(), m.sessions.used
	return s
}

// Apply implements Store.
func (m *Memory) Apply(_ context.Context, obs Observation) (Facts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireUsers(obs.Time)
	u := m.user(obs.User, obs.Time)
	var f Facts
	if obs.NeedFacts {
		f = m.userFacts(u, obs)
		f.SessionIPs, f.SessionIP = m.sessionFacts(obs)
	}
	m.learn(u, obs)
	return f, nil
}

func (m *Memory) user(key UserID, now time.Time) *userState {
	if u, ok := m.users.get(key); ok {
		return u
	}
	u := &userState{firstSeen: now, lastSeen: now}
	if m.users.len() >= m.limits.MaxUsers {
		m.users.removeOldest()
		m.stats.UsersEvicted++
	}
	// The key's strings are cut from the log record: cloned, the record
	// they were cut from need not stay in memory with the user.
	m.users.add(UserID{IdP: strings.Clone(key.IdP), DN: strings.Clone(key.DN)}, u)
	return u
}

// expireUsers drops users unseen for longer than the IP TTL: by then they
// have no facts left. The LRU's oldest end holds the candidates.
func (m *Memory) expireUsers(now time.Time) {
	for {
		_, u, ok := m.users.oldest()
		if !ok || within(u.lastSeen, now, m.limits.IPTTL) {
			return
		}
		m.users.removeOldest()
		m.stats.UsersExpired++
	}
}

func (m *Memory) userFacts(u *userState, obs Observation) Facts {
	var f Facts
	if u.refreshes.len() > 0 || len(u.ips) > 0 || u.reuses.len() > 0 {
		f.FirstSeen = u.firstSeen
	}
	if prev, ok := m.prevAt(u, obs.Time); ok {
		f.Prev = &prev
	}
	u.ips = slices.DeleteFunc(u.ips, func(s seenIP) bool {
		old := obs.Time.Sub(s.last) > m.limits.IPTTL
		if old {
			m.stats.IPsExpired++
		}
		return old
	})
	for _, s := range u.ips {
		f.UserIPs = append(f.UserIPs, s.addr)
		if s.addr == obs.IP {
			f.IPSeen = true
		}
	}
	f.Countries = slices.Clone(u.countries)
	f.ASNs = slices.Clone(u.asns)
	for i := range u.reuses.len() {
		r := u.reuses.newest(i)
		if d := obs.Time.Sub(r.time); d >= 0 && d <= time.Hour {
			f.Reuses1h++
			if r.foreign {
				f.ForeignReuses1h++
			}
			if d <= 10*time.Minute {
				f.Reuses10m++
			}
		}
	}
	if obs.Action == Reuse {
		f.Reuses1h++
		f.Reuses10m++
		if m.foreignReuse(u, obs) {
			f.ForeignReuses1h++
		}
	}
	return f
}

// prevAt returns the latest refresh by log time at or before t, also when
// the history learned them out of order (replicas read at different
// speeds): the last one learned wins a tie.
func (m *Memory) prevAt(u *userState, t time.Time) (RefreshFact, bool) {
	var prev RefreshFact
	found := false
	for i := range u.refreshes.len() {
		r := u.refreshes.newest(i)
		if !r.Time.After(t) && (!found || r.Time.After(prev.Time)) {
			prev, found = r, true
		}
	}
	return prev, found && t.Sub(prev.Time) <= m.limits.RefreshTTL
}

// foreignReuse reports whether a reuse came from another client than the
// refresh that rotated its token. A side whose client attribution could
// not name (a proxy's address: unattributed, or ambiguous) proves nothing:
// two controller pods are not two clients.
func (m *Memory) foreignReuse(u *userState, obs Observation) bool {
	prev, ok := m.prevAt(u, obs.Time)
	return ok && prev.IP != obs.IP && clientKnown(prev.Attribution) && clientKnown(obs.Attribution)
}

// clientKnown reports whether an attribution names the client.
func clientKnown(a parser.Attribution) bool {
	return a != parser.AttrUnattributed && a != parser.AttrAmbiguous
}

func (m *Memory) sessionFacts(obs Observation) ([]netip.Addr, bool) {
	if !hasSession(obs.Session) {
		return nil, false
	}
	slot, ok := m.sessions.find(obs.Session)
	if !ok {
		return nil, false
	}
	return m.sessions.addrs(slot), m.sessions.has(slot, obs.IP)
}

func hasSession(id string) bool { return id != "" && id != "null" }

func (m *Memory) learn(u *userState, obs Observation) {
	if obs.Time.After(u.lastSeen) {
		u.lastSeen = obs.Time
	}
	if obs.Time.Before(u.firstSeen) {
		u.firstSeen = obs.Time
	}
	switch obs.Action {
	case Refresh:
		u.refreshes.push(RefreshFact{Time: obs.Time, IP: obs.IP, Session: strings.Clone(obs.Session), Agent: strings.Clone(obs.Agent), Attribution: obs.Attribution, Peer: obs.Peer}, m.limits.MaxRefreshes)
		m.learnIP(u, obs)
		m.learnPlace(u, obs)
		m.learnSession(obs)
	case Login:
		m.learnIP(u, obs)
		m.learnPlace(u, obs)
		m.learnSession(obs)
	case Reuse:
		u.reuses.push(reuseFact{time: obs.Time, foreign: m.foreignReuse(u, obs)}, m.limits.MaxReuses)
		m.learnSession(obs)
	}
}

// ring keeps the newest values up to a cap, overwriting the oldest: the
// per-user histories are written on every refresh, so they must not shift.
type ring[T any] struct {
	vals []T
	next int // where the next value goes once full
}

func (r *ring[T]) len() int { return len(r.vals) }

func (r *ring[T]) push(v T, max int) {
	if len(r.vals) < max {
		r.vals = append(r.vals, v)
		return
	}
	r.vals[r.next] = v
	r.next = (r.next + 1) % len(r.vals)
}

// newest returns the i-th newest value, i from 0.
func (r *ring[T]) newest(i int) T {
	n := len(r.vals)
	return r.vals[((r.next-1-i)%n+n)%n]
}

// learnPlace remembers the country and network of a legitimate refresh or
// login, most recent first, dropping the least recent past MaxPlaces.
func (m *Memory) learnPlace(u *userState, obs Observation) {
	if obs.Country != "" {
		u.countries = moveToFront(u.countries, obs.Country, m.limits.MaxPlaces)
	}
	if obs.ASN != 0 {
		u.asns = moveToFront(u.asns, obs.ASN, m.limits.MaxPlaces)
	}
}

func moveToFront[T comparable](s []T, v T, max int) []T {
	if i := slices.Index(s, v); i >= 0 {
		copy(s[1:i+1], s[:i])
		s[0] = v
		return s
	}
	if len(s) >= max {
		s = s[:max-1]
	}
	return slices.Insert(s, 0, v)
}

// learnIP keeps the user's addresses in order of when each was last seen,
// by log time, so events learned out of order (replicas read at different
// speeds) leave the same history as in order; past the cap the least
// recently seen goes, which may be the one just learned.
func (m *Memory) learnIP(u *userState, obs Observation) {
	if !obs.IP.IsValid() {
		return
	}
	s := seenIP{addr: obs.IP, first: obs.Time, last: obs.Time}
	if i := slices.IndexFunc(u.ips, func(x seenIP) bool { return x.addr == obs.IP }); i >= 0 {
		s = u.ips[i]
		if obs.Time.After(s.last) {
			s.last = obs.Time
		}
		if i == 0 || u.ips[i-1].last.After(s.last) {
			// Still in place (last only grows, so nothing after it is
			// newer): the usual refresh, from the address seen last.
			u.ips[i] = s
			return
		}
		u.ips = slices.Delete(u.ips, i, i+1)
	}
	at, _ := slices.BinarySearchFunc(u.ips, s.last, func(x seenIP, t time.Time) int { return t.Compare(x.last) })
	u.ips = slices.Insert(u.ips, at, s)
	if len(u.ips) > m.limits.MaxIPsPerUser {
		u.ips = u.ips[:m.limits.MaxIPsPerUser]
		m.stats.IPsEvicted++
	}
}

func (m *Memory) learnSession(obs Observation) {
	if !hasSession(obs.Session) || !obs.IP.IsValid() {
		return
	}
	slot, evicted := m.sessions.claim(obs.Session)
	if evicted {
		m.stats.SessionsEvicted++
	}
	if !m.sessions.add(slot, obs.IP) {
		m.stats.SessionIPsCapped++
	}
}
