package correlate

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Most events a watcher sends Redis are refreshes and logins no rule judges:
// they only teach. A script call costs Redis several µs per event before it
// does anything (its arguments become Lua strings, each command it runs is
// converted both ways), more than the same writes sent as plain commands,
// so these go as plain commands, pipelined with the script calls (in an
// order queueBatch explains) and grouped per key: one ZADD per user's refreshes, addresses and
// places, per session, and one for all the users' last and first seen
// times and one for the moves index. Every write is one the script makes the
// same way (ZADD GT for latest times, NX for a session's first sight, LT for
// first seen; trims by rank), and applying the same event twice changes
// nothing, so the order inside a group does not matter. The caps the plain
// commands cannot keep (users, sessions) are kept by a script call with no
// events at the end of each round trip.

// plainLearnable says whether obs can be learned with plain commands: it
// only teaches, and it has a name (where it was logged) to dedupe by.
func plainLearnable(obs Observation) bool {
	return !obs.NeedFacts && (obs.Action == Refresh || obs.Action == Login) && obs.Source != ""
}

// plainGroup gathers what a run of plain-learnable observations teaches.
type plainGroup struct {
	users    map[string]*plainUser
	order    []string // users in the order first seen, for a stable pipeline
	sessions map[string]map[string]int64
	sessOrd  []string
	moves    map[string]int64 // "address|user" → the user's latest refresh from the address
	latest   int64
	n        int // observations
}

type plainUser struct {
	first, last          int64
	refreshes            []any // score, member pairs
	ips, countries, asns map[string]int64
}

func newPlainGroup() *plainGroup {
	return &plainGroup{users: map[string]*plainUser{}, sessions: map[string]map[string]int64{}, moves: map[string]int64{}}
}

func (g *plainGroup) empty() bool { return len(g.order) == 0 }

// touches says whether the group writes keys obs's facts or learning read:
// its user's, or its session's.
func (g *plainGroup) touches(obs Observation) bool {
	if _, ok := g.users[member(obs.User)]; ok {
		return true
	}
	if !hasSession(obs.Session) {
		return false
	}
	_, ok := g.sessions[strconv.FormatUint(fnv1a(obs.Session), 10)]
	return ok
}

func maxInto(m map[string]int64, k string, t int64) {
	if v, ok := m[k]; !ok || t > v {
		m[k] = t
	}
}

func (g *plainGroup) add(obs Observation) {
	g.n++
	t := obs.Time.UnixMicro()
	g.latest = max(g.latest, t)
	m := member(obs.User)
	u := g.users[m]
	if u == nil {
		u = &plainUser{first: t, last: t, ips: map[string]int64{}}
		g.users[m] = u
		g.order = append(g.order, m)
	}
	u.first, u.last = min(u.first, t), max(u.last, t)
	ip := ""
	if obs.IP.IsValid() {
		ip = obs.IP.String()
		maxInto(u.ips, ip, t)
	}
	if obs.Country != "" {
		if u.countries == nil {
			u.countries = map[string]int64{}
		}
		maxInto(u.countries, obs.Country, t)
	}
	if obs.ASN != 0 {
		if u.asns == nil {
			u.asns = map[string]int64{}
		}
		maxInto(u.asns, strconv.FormatUint(uint64(obs.ASN), 10), t)
	}
	if obs.Action == Refresh {
		u.refreshes = append(u.refreshes, t, eventName(obs)+"|"+ip+"|"+obs.Session+clientSuffix(obs))
		if ip != "" {
			maxInto(g.moves, ip+"|"+m, t)
		}
	}
	if hasSession(obs.Session) && ip != "" {
		h := strconv.FormatUint(fnv1a(obs.Session), 10)
		ips := g.sessions[h]
		if ips == nil {
			ips = map[string]int64{}
			g.sessions[h] = ips
			g.sessOrd = append(g.sessOrd, h)
		}
		if v, ok := ips[ip]; !ok || t < v { // a session's first sight of an address
			ips[ip] = t
		}
	}
}

