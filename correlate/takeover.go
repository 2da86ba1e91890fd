package correlate

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// The commonest theft leaves no grace reuse: someone who copied a
// kubeconfig refreshes with the current token from elsewhere (an ordinary
// AzSuccess for the user from a new client), and the legitimate client's
// next refresh is refused: OpenIDConnectIdP's WARN "Session does not exist
// from refresh_token", then an [AzFail] with the anonymous DN on the same
// thread. The refused request names no user, so the Correlator keeps, per
// client address, the chains that just moved away from it (a "move"), and
// attributes a refusal from that address to the users whose chain moved:
// one, or behind a shared address (an office NAT) every one whose chain
// moved, named together rather than guessed between.
//
// The index is in-process, and with a Redis history also shared: the
// history script records each move under the address it left (redis.lua),
// so a refusal logged by one replica finds a move another replica's
// watcher learned.

// SessionReach is how long an OpenUnison refresh session lives without a
// refresh (it slides to 15 minutes on every one). A chain whose last refresh
// is older was dead already: a refresh from elsewhere then is a new login,
// not a takeover; and a refusal more than this after a move cannot be the
// moved chain's old holder trying its token.
const SessionReach = 15 * time.Minute

const (
	maxChainUsers = 100_000 // users whose last refresh is remembered for moves
	maxMoves      = 16_384  // moves remembered (each lives at most SessionReach)
	// moveEvictBatch is how many moves evictMoves frees at the cap.
	moveEvictBatch = maxMoves / 10
	maxRefusals    = 1024 // refusal WARNs waiting for their AzFail
)

// ChainMove is a refresh of a user's chain from another client than the
// chain's previous refresh.
type ChainMove struct {
	User UserID
	// From is the client of the user's refresh before the move, at FromTime:
	// the victim, if the chain was taken.
	From      netip.Addr
	FromTime  time.Time
	FromAgent string // the agent of that refresh, when attribution knew it
	// To is the client that refreshed at ToTime (with ToAgent, ToVia when
	// attribution knows them): the thief, if the chain was taken.
	To           netip.Addr
	ToTime       time.Time
	ToAgent      string
	ToVia        string
	ToRaw        string // the moving refresh's record
	ToSource     string
	ToSession    string
	ToAttributed parser.Attribution
}

// Takeover is a refused refresh from a client whose users' chains just
// moved elsewhere: Moves holds one move per such user, most recent first.
// The refused event itself is the Context's Event.
type Takeover struct {
	Moves []ChainMove
}

type lastRefresh struct {
	user  UserID
	ip    netip.Addr
	time  time.Time
	agent string
	// moves counts the user's moves in the index (chains.moved): a
	// refresh of a user with none, nearly every refresh, skips looking for
	// one to drop.
	moves int32
}

type refusalMark struct {
	reason string
	time   time.Time
}

// chains is the Correlator's in-process index of moved chains. Its last
// refreshes are a table like the memory store's users, for the same
// reasons: every refresh looks its user up.
type chains struct {
	last   *table[lastRefresh]
	hasher userHasher
	moves  map[netip.Addr][]ChainMove // by From
	n      int
	// moved says which users have a move from an address: a refresh
	// clears its user's moves from its address, and scanning the moves
	// from an address for each refresh cost the square of the users
	// behind a shared address (a NAT) whose chains moved.
	moved map[moveKey]struct{}
	// orphanMoves counts the moves kept of users the last refreshes do
	// not hold (evicted at maxChainUsers, or a move restored without its
	// user's last refresh), by user key: a user added again takes its
	// count back. A flag that made every user added since uncounted lost
	// the skip for good in a watcher restarted from a checkpoint with an
	// old move (review12). At most one entry a move: maxMoves.
	orphanMoves map[uint64]int32
	refusals    map[threadKey]refusalMark
	sweeps      int // passes over every move at the cap (evictMoves)
}

func newChains() chains {
	return chains{last: newTable[lastRefresh](), hasher: newUserHasher(), moves: map[netip.Addr][]ChainMove{}, moved: map[moveKey]struct{}{},
		orphanMoves: map[uint64]int32{}, refusals: map[threadKey]refusalMark{}}
}

