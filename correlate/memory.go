package correlate

import (
	"context"
	"math"
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
	// MovesIndexEvicted counts the (address, user) pairs the Redis store's
	// moves index dropped past its cap; the memory store keeps none.
	MovesIndexEvicted int64
}

// Memory is the in-process Store. It is safe for concurrent use.
//
// It is laid out for the two things it costs: a cache miss per structure
// an event touches, and bytes per user kept while idle. Users live in a
// table (one slice, linked by index, looked up by a keyed 64-bit hash of
// their name: no string compared, no allocation per user but their own
// DN); each owns its DN once; times are stamps (no pointer, 16 bytes);
// what few users have (grace reuses, places) hangs off one pointer made
// when first needed.
type Memory struct {
	mu       sync.Mutex
	limits   Limits
	users    *table[userState]
	hasher   userHasher
	zones    zones
	idps     map[string]string // the IdPs' names, one copy each
	sessions *sessionTable
	stats    MemoryStats
	// The arrays the users' rings outgrew, for the next to grow.
	refreshSpares spares[refreshFact]
	reuseSpares   spares[reuseFact]
}

// maxIdPs bounds the IdP names shared between users; past it each user
// keeps a copy of its own. A deployment has a handful.
const maxIdPs = 64

// seenIP is an address seen for a user, in 48 bytes: its times' zone is
// the user's (one process parses in one zone).
type seenIP struct {
	addr                netip.Addr
	firstSec, lastSec   int64
	firstNsec, lastNsec int32
}

func newSeenIP(a netip.Addr, t stamp) seenIP {
	return seenIP{addr: a, firstSec: t.sec, lastSec: t.sec, firstNsec: t.nsec, lastNsec: t.nsec}
}

func (s *seenIP) lastInstant() time.Time { return time.Unix(s.lastSec, int64(s.lastNsec)) }

func (s *seenIP) first(loc uint8) stamp { return stamp{sec: s.firstSec, nsec: s.firstNsec, loc: loc} }

func (s *seenIP) last(loc uint8) stamp { return stamp{sec: s.lastSec, nsec: s.lastNsec, loc: loc} }

// reuseFact is a grace reuse remembered for the burst counts.
type reuseFact struct {
	time    time.Time
	foreign bool // its client was not the rotating refresh's
}

// refreshFact is a RefreshFact as the store keeps it, in 72 bytes and no
// allocation of its own: its session id, in OpenUnison's form, packed to
// its 20 bytes; what attribution adds (the peer OpenUnison logged when it
// is not the client, the agent) kept apart, shared between consecutive
// refreshes of the same client, and absent without proxies.
type refreshFact struct {
	sec         int64
	nsec        int32
	loc         uint8
	attribution parser.Attribution
	peerIsIP    bool // client is nil and the peer was the client's address
	sessionKind uint8
	ip          netip.Addr
	session     [20]byte // the id's hex digits, when sessionKind is sessionPacked
	client      *refreshClient
}

// refreshClient is what attribution said of a refresh's client, and a
// session id not in OpenUnison's form.
type refreshClient struct {
	peer    netip.Addr
	agent   string
	session string // when sessionKind is sessionOther
}

// How a refresh's session id is kept.
const (
	sessionNone   uint8 = iota // ""
	sessionNull                // "null", as OpenUnison prints none
	sessionPacked              // "f" and 40 lower-case hex digits, in session
	sessionOther               // in client.session
)

// packSession packs an OpenUnison session id ("f" and 40 lower-case hex
// digits); ok false for any other string.
func packSession(id string) (b [20]byte, ok bool) {
	if len(id) != 41 || id[0] != 'f' {
		return b, false
	}
	bad := byte(0)
	for i := range b {
		hi, lo := hexValue[id[1+2*i]], hexValue[id[2+2*i]]
		bad |= hi | lo
		b[i] = hi<<4 | lo&15
	}
	return b, bad&0xf0 == 0
}

// hexValue is each byte's value as a lower-case hex digit, 0xff if none:
// a table, as a refresh's 40 digits are decoded on every refresh.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

func (r *refreshFact) sessionID() string {
	switch r.sessionKind {
	case sessionNull:
		return "null"
	case sessionPacked:
		const digits = "0123456789abcdef"
		var b [41]byte
		b[0] = 'f'
		for i, x := range r.session {
			b[1+2*i], b[2+2*i] = digits[x>>4], digits[x&15]
		}
		return string(b[:])
	case sessionOther:
		return r.client.session
	}
	return ""
}

