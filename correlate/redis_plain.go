package correlate

import (
	"context"
	"net/netip"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Most events a watcher sends Redis are refreshes and logins no rule judges:
// they only teach. A script call costs Redis several µs per event before it
// does anything (its arguments become Lua strings, each command it runs is
// converted both ways), more than the same writes sent as plain commands,
// so these go as plain commands, pipelined with the script calls (in an
// order queueBatch explains) and grouped per key: one ZADD per user's
// refreshes, addresses and places (and their first sights), and one HSET
// of the sessions the watcher's local store did not hold (each takes its
// slot of the session table). Every write is one the script makes the same
// way (ZADD GT for latest times, LT for first sights; trims by rank), and
// applying the same event twice changes nothing, so the order inside a
// group does not matter. What the plain commands cannot keep is the
// script's: the users set and first seen times, and the sessions the local
// store held (a slot is read, merged and written), by the gate of the call
// before the group; the group's moves
// (the index and its by-address view, kept in step by one call), and the
// keys of its users another watcher dropped meanwhile by the call after it
// (a call with no events when the group ends the round trip).

// plainLearnable says whether obs can be learned with plain commands: it
// only teaches, and it has a name (where it was logged) to dedupe by.
func plainLearnable(obs Observation) bool {
	return !obs.NeedFacts && (obs.Action == Refresh || obs.Action == Login) && obs.Source != ""
}

// plainGroup gathers what a run of plain-learnable observations teaches.
type plainGroup struct {
	order []*plainUser // users in the order first seen, for a stable pipeline (found by batchUser)
	// fresh are the group's sessions new to the watcher's local store
	// before the group (Observation.sessionNew: kubectl's, a new id every
	// request), written with one HSET; known are the others, which the
	// gate merges into what Redis holds. Each list is in the order the
	// session table meets them: a session seen again after another took
	// its slot comes again, so that its slot changes hands as the memory
	// store's did. sessions finds a slot's latest, sessionMask a session's
	// slot (Redis.sessionMask).
	fresh, known []*plainSession
	sessions     map[uint64]*plainSession
	sessionMask  uint64
	moves        map[movePair]int64 // the user's latest refresh from the address
	moveOrd      []movePair         // moves as first seen, for a pipeline the same every time
	touches      []touch            // the users' events in log order, one per run of the same user
	latest       int64
	n            int // observations
	gen          int // how many times the group was reset: its users' records are of this gen
	// idleUsers and idleSessions are records of a group before, emptied
	// for this one to fill (reset).
	idleUsers    []*plainUser
	idleSessions []*plainSession
}

// touch is a run of a group's user's events, for the gate: the user's
// index in order (from 1, as Lua counts) and the run's first and last
// times.
type touch struct {
	user        int
	first, last int64
}

type plainUser struct {
	member               string
	index                int // in order, from 1
	first, last          int64
	refreshes            scored // every refresh, in log order
	ips, countries, asns scored // by last sight
	// the same by first sight, which a reuse's facts are filtered by
	firstIPs, firstCountries, firstASNs scored
	// fresh are the kinds of sight of which the group has one the local
	// store did not hold (all, without a local store): those the call
	// after the group trims.
	fresh sightBits
}

// plainSession is a session's addresses in the order first seen, as the
// session table takes them, the first sessionIPs of them; over is every
// sight of another, in order, repeats included: the memory store counts
// each as over the cap (its slot is full by then and never holds it).
type plainSession struct {
	hash uint64
	ips  []string
	over []string
}

// scored is a few members with a time each: a user's addresses or places,
// seldom more than one or two in a round trip, so a slice searched beats a
// map made for each.
type scored []struct {
	member string
	t      int64
}

// keep records member at t, keeping the latest time (or the earliest).
func (s *scored) keep(member string, t int64, latest bool) {
	for i := range *s {
		x := &(*s)[i]
		if x.member == member {
			if latest && t > x.t || !latest && t < x.t {
				x.t = t
			}
			return
		}
	}
	*s = append(*s, struct {
		member string
		t      int64
	}{member, t})
}

// zadd is the command that writes them to key (flag "": none).
func (s scored) zadd(key, flag string) []any {
	args := make([]any, 0, 3+2*len(s))
	args = append(args, "ZADD", key)
	if flag != "" {
		args = append(args, flag)
	}
	for _, x := range s {
		args = append(args, x.t, x.member)
	}
	return args
}

func newPlainGroup(sessionMask uint64) *plainGroup {
	return &plainGroup{sessions: map[uint64]*plainSession{}, sessionMask: sessionMask, moves: map[movePair]int64{}}
}

func (g *plainGroup) empty() bool { return len(g.order) == 0 }

// reset empties g, sent and its call after it built, for the next group of
// the batch, keeping its maps, slices and records: a batch of a catch-up
// has a group every ~57 events, and making each anew was a fifth of the
// allocations of building the batch. Nothing sent keeps a reference to
// them: commands are written as bytes (or boxed copies, on the pool).
func (g *plainGroup) reset() {
	for _, u := range g.order {
		*u = plainUser{refreshes: u.refreshes[:0], ips: u.ips[:0], countries: u.countries[:0], asns: u.asns[:0],
			firstIPs: u.firstIPs[:0], firstCountries: u.firstCountries[:0], firstASNs: u.firstASNs[:0]}
	}
	for _, s := range g.fresh {
		*s = plainSession{ips: s.ips[:0], over: s.over[:0]}
	}
	for _, s := range g.known {
		*s = plainSession{ips: s.ips[:0], over: s.over[:0]}
	}
	g.idleUsers = append(g.idleUsers, g.order...)
	g.idleSessions = append(append(g.idleSessions, g.fresh...), g.known...)
	g.gen++
	clear(g.sessions)
	clear(g.moves)
	g.order, g.fresh, g.known, g.moveOrd, g.touches = g.order[:0], g.fresh[:0], g.known[:0], g.moveOrd[:0], g.touches[:0]
	g.latest, g.n = 0, 0
}

// newUser is a user's record for the group, an idle one when there is.
func (g *plainGroup) newUser() *plainUser { return takeIdle(&g.idleUsers) }

// newSession is newUser for a session.
func (g *plainGroup) newSession() *plainSession { return takeIdle(&g.idleSessions) }

// takeIdle takes the last of idle, or a new record when there is none.
func takeIdle[T any](idle *[]*T) *T {
	n := len(*idle)
	if n == 0 {
		return new(T)
	}
	x := (*idle)[n-1]
	*idle = (*idle)[:n-1]
	return x
}

// batchNames are the strings a batch's groups make of its events'
// addresses and users, each made once a batch: a catch-up's users come
// back group after group, each from an address or two. Bounded by the
// batch.
type batchNames struct {
	ips   map[netip.Addr]string
	users map[UserID]*batchUser
}

// batchUser is a user of the batch: its name, and its record in the group
// being built, if it has one there (group and gen are that group's), so
// that an event's user is looked up once, not once a batch and once a
// group.
type batchUser struct {
	member string
	rec    *plainUser
	group  *plainGroup
	gen    int
}

func newBatchNames() *batchNames {
	return &batchNames{ips: map[netip.Addr]string{}, users: map[UserID]*batchUser{}}
}

func (n *batchNames) ip(a netip.Addr) string {
	s, ok := n.ips[a]
	if !ok {
		s = a.String()
		n.ips[a] = s
	}
	return s
}

func (n *batchNames) user(u UserID) *batchUser {
	b := n.users[u]
	if b == nil {
		b = &batchUser{member: member(u)}
		n.users[u] = b
	}
	return b
}

func (g *plainGroup) add(obs Observation, ttl int64, names *batchNames) {
	g.n++
	t := obs.Time.UnixMicro()
	g.latest = max(g.latest, t)
	bu := names.user(obs.User)
	u := bu.rec
	if bu.group != g || bu.gen != g.gen {
		u = g.newUser()
		u.member, u.index, u.first, u.last = bu.member, len(g.order)+1, t, t
		g.order = append(g.order, u)
		bu.rec, bu.group, bu.gen = u, g, g.gen
	}
	u.first, u.last = min(u.first, t), max(u.last, t)
	// A run ends at a gap longer than the address TTL, after which the
	// memory store would have expired its user.
	if k := len(g.touches) - 1; k >= 0 && g.touches[k].user == u.index && t-g.touches[k].last <= ttl {
		g.touches[k].last = max(g.touches[k].last, t)
	} else {
		g.touches = append(g.touches, touch{u.index, t, t})
	}
	ip := ""
	// Every sight's first is written, also of one the local store held
	// already (Failover): Redis may have lost it since (another watcher's
	// addresses pushed it out, it expired, the keys went), and the ZADD GT
	// of its last sight brings it back, which with no first sight would
	// read as seen before any event. Only the trim after the group is
	// spared for those (fresh, sightKinds).
	if obs.IP.IsValid() {
		ip = names.ip(obs.IP)
		u.ips.keep(ip, t, true)
		u.firstIPs.keep(ip, t, false)
		u.fresh |= sightIP &^ obs.sightsKnown
	}
	if obs.Country != "" {
		u.countries.keep(obs.Country, t, true)
		u.firstCountries.keep(obs.Country, t, false)
		u.fresh |= sightCountry &^ obs.sightsKnown
	}
	if obs.ASN != 0 {
		asn := strconv.FormatUint(uint64(obs.ASN), 10)
		u.asns.keep(asn, t, true)
		u.firstASNs.keep(asn, t, false)
		u.fresh |= sightASN &^ obs.sightsKnown
	}
	if obs.Action == Refresh {
		u.refreshes = append(u.refreshes, struct {
			member string
			t      int64
		}{refreshMember(obs, ip), t})
		if ip != "" {
			k := movePair{ip, u}
			if v, ok := g.moves[k]; !ok || t > v {
				if !ok {
					g.moveOrd = append(g.moveOrd, k)
				}
				g.moves[k] = t
			}
		}
	}
	if hasSession(obs.Session) && ip != "" {
		h := fnv1a(obs.Session)
		sess := g.sessions[h&g.sessionMask]
		if sess == nil || sess.hash != h {
			sess = g.newSession()
			sess.hash = h
			g.sessions[h&g.sessionMask] = sess
			// A session new to the local store at its first event in the
			// group is all the group's: its later events add to its write.
			if obs.sessionNew {
				g.fresh = append(g.fresh, sess)
			} else {
				g.known = append(g.known, sess)
			}
		}
		switch {
		case slices.Contains(sess.ips, ip):
		case len(sess.ips) < sessionIPs:
			sess.ips = append(sess.ips, ip)
		default:
			sess.over = append(sess.over, ip)
		}
	}
}

// refreshMember is a refresh's member in its user's refreshes,
// "name|ip|session[|attribution|peer|agent]", made in one allocation: a
// watcher catching up makes one an event.
func refreshMember(obs Observation, ip string) string {
	var buf [160]byte // most members: the string is the one allocation
	b := appendEventName(buf[:0], obs)
	b = append(append(append(append(b, '|'), ip...), '|'), obs.Session...)
	return string(appendClientSuffix(b, obs))
}

// callArgs are the arguments of a script call: the events of run, then,
// when gate is not nil, the gate of that group, which goes before its
// writes (see redis.lua): the group's touches and sessions, the earliest
// first and the latest last time of its users, then its users as (last,
// member) pairs and as (first, member) pairs, as the gate's ZADDs take them.
func (r *Redis) callArgs(run []Observation, gate, after *plainGroup) []any {
	if gate == nil {
		return r.args(run, "", "", nil, after)
	}
	b := make([]byte, 0, 36*len(gate.touches))
	for _, x := range gate.touches {
		b = strconv.AppendInt(b, int64(x.user), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, x.first, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, x.last, 10)
		b = append(b, ' ')
	}
	args := r.args(run, "", string(b), gate, after)
	earliest, latest := gate.order[0].first, gate.order[0].last
	for _, u := range gate.order {
		earliest, latest = min(earliest, u.first), max(latest, u.last)
	}
	return append(args, earliest, latest, usersSeen{gate.order, false}, usersSeen{gate.order, true})
}

// usersSeen is a gate's users as (last, member) pairs, or (first, member).
type usersSeen struct {
	users []*plainUser
	first bool
}

func (a usersSeen) count() int { return 2 * len(a.users) }

func (a usersSeen) at(u *plainUser) int64 {
	if a.first {
		return u.first
	}
	return u.last
}

func (a usersSeen) appendTo(b []byte) []byte {
	for _, u := range a.users {
		b = appendBulk(appendBulkInt(b, a.at(u)), u.member)
	}
	return b
}

func (a usersSeen) spread(args []any) []any {
	for _, u := range a.users {
		args = append(args, a.at(u), u.member)
	}
	return args
}

// movePair is a move's address and user, written "address|user" (as
// the moves index names it) only as it is sent.
type movePair struct {
	ip   string
	user *plainUser
}

// member is k as the index's member, in its parts.
func (k movePair) member() keyParts { return keyParts{head: k.ip, name: "|", tail: k.user.member} }

// groupMoves is a group's moves as (time, "address|user") pairs.
type groupMoves struct{ g *plainGroup }

func (a groupMoves) count() int { return 2 * len(a.g.moveOrd) }

func (a groupMoves) appendTo(b []byte) []byte {
	for _, k := range a.g.moveOrd {
		b = appendBulkKey(appendBulkInt(b, a.g.moves[k]), k.member())
	}
	return b
}

func (a groupMoves) spread(args []any) []any {
	for _, k := range a.g.moveOrd {
		args = append(args, a.g.moves[k], k.member().String())
	}
	return args
}

// queue adds the group's commands to q. The users' last and first seen
// times, and the known sessions, are the gate's to write.
func (g *plainGroup) queue(ctx context.Context, r *Redis, q batchQueue) plainReplies {
	for _, u := range g.order {
		u.queue(ctx, r, q)
	}
	if len(g.fresh) == 0 {
		return plainReplies{}
	}
	fresh := groupSessions{sessions: g.fresh, mask: g.sessionMask, fresh: true}
	return plainReplies{sessions: q.do(ctx, "HSET", r.hist+"st", fresh), pairs: int64(len(g.fresh)), overCap: int64(fresh.overCap())}
}

// plainReplies is what a group's HSET of its fresh sessions says: of its
// pairs, those that added no slot replaced another session (or, seldom,
// the same one another watcher wrote first), which the memory store counts
// as evicted.
type plainReplies struct {
	sessions       *redis.Cmd
	pairs, overCap int64
}

// count adds the evictions the group's HSET made to the store's stats.
func (p plainReplies) count(r *Redis) {
	if p.sessions == nil {
		return
	}
	added, err := p.sessions.Int64()
	if err != nil {
		return
	}
	r.stats.sessionsEvicted.Add(p.pairs - added)
	r.stats.sessionIPsCapped.Add(p.overCap)
}

// groupSessions are sessions of a group as (slot, "<hash> <address> ...")
// pairs: the known ones for the gate (learnGroupSessions in redis.lua),
// which merges each into its slot, or the fresh ones for the group's HSET,
// which takes them as they come. A session seen with more addresses
// than the table keeps has its first few in one pair; for the gate its
// sights of the others in a second pair, which it merges into a slot full
// by then and so counts sight by sight, as the memory store does; in the
// HSET none (counted by overCap). One count can still differ: a sight
// again of one of the first few that the slot had no room for (it held
// other addresses of the session before the group) is not counted.
type groupSessions struct {
	sessions []*plainSession
	mask     uint64
	fresh    bool
}

func (a groupSessions) entries() int {
	n := len(a.sessions)
	if !a.fresh {
		for _, s := range a.sessions {
			if len(s.over) > 0 {
				n++
			}
		}
	}
	return n
}

// overCap counts the sights of addresses past the table's cap.
func (a groupSessions) overCap() int {
	n := 0
	for _, s := range a.sessions {
		n += len(s.over)
	}
	return n
}

func (a groupSessions) count() int { return 2 * a.entries() }

// each calls fn with each pair's slot, hash and addresses.
func (a groupSessions) each(fn func(slot, hash uint64, ips []string)) {
	for _, s := range a.sessions {
		slot := s.hash & a.mask
		fn(slot, s.hash, s.ips)
		if len(s.over) > 0 && !a.fresh {
			fn(slot, s.hash, s.over)
		}
	}
}

func (a groupSessions) appendTo(b []byte) []byte {
	a.each(func(slot, hash uint64, ips []string) {
		b = appendBulkInt(b, int64(slot))
		var num [20]byte
		h := strconv.AppendUint(num[:0], hash, 10)
		n := len(h)
		for _, ip := range ips {
			n += 1 + len(ip)
		}
		b = append(append(strconv.AppendInt(append(b, '$'), int64(n), 10), '\r', '\n'), h...)
		for _, ip := range ips {
			b = append(append(b, ' '), ip...)
		}
		b = append(b, '\r', '\n')
	})
	return b
}

func (a groupSessions) spread(args []any) []any {
	a.each(func(slot, hash uint64, ips []string) {
		v := strconv.FormatUint(hash, 10)
		for _, ip := range ips {
			v += " " + ip
		}
		args = append(args, int64(slot), v)
	})
	return args
}

// queue adds a user's writes to q. Its sights (addresses, countries,
// networks) are written by last time seen and by first (":fi", ":fc",
// ":fa"), and left over their caps: the script call after the group trims
// both (trimSights in redis.lua), as a trim by rank here would not say
// which members the first sights must lose.
func (u *plainUser) queue(ctx context.Context, r *Redis, q batchQueue) {
	k := keyParts{head: r.users, name: u.member}
	if len(u.refreshes) > 0 {
		k.tail = ":r"
		q.zadd(ctx, k, "", u.refreshes)
		q.trim(ctx, k, 0, -(r.limits.MaxRefreshes + 1), false)
	}
	for _, p := range [...]struct {
		key, firstKey string
		last, first   scored
	}{{":i", ":fi", u.ips, u.firstIPs}, {":c", ":fc", u.countries, u.firstCountries}, {":a", ":fa", u.asns, u.firstASNs}} {
		if len(p.last) > 0 {
			k.tail = p.firstKey
			q.zadd(ctx, k, "LT", p.first)
			k.tail = p.key
			q.zadd(ctx, k, "GT", p.last)
		}
	}
}

// sightKinds says which of its sights a user's writes in the group left
// for the script call after it to trim (trimSights in redis.lua): 1 its
// addresses, 2 its countries, 4 its networks, as a digit.
//
// Only sights the local store did not hold count: the others are in the
// set already unless another watcher's writes (or an expiry) took them
// out, and the set grows past its cap by at most the local stores' own
// (the next trim, the next new sight's, takes it back; their first
// sights are written with them, so the two stay in step).
func (u *plainUser) sightKinds() byte {
	return byte('0') + byte(u.fresh)
}

// appendAfter appends what the script call that follows the group does
// for it (redis.lua): drop the keys of its users another watcher dropped
// between its gate and its writes, and write its moves to the index and
// its by-address view, which the call's trim keeps in step. The users go
// as one argument, each "<length>:<member>": the script reads them only
// when a user was dropped since the gate, and a Lua string made of each
// argument costs Redis more than the read it spares. A nil group appends
// no users and no moves.
func (g *plainGroup) appendAfter(args []any) []any {
	if g == nil {
		return append(args, "", 0)
	}
	n := 0
	for _, u := range g.order {
		n += len(u.member) + 9
	}
	b := make([]byte, 0, n)
	for _, u := range g.order {
		b = append(append(append(strconv.AppendInt(b, int64(len(u.member)), 10), ':'), u.member...), u.sightKinds())
	}
	return append(args, string(b), len(g.moves), groupMoves{g})
}

// trimBounds are the trims' rank bounds, made interface values once: one
// made at each trim costs an allocation (a watcher catching up sends a few
// trims an event).
var trimBounds = func() (b [256]any) {
	for i := range b {
		b[i] = i - 128
	}
	return b
}()

// trimBound is i as an argument.
func trimBound(i int) any {
	if i >= -128 && i < 128 {
		return trimBounds[i+128]
	}
	return i
}

// maxMovesIndexed bounds the moves index (ra): the (address, user) pairs
// with the most recent refreshes, as many as the memory store's moves.
const maxMovesIndexed = 16_384