// refreshed learns a legitimate refresh: a move when the user's previous
// refresh, still alive, came from another client; and a user refreshing
// from an address again clears the moves away from it (the chain, or the
// user's other device, is back there). h is the user's key: one lookup
// for the read and the write, and the moves', with the user (IdP and DN,
// tens of bytes) hashed once per refresh.
func (c *Correlator) refreshed(ev *parser.Event, h uint64) {
	// A proxy's address (attribution could not name the client) is no
	// client a chain can move to or from.
	if !ev.IP.IsValid() || !clientKnown(ev.Attribution) {
		return
	}
	ch := &c.chains
	u := UserOf(ev)
	e := ch.last.touch(h)
	if e == nil || e.moves != 0 {
		c.dropMoves(u, h, ev.IP)
	}
	if e != nil {
		prev := *e
		if prev.ip != ev.IP && !ev.Time.Before(prev.time) && within(prev.time, ev.Time, SessionReach) {
			// The key as stored is a copy already: the move shares it.
			// prev is the entry of key h: prev.user is u.
			c.addMove(h, ChainMove{User: prev.user, From: prev.ip, FromTime: prev.time, FromAgent: prev.agent,
				To: ev.IP, ToTime: ev.Time, ToAgent: ev.Agent, ToVia: ev.Via, ToRaw: ev.Raw, ToSource: ev.FileName(),
				ToSession: ev.Session, ToAttributed: ev.Attribution})
		}
		if ev.Time.Before(prev.time) {
			return // learned out of order: the later refresh stays the chain's
		}
	}
	if e != nil {
		e.ip, e.time = ev.IP, ev.Time
		if e.agent != ev.Agent {
			e.agent = strings.Clone(ev.Agent)
		}
		return
	}
	if ch.last.len() >= maxChainUsers {
		ch.removeOldest()
		c.stats.ChainUsersEvicted++
	}
	ch.add(h, lastRefresh{user: c.ownUser(u), ip: ev.IP, time: ev.Time, agent: strings.Clone(ev.Agent)})
}

// add adds the last refresh of the user whose key is h, absent, with the
// count of its moves.
func (ch *chains) add(h uint64, l lastRefresh) {
	l.moves = ch.orphanMoves[h]
	if l.moves != 0 {
		delete(ch.orphanMoves, h)
	}
	ch.last.add(h, l)
}

// removeOldest forgets the least recently refreshed user's last refresh;
// its moves stay, orphaned, and counted.
func (ch *chains) removeOldest() {
	if h, l := ch.last.oldestKey(); l != nil && l.moves != 0 {
		ch.orphanMoves[h] += l.moves
	}
	ch.last.removeOldest()
}

// countMoves adds d to the moves count of the user whose key is h.
func (ch *chains) countMoves(h uint64, d int32) {
	if l := ch.last.peek(h); l != nil {
		l.moves += d
		return
	}
	if n := ch.orphanMoves[h] + d; n > 0 {
		ch.orphanMoves[h] = n
	} else {
		delete(ch.orphanMoves, h)
	}
}

// ownUser returns a copy of u's strings for an index to keep: the memory
// store's copy when it tracks the user (it has just learned the event, so
// it nearly always does), else a copy of its own.
func (c *Correlator) ownUser(u UserID) UserID {
	if l, ok := c.store.(interface{ Local() *Memory }); ok {
		if id, ok := l.Local().userKey(u); ok {
			return id
		}
	}
	return UserID{IdP: strings.Clone(u.IdP), DN: strings.Clone(u.DN)}
}

// moveKey names a user's move away from an address (chains.moved), the
// user by its key (userHasher's): every refresh looks its user up here,
// and hashing the DN again for the map cost a tenth of correlating. Two
// users sharing a key have the odds of the tables' (see userHasher); the
// moves themselves are still told apart by name.
type moveKey struct {
	from netip.Addr
	user uint64
}

// dropMoves forgets u's moves away from from; h is u's key.
func (c *Correlator) dropMoves(u UserID, h uint64, from netip.Addr) {
	k := moveKey{from, h}
	if _, ok := c.chains.moved[k]; !ok {
		return
	}
	delete(c.chains.moved, k)
	c.chains.countMoves(h, -1)
	ms := c.chains.moves[from]
	kept := slices.DeleteFunc(ms, func(m ChainMove) bool { return m.User == u })
	c.chains.n -= len(ms) - len(kept)
	if len(kept) == 0 {
		delete(c.chains.moves, from)
		return
	}
	c.chains.moves[from] = kept
}