func (r *refreshFact) time() stamp { return stamp{sec: r.sec, nsec: r.nsec, loc: r.loc} }

func (r *refreshFact) peer() netip.Addr {
	switch {
	case r.client != nil:
		return r.client.peer
	case r.peerIsIP:
		return r.ip
	}
	return netip.Addr{}
}

func (r *refreshFact) agent() string {
	if r.client != nil {
		return r.client.agent
	}
	return ""
}

// newRefreshFact keeps a refresh for u, its strings copied out of the
// record they were cut from.
func (m *Memory) newRefreshFact(u *userState, t stamp, ip, peer netip.Addr, session, agent string, a parser.Attribution) refreshFact {
	r := refreshFact{sec: t.sec, nsec: t.nsec, loc: t.loc, attribution: a, ip: ip}
	other := ""
	switch b, ok := packSession(session); {
	case ok:
		r.sessionKind, r.session = sessionPacked, b
	case session == "":
	case session == "null":
		r.sessionKind = sessionNull
	default:
		r.sessionKind, other = sessionOther, session
	}
	switch {
	case other == "" && agent == "" && peer == ip:
		r.peerIsIP = peer.IsValid()
	case other == "" && agent == "" && !peer.IsValid():
	default:
		r.client = m.clientOf(u, peer, agent, other)
	}
	return r
}

// clientOf returns the user's last refresh's client when it is the same,
// else a new one: a client refreshes through one proxy with one agent for
// days, and sixteen copies of it would cost more than the rest of a
// refresh.
func (m *Memory) clientOf(u *userState, peer netip.Addr, agent, session string) *refreshClient {
	if u.refreshes.len() > 0 {
		if c := u.refreshes.at(0).client; c != nil && c.peer == peer && c.agent == agent && c.session == session {
			return c
		}
	}
	return &refreshClient{peer: peer, agent: strings.Clone(agent), session: strings.Clone(session)}
}

type userState struct {
	id        UserID
	firstSeen stamp
	lastSeen  stamp
	refreshes ring[refreshFact]
	ips       []seenIP // most recently seen first
	more      *userMore
}

// userMore is what a user has only once a reuse or a place was learned.
type userMore struct {
	reuses    ring[reuseFact]
	countries []seenPlace[string] // most recently seen first
	asns      []seenPlace[uint]   // most recently seen first
}

// seenPlace is a country or a network seen for a user, and when it was
// first seen (Unix ns; unknownFirst for one restored from a checkpoint
// that did not keep it): the facts of an event leave out what was first
// seen after it, learned first though it may have been (userFacts).
type seenPlace[T comparable] struct {
	v     T
	first int64
}

// unknownFirst is the first sight of a place a checkpoint did not date:
// before any event, as it was taken to be before first sights were kept.
const unknownFirst = math.MinInt64

// placesAt are the places first seen at or before at (Unix ns), in order.
func placesAt[T comparable](s []seenPlace[T], at int64) []T {
	var out []T
	for _, p := range s {
		if p.first <= at {
			out = append(out, p.v)
		}
	}
	return out
}

func (u *userState) extra() *userMore {
	if u.more == nil {
		u.more = &userMore{}
	}
	return u.more
}

// NewMemory returns an empty Memory store.
func NewMemory(l Limits) *Memory {
	l = l.withDefaults()
	return &Memory{limits: l, users: newTable[userState](), hasher: newUserHasher(), idps: map[string]string{},
		sessions: newSessionTable(l.MaxSessions)}
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
	return m.applyKeyed(&obs, 0), nil
}

// applyKeyed is Apply for the Correlator, which made the user's key
// (userHasher's) for its own index already: key, 0 when not made. The
// helpers take obs by reference: it is ~300 bytes, and copied to each of
// them it cost more than some of them did.
func (m *Memory) applyKeyed(obs *Observation, key uint64) Facts {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key == 0 {
		key = m.hasher.hash(obs.User)
	}
	m.expireUsers(obs.Time)
	u := m.user(obs.User, key, obs.Time)
	var f Facts
	if obs.NeedFacts {
		f = m.userFacts(u, obs)
		f.SessionIPs, f.SessionIP = m.sessionFacts(obs)
	}
	obs.sightsKnown = m.learn(u, obs)
	return f
}