// plainReplies are the replies of a group's trims that count evictions.
type plainReplies struct {
	ips, sessionIPs []*redis.IntCmd
}

// queue adds the group's commands to pipe.
func (g *plainGroup) queue(ctx context.Context, r *Redis, pipe redis.Pipeliner) plainReplies {
	var out plainReplies
	usersArgs := []any{"ZADD", r.hist + "users", "GT"}
	firstArgs := []any{"ZADD", r.hist + "first", "LT"}
	for _, m := range g.order {
		u := g.users[m]
		usersArgs = append(usersArgs, u.last, m)
		firstArgs = append(firstArgs, u.first, m)
		if c := u.queue(ctx, r, pipe, r.hist+"u:"+m); c != nil {
			out.ips = append(out.ips, c)
		}
	}
	pipe.Do(ctx, usersArgs...)
	pipe.Do(ctx, firstArgs...)
	if len(g.moves) > 0 {
		pipe.Do(ctx, zaddArgs(r.hist+"ra", "GT", g.moves)...)
		pipe.Do(ctx, "ZREMRANGEBYRANK", r.hist+"ra", 0, -(maxMovesIndexed + 1))
	}
	if len(g.sessOrd) > 0 {
		index := []any{"ZADD", r.hist + "sessions", "GT"}
		for _, h := range g.sessOrd {
			k := r.hist + "s:" + h
			ips := g.sessions[h]
			last := int64(0)
			for _, t := range ips {
				last = max(last, t)
			}
			index = append(index, last, h)
			pipe.Do(ctx, zaddArgs(k, "NX", ips)...)
			out.sessionIPs = append(out.sessionIPs, pipe.ZRemRangeByRank(ctx, k, sessionIPs, -1))
		}
		pipe.Do(ctx, index...)
	}
	return out
}

// queue adds a user's writes to pipe, and returns the reply of its
// addresses' trim (nil for none).
func (u *plainUser) queue(ctx context.Context, r *Redis, pipe redis.Pipeliner, k string) (ipsTrimmed *redis.IntCmd) {
	l := r.limits
	if len(u.refreshes) > 0 {
		pipe.Do(ctx, append([]any{"ZADD", k + ":r"}, u.refreshes...)...)
		pipe.Do(ctx, "ZREMRANGEBYRANK", k+":r", 0, -(l.MaxRefreshes + 1))
	}
	if len(u.ips) > 0 {
		pipe.Do(ctx, zaddArgs(k+":i", "GT", u.ips)...)
		ipsTrimmed = pipe.ZRemRangeByRank(ctx, k+":i", 0, -int64(l.MaxIPsPerUser+1))
	}
	for _, p := range [...]struct {
		key    string
		places map[string]int64
	}{{k + ":c", u.countries}, {k + ":a", u.asns}} {
		if len(p.places) > 0 {
			pipe.Do(ctx, zaddArgs(p.key, "GT", p.places)...)
			pipe.Do(ctx, "ZREMRANGEBYRANK", p.key, 0, -(l.MaxPlaces + 1))
		}
	}
	return ipsTrimmed
}

func zaddArgs(key, flag string, m map[string]int64) []any {
	args := make([]any, 0, 3+2*len(m))
	args = append(args, "ZADD", key, flag)
	for k, t := range m {
		args = append(args, t, k)
	}
	return args
}

// count adds the evictions the group's trims made to the store's stats.
func (p plainReplies) count(r *Redis) {
	for _, c := range p.ips {
		r.stats.ipsEvicted.Add(c.Val())
	}
	for _, c := range p.sessionIPs {
		r.stats.sessionIPsCapped.Add(c.Val())
	}
}

// maxMovesIndexed bounds the moves index (ra): the (address, user) pairs
// with the most recent refreshes, as many as the memory store's moves.
const maxMovesIndexed = 16_384