// addMove records a move, replacing the user's earlier move away from the
// same client; at maxMoves room is made first (evictMoves). h is m.User's
// key.
func (c *Correlator) addMove(h uint64, m ChainMove) {
	c.dropMoves(m.User, h, m.From)
	if c.chains.n >= maxMoves {
		c.evictMoves(m.ToTime)
	}
	c.chains.moves[m.From] = append(c.chains.moves[m.From], m)
	c.chains.moved[moveKey{m.From, h}] = struct{}{}
	c.chains.countMoves(h, 1)
	c.chains.n++
}

// evictMoves makes room at the cap: the moves past SessionReach go, then,
// if that frees less than moveEvictBatch, the oldest until it does (all
// counted). Freeing a batch at once keeps the pass over every move to one
// per batch of new moves: freeing only the expired ones made each new move
// of a burst (a VPN's users all changing address) pay a pass over the
// whole index, only to be dropped. A new move is the one whose refusal is
// still to come; the oldest are the nearest their SessionReach anyway.
func (c *Correlator) evictMoves(now time.Time) {
	ch := &c.chains
	ch.sweeps++
	cut, ok := ch.oldestCut(now, (maxMoves - moveEvictBatch))
	for from, ms := range ch.moves {
		kept := slices.DeleteFunc(ms, func(m ChainMove) bool {
			if within(m.ToTime, now, SessionReach) && (!ok || compareMoves(&m, &cut) > 0) {
				return false
			}
			h := ch.hasher.hash(m.User)
			delete(ch.moved, moveKey{m.From, h})
			ch.countMoves(h, -1)
			return true
		})
		c.stats.MovesEvicted += int64(len(ms) - len(kept))
		ch.n -= len(ms) - len(kept)
		if len(kept) == 0 {
			delete(ch.moves, from)
		} else {
			ch.moves[from] = kept
		}
	}
}

// oldestCut returns the newest of the moves to evict so that at most keep
// live ones (within SessionReach of now) stay, in compareMoves' order, so
// that which moves go never depends on the map's order; false when the
// live moves are no more than keep. Times are sorted as integers, and only
// the moves at the cut's time as moves, which keeps a sweep cheap.
func (ch *chains) oldestCut(now time.Time, keep int) (ChainMove, bool) {
	times := make([]int64, 0, ch.n)
	for _, ms := range ch.moves {
		for i := range ms {
			if within(ms[i].ToTime, now, SessionReach) {
				times = append(times, ms[i].ToTime.UnixNano())
			}
		}
	}
	excess := len(times) - keep
	if excess <= 0 {
		return ChainMove{}, false
	}
	slices.Sort(times)
	at := times[excess-1]
	before, _ := slices.BinarySearch(times, at)
	var tied []*ChainMove
	for _, ms := range ch.moves {
		for i := range ms {
			if ms[i].ToTime.UnixNano() == at {
				tied = append(tied, &ms[i])
			}
		}
	}
	slices.SortFunc(tied, compareMoves)
	return *tied[excess-before-1], true
}

// compareMoves orders moves oldest first; a move is one per address and
// user, so no two compare equal.
func compareMoves(a, b *ChainMove) int {
	return cmp.Or(a.ToTime.Compare(b.ToTime), a.From.Compare(b.From),
		strings.Compare(a.User.IdP, b.User.IdP), strings.Compare(a.User.DN, b.User.DN))
}

// markRefusal remembers a refusal's WARN until its thread's AzFail.
func (c *Correlator) markRefusal(ev *parser.Event) {
	ch := &c.chains
	if len(ch.refusals) >= maxRefusals {
		// WARNs whose AzFail never came (a cut log): the oldest go.
		for k, r := range ch.refusals {
			if !within(r.time, ev.Time, c.pairWindow) {
				delete(ch.refusals, k)
				c.stats.RefusalsEvicted++
			}
		}
		if len(ch.refusals) >= maxRefusals {
			clear(ch.refusals)
			c.stats.RefusalsEvicted += maxRefusals
		}
	}
	ch.refusals[threadKey{ev.Source, ev.Thread}] = refusalMark{reason: refusalReasonOf(ev.Message), time: ev.Time}
}