// user returns the history of key, whose hash is h, made if new. The
// pointer is valid until the next user is added.
func (m *Memory) user(key UserID, h uint64, now time.Time) *userState {
	if u := m.users.touch(h); u != nil {
		return u
	}
	if m.users.len() >= m.limits.MaxUsers {
		m.users.removeOldest()
		m.stats.UsersEvicted++
	}
	t := m.zones.stamp(now)
	// The key's strings are cut from the log record: copied, the record
	// they were cut from need not stay in memory with the user.
	return m.users.add(h, userState{id: m.ownID(key), firstSeen: t, lastSeen: t})
}

// ownID copies a user's name out of the record it was cut from, sharing
// the IdP's name with the other users of that IdP.
func (m *Memory) ownID(key UserID) UserID {
	idp, ok := m.idps[key.IdP]
	if !ok {
		idp = strings.Clone(key.IdP)
		if len(m.idps) < maxIdPs {
			m.idps[idp] = idp
		}
	}
	return UserID{IdP: idp, DN: strings.Clone(key.DN)}
}

// userKey returns key with the store's copies of its strings, when the
// user is tracked: the Correlator's indexes share them.
func (m *Memory) userKey(key UserID) (UserID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.users.peek(m.hasher.hash(key)); u != nil {
		return u.id, true
	}
	return key, false
}

// expireUsers drops users unseen for longer than the IP TTL: by then they
// have no facts left. The table's oldest end holds the candidates.
func (m *Memory) expireUsers(now time.Time) {
	at := instantOf(now)
	for {
		u := m.users.oldest()
		if u == nil || u.lastSeen.within(at, m.limits.IPTTL) {
			return
		}
		m.users.removeOldest()
		m.stats.UsersExpired++
	}
}

func (m *Memory) userFacts(u *userState, obs *Observation) Facts {
	var f Facts
	if u.refreshes.len() > 0 || len(u.ips) > 0 || (u.more != nil && u.more.reuses.len() > 0) {
		f.FirstSeen = m.zones.time(u.firstSeen)
	}
	if prev, ok := m.prevAt(u, obs.Time); ok {
		p := m.refreshOut(prev)
		f.Prev = &p
	}
	u.ips = slices.DeleteFunc(u.ips, func(s seenIP) bool {
		old := obs.Time.Sub(s.lastInstant()) > m.limits.IPTTL
		if old {
			m.stats.IPsExpired++
		}
		return old
	})
	// An address first seen after the event is left out though learned
	// already: watchers sharing a store learn out of log order, and a
	// replay judged after its thief's next refresh was learned would
	// otherwise find the thief's address known.
	at := instantOf(obs.Time)
	for i := range u.ips {
		s := &u.ips[i]
		if at.before(s.first(0)) {
			continue
		}
		if f.UserIPs == nil {
			f.UserIPs = make([]netip.Addr, 0, len(u.ips)-i)
		}
		f.UserIPs = append(f.UserIPs, s.addr)
		if s.addr == obs.IP {
			f.IPSeen = true
		}
	}
	if mo := u.more; mo != nil {
		at := obs.Time.UnixNano()
		f.Countries, f.ASNs = placesAt(mo.countries, at), placesAt(mo.asns, at)
		for i := range mo.reuses.len() {
			r := mo.reuses.newest(i)
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

// refreshOut is a refresh as the store's callers see it.
func (m *Memory) refreshOut(r *refreshFact) RefreshFact {
	return RefreshFact{Time: m.zones.time(r.time()), IP: r.ip, Session: r.sessionID(), Agent: r.agent(),
		Attribution: r.attribution, Peer: r.peer()}
}

// prevAt returns the latest refresh by log time at or before t, also when
// the history learned them out of order (replicas read at different
// speeds): the last one learned wins a tie.
func (m *Memory) prevAt(u *userState, t time.Time) (*refreshFact, bool) {
	var prev *refreshFact
	var prevT time.Time
	for i := range u.refreshes.len() {
		r := u.refreshes.at(i)
		rt := r.time().instant()
		if !rt.After(t) && (prev == nil || rt.After(prevT)) {
			prev, prevT = r, rt
		}
	}
	return prev, prev != nil && t.Sub(prevT) <= m.limits.RefreshTTL
}

// foreignReuse reports whether a reuse came from another client than the
// refresh that rotated its token. A side whose client attribution could
// not name (a proxy's address: unattributed, or ambiguous) proves nothing:
// two controller pods are not two clients.
func (m *Memory) foreignReuse(u *userState, obs *Observation) bool {
	prev, ok := m.prevAt(u, obs.Time)
	return ok && prev.ip != obs.IP && clientKnown(prev.attribution) && clientKnown(obs.Attribution)
}

// clientKnown reports whether an attribution names the client.
func clientKnown(a parser.Attribution) bool {
	return a != parser.AttrUnattributed && a != parser.AttrAmbiguous
}

func (m *Memory) sessionFacts(obs *Observation) ([]netip.Addr, bool) {
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

func (m *Memory) learn(u *userState, obs *Observation) (known sightBits) {
	t := m.zones.stamp(obs.Time)
	if u.lastSeen.before(t) {
		u.lastSeen = t
	}
	if t.before(u.firstSeen) {
		u.firstSeen = t
	}
	switch obs.Action {
	case Refresh:
		u.refreshes.push(m.newRefreshFact(u, t, obs.IP, obs.Peer, obs.Session, obs.Agent, obs.Attribution), m.limits.MaxRefreshes, &m.refreshSpares)
		known = m.learnIP(u, obs, t) | m.learnPlace(u, obs)
		m.learnSession(obs)
	case Login:
		known = m.learnIP(u, obs, t) | m.learnPlace(u, obs)
		m.learnSession(obs)
	case Reuse:
		u.extra().reuses.push(reuseFact{time: obs.Time, foreign: m.foreignReuse(u, obs)}, m.limits.MaxReuses, &m.reuseSpares)
		m.learnSession(obs)
	}
	return known
}

// ring keeps the newest values up to a cap, overwriting the oldest: the
// per-user histories are written on every refresh, so they must not shift.
type ring[T any] struct {
	vals []T
	next int // where the next value goes once full
}

func (r *ring[T]) len() int { return len(r.vals) }

func (r *ring[T]) push(v T, max int, sp *spares[T]) {
	if len(r.vals) < max {
		if len(r.vals) == cap(r.vals) {
			// Grown by half at a time up to the cap: most users keep a
			// few values, and append would double past them.
			grown := sp.take(min(max, len(r.vals)+1+len(r.vals)/2))[:len(r.vals)]
			copy(grown, r.vals)
			sp.give(r.vals)
			r.vals = grown
		}
		r.vals = append(r.vals, v)
		return
	}
	r.vals[r.next] = v
	if r.next++; r.next == len(r.vals) {
		r.next = 0
	}
}

// spares keeps the arrays rings outgrew, by capacity, for the next ring
// to grow to that capacity. Every user's rings grow through the same
// capacities (1, 2, 4, 7, 11, …), so one user's outgrown array is the next
// one's. Left to the collector, they were ~1.8 KB a user that reached 16
// refreshes, and during a scan, which runs without the collector, every
// byte of them a fresh page: a tenth of a scan's new heap.
type spares[T any] struct {
	byCap [][][]T // byCap[n]: arrays of capacity n, emptied
}

// maxSpares bounds the arrays kept per capacity; past it they are left to
// the collector (rings at their caps give none back, so few are kept).
const maxSpares = 32

// take returns an empty array of capacity n, a spare when there is one.
func (sp *spares[T]) take(n int) []T {
	if n < len(sp.byCap) {
		if l := sp.byCap[n]; len(l) > 0 {
			a := l[len(l)-1]
			l[len(l)-1] = nil
			sp.byCap[n] = l[:len(l)-1]
			return a
		}
	}
	return make([]T, 0, n)
}

// give keeps a, which no ring holds any more, for take.
func (sp *spares[T]) give(a []T) {
	n := cap(a)
	if n == 0 {
		return
	}
	if n >= len(sp.byCap) {
		sp.byCap = append(sp.byCap, make([][][]T, n+1-len(sp.byCap))...)
	}
	if len(sp.byCap[n]) < maxSpares {
		a = a[:n]
		clear(a) // its values' pointers are the ring's no longer
		sp.byCap[n] = append(sp.byCap[n], a[:0])
	}
}

// at returns the i-th newest value, i from 0.
func (r *ring[T]) at(i int) *T {
	n := len(r.vals)
	return &r.vals[((r.next-1-i)%n+n)%n]
}

// newest returns the i-th newest value, i from 0.
func (r *ring[T]) newest(i int) T { return *r.at(i) }

// learnPlace remembers the country and network of a legitimate refresh or
// login, most recent first, dropping the least recent past MaxPlaces.
// It reports which of them it held, first seen at or before the event.
func (m *Memory) learnPlace(u *userState, obs *Observation) (known sightBits) {
	var held bool
	if obs.Country != "" {
		mo := u.extra()
		if mo.countries, held = moveToFront(mo.countries, obs.Country, obs.Time.UnixNano(), m.limits.MaxPlaces); held {
			known |= sightCountry
		}
	}
	if obs.ASN != 0 {
		mo := u.extra()
		if mo.asns, held = moveToFront(mo.asns, obs.ASN, obs.Time.UnixNano(), m.limits.MaxPlaces); held {
			known |= sightASN
		}
	}
	return known
}

// moveToFront puts v first, seen at at (Unix ns): its first sight is the
// earliest by log time, whatever order it was learned in. held says v was
// there, first seen at or before at.
func moveToFront[T comparable](s []seenPlace[T], v T, at int64, max int) (_ []seenPlace[T], held bool) {
	if i := slices.IndexFunc(s, func(p seenPlace[T]) bool { return p.v == v }); i >= 0 {
		p := s[i]
		held = p.first <= at
		p.first = min(p.first, at)
		copy(s[1:i+1], s[:i])
		s[0] = p
		return s, held
	}
	if len(s) >= max {
		s = s[:max-1]
	}
	return slices.Insert(s, 0, seenPlace[T]{v: v, first: at}), false
}

// learnIP keeps the user's addresses in order of when each was last seen,
// by log time, so events learned out of order (replicas read at different
// speeds) leave the same history as in order; past the cap the least
// recently seen goes, which may be the one just learned.
func (m *Memory) learnIP(u *userState, obs *Observation, t stamp) (known sightBits) {
	if !obs.IP.IsValid() {
		return 0
	}
	if len(u.ips) > 0 && u.ips[0].addr == obs.IP {
		// The usual refresh, from the address seen last: it stays first
		// (last only grows), and only its times may change (its first
		// sight, learned out of order).
		p := &u.ips[0]
		if p.last(0).before(t) {
			p.lastSec, p.lastNsec = t.sec, t.nsec
		}
		if t.before(p.first(0)) {
			p.firstSec, p.firstNsec = t.sec, t.nsec
			return 0
		}
		return sightIP
	}
	s := newSeenIP(obs.IP, t)
	if i := slices.IndexFunc(u.ips, func(x seenIP) bool { return x.addr == obs.IP }); i >= 0 {
		s = u.ips[i]
		if s.last(0).before(t) {
			s.lastSec, s.lastNsec = t.sec, t.nsec
		}
		if t.before(s.first(0)) {
			s.firstSec, s.firstNsec = t.sec, t.nsec
		} else {
			known = sightIP
		}
		if s.last(0).before(u.ips[i-1].last(0)) {
			// Still in place (last only grows, so nothing after it is
			// newer).
			u.ips[i] = s
			return known
		}
		u.ips = slices.Delete(u.ips, i, i+1)
	}
	last := s.last(0)
	at, _ := slices.BinarySearchFunc(u.ips, last, func(x seenIP, t stamp) int { return t.compare(x.last(0)) })
	if len(u.ips) == cap(u.ips) && len(u.ips) < m.limits.MaxIPsPerUser {
		// Grown by half, not doubled: most users have an address or two.
		grown := make([]seenIP, len(u.ips), min(m.limits.MaxIPsPerUser+1, len(u.ips)+1+len(u.ips)/2))
		copy(grown, u.ips)
		u.ips = grown
	}
	u.ips = slices.Insert(u.ips, at, s)
	if len(u.ips) > m.limits.MaxIPsPerUser {
		u.ips = u.ips[:m.limits.MaxIPsPerUser]
		m.stats.IPsEvicted++
	}
	return known
}

// learnSession remembers the event's address for its session, and notes
// in obs whether the session was new to the table (sessionNew).
func (m *Memory) learnSession(obs *Observation) {
	if !hasSession(obs.Session) || !obs.IP.IsValid() {
		return
	}
	slot, fresh, evicted := m.sessions.claim(obs.Session)
	obs.sessionNew = fresh
	if evicted {
		m.stats.SessionsEvicted++
	}
	if !m.sessions.add(slot, obs.IP) {
		m.stats.SessionIPsCapped++
	}
}