// refusalReasonOf is the reason a refusal's message gives, as one of the
// constants when it is one (it nearly always is), so a mark keeps no record
// alive and costs no copy.
func refusalReasonOf(msg string) string {
	for _, r := range []string{parser.RefusalNoSession, parser.RefusalExpired} {
		if msg == r {
			return r
		}
	}
	return strings.Clone(msg)
}

// refusalReason returns the reason of the refusal that opened ev's request
// (same source and thread, within the pair window), and forgets it: a
// thread serves one request at a time.
func (c *Correlator) refusalReason(ev *parser.Event) string {
	k := threadKey{ev.Source, ev.Thread}
	r, ok := c.chains.refusals[k]
	if !ok {
		return ""
	}
	delete(c.chains.refusals, k)
	if ev.Time.Before(r.time) || !within(r.time, ev.Time, c.pairWindow) {
		return ""
	}
	c.stats.RefusalsPaired++
	return r.reason
}

// takeoverOf returns the moves a refused refresh (an anonymous token_fail
// whose Reason says the session does not exist) is attributed to: every
// user whose chain moved away from the refusal's client within
// SessionReach before it, most recent first; nil when none.
func (c *Correlator) takeoverOf(ctx context.Context, ev *parser.Event) (*Takeover, error) {
	if !mayBeTakeover(ev) {
		return nil, nil
	}
	out, err := c.sharedMoves(ctx, ev, c.localMoves(ev))
	if err != nil {
		return nil, err
	}
	return takeoverFrom(ev, out), nil
}

// mayBeTakeover says whether a refused refresh can be a takeover's trace: a
// refusal for want of a session from a client attribution knows.
func mayBeTakeover(ev *parser.Event) bool {
	return ev.Reason == parser.RefusalNoSession && ev.IP.IsValid() && clientKnown(ev.Attribution)
}

// localMoves are the chains this watcher saw move away from the refused
// client's address within SessionReach before the refusal.
func (c *Correlator) localMoves(ev *parser.Event) []ChainMove {
	var out []ChainMove
	for _, m := range c.chains.moves[ev.IP] {
		if m.ToTime.Before(ev.Time) && within(m.ToTime, ev.Time, SessionReach) && m.IdP() == ev.IdP {
			out = append(out, m)
		}
	}
	return out
}

// takeoverFrom is the takeover the moves found make of a refusal, or nil.
func takeoverFrom(ev *parser.Event, moves []ChainMove) *Takeover {
	if len(moves) == 0 {
		return nil
	}
	moves = byAgent(moves, ev.Agent)
	slices.SortFunc(moves, func(a, b ChainMove) int { return b.ToTime.Compare(a.ToTime) })
	return &Takeover{Moves: moves}
}

// byAgent narrows the moves behind one address to those whose refused
// client's agent is the refused request's, when attribution knows agents:
// behind an office NAT, the agent tells one user's kubectl from another's
// k9s. With no agent known, or none matching, every move stays: a name
// given rather than a guess.
func byAgent(moves []ChainMove, agent string) []ChainMove {
	if agent == "" {
		return moves
	}
	var same []ChainMove
	for _, m := range moves {
		if m.FromAgent == agent {
			same = append(same, m)
		}
	}
	if len(same) == 0 {
		return moves
	}
	return same
}

// IdP is the IdP of the moved chain.
func (m ChainMove) IdP() string { return m.User.IdP }

// takeoverContext is the Context a refused refresh is judged in once it is
// attributed: its user is the moved chains' users (DNs joined by "; " when
// an address shared by several leaves more than one), its places those of
// the moving client (Geo) and the refused one (PrevGeo).
func (c *Correlator) takeoverContext(ev *parser.Event, t *Takeover) *Context {
	c.attributed = *ev
	out := &c.attributed
	dns := make([]string, 0, len(t.Moves))
	for _, m := range t.Moves {
		if !slices.Contains(dns, m.User.DN) {
			dns = append(dns, m.User.DN)
		}
	}
	out.User, out.IdP = strings.Join(dns, "; "), t.Moves[0].User.IdP
	jc := &Context{Event: out, Takeover: t}
	if c.Geo != nil {
		if info, ok := c.Geo.Lookup(t.Moves[0].To); ok {
			jc.Geo = &info
		}
		if info, ok := c.Geo.Lookup(ev.IP); ok {
			jc.PrevGeo = &info
		}
	}
	return jc
}
