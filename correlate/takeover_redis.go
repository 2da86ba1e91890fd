package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/parser"
)

// movesSource is a Store that shares the moved-chain index between
// watchers (Redis, and Failover while Redis answers): the refresh that moved
// a chain and the refusal after it may be logged by different replicas.
type movesSource interface {
	MovesFrom(ctx context.Context, from netip.Addr, at time.Time) ([]ChainMove, error)
}

// movesScript finds the chains that moved away from an address, when a
// refusal asks: a refresh is learned without reading anything (plain
// commands), so moves are not recorded as they happen. The index ra holds
// each user's latest refresh from each address (the most recent pairs,
// "address|user" → time), rx the same pairs by address (lexicographic);
// for each user's latest from the address asked, the user's next refresh,
// if from another address within SessionReach of it and before at, is the
// move. It returns user, "to|time|from time" pairs. A refusal reads the
// address's pairs only, however full the index: a NAT's address with many
// users costs a lookup per user, an address with one a few commands.
//
// Those users' keys are none the lookup's round trip writes, so the
// write-back's repair of a key of the wrong type (redis_repair.go) never
// reaches one: such a key is passed by (pcall), as a user with no refresh
// after the one from the address is, rather than failing every refusal
// from the address.
//
// ARGV: history prefix, from, at (µs), SessionReach (µs).
var movesScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(movesLua) })

const movesLua = `
local h, from, at, reach = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local head = from .. '|'
local ms = redis.call('ZRANGEBYLEX', h .. 'rx', '[' .. head, '[' .. head .. '\255')
for i = 1, #ms, 1000 do
  local chunk = {unpack(ms, i, math.min(i + 999, #ms))}
  local times = redis.call('ZMSCORE', h .. 'ra', unpack(chunk))
  for j, pair in ipairs(chunk) do
    local ft = times[j]
    local m = string.sub(pair, #head + 1)
    local nxt = ft and tonumber(ft) >= at - 2 * reach and tonumber(ft) < at and
      redis.pcall('ZRANGEBYSCORE', h .. 'u:' .. m .. ':r', '(' .. ft, '(' .. ARGV[3], 'WITHSCORES', 'LIMIT', 0, 1)
    if nxt and not nxt.err and nxt[1] then
      local to = string.match(nxt[1], '^[^|]*|([^|]*)')
      local tt = tonumber(nxt[2])
      if to and to ~= '' and to ~= from and tt - tonumber(ft) <= reach then
        out[#out + 1] = m
        out[#out + 1] = to .. '|' .. nxt[2] .. '|' .. ft
      end
    end
  end
end
return out`

// MovesFrom returns the chains that moved away from the address from within
// SessionReach before at: user, where to, when, and the refresh before.
// Agents and records are not shared; the watcher that saw the move has them.
func (r *Redis) MovesFrom(ctx context.Context, from netip.Addr, at time.Time) ([]ChainMove, error) {
	r.mu.Lock()
	err := r.flush(ctx)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	res, err := movesScript().Run(ctx, r.client, nil, r.movesArgs(from, at)...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis %s: moved chains: %w", r.client.Options().Addr, err)
	}
	return parseMoves(res, from, at), nil
}

func (r *Redis) movesArgs(from netip.Addr, at time.Time) []any {
	return []any{r.hist, from.String(), micros(at), SessionReach.Microseconds()}
}

// movesLookup is a refusal's lookup of moved chains that rides in the
// round trip of the batch before it (Failover.StartMovesFrom) rather than
// taking one of its own: a watcher catching up holds a refusal every few
// hundred events, and a round trip of its own left Redis idle for as long
// as it took to come back.
type movesLookup struct {
	from  netip.Addr
	at    time.Time
	cmd   *redis.Cmd
	moves []ChainMove
}

// queue adds the lookup to the end of a batch's pipeline: EVAL, not
// EVALSHA, as the pipeline loads the history script only and a Redis
// restarted since would not know this one (hashing its source costs Redis
// a few µs).
func (l *movesLookup) queue(ctx context.Context, r *Redis, q batchQueue) {
	l.cmd = q.do(ctx, append([]any{"EVAL", movesLua, 0}, r.movesArgs(l.from, l.at)...)...)
}

// read takes the lookup's answer once its round trip is back; a failed
// lookup finds no moves, as MovesFrom's caller does with an error.
func (l *movesLookup) read() {
	if res, err := l.cmd.StringSlice(); err == nil {
		l.moves = parseMoves(res, l.from, l.at)
	}
}

// parseMoves reads movesScript's reply.
func parseMoves(res []string, from netip.Addr, at time.Time) []ChainMove {
	var out []ChainMove
	for i := 0; i+1 < len(res); i += 2 {
		u, ok := parseMember(res[i])
		parts := strings.Split(res[i+1], "|")
		if !ok || len(parts) != 3 {
			continue
		}
		to, err1 := netip.ParseAddr(parts[0])
		toTime, err2 := fromMicros(parts[1])
		fromTime, err3 := fromMicros(parts[2])
		if err1 != nil || err2 != nil || err3 != nil || !toTime.Before(at) || !within(toTime, at, SessionReach) {
			continue
		}
		out = append(out, ChainMove{User: u, From: from, FromTime: fromTime, To: to, ToTime: toTime})
	}
	return out
}

// parseMember reads member's "len:idp:dn".
func parseMember(m string) (UserID, bool) {
	n, rest, ok := strings.Cut(m, ":")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || len(rest) < l+1 || rest[l] != ':' {
		return UserID{}, false
	}
	return UserID{IdP: rest[:l], DN: rest[l+1:]}, true
}

// MovesFrom asks the shared index while Redis answers; the local store
// keeps none (the Correlator's own index covers this watcher).
func (f *Failover) MovesFrom(ctx context.Context, from netip.Addr, at time.Time) ([]ChainMove, error) {
	f.waitBatches() // the moves the refreshes before it taught
	return f.movesFrom(ctx, from, at), nil
}

// StartMovesFrom is MovesFrom in turn with the batches on their way: asked
// once the batches started before it are applied, and before those started
// after it, so a watcher catching up does not wait for Redis at each
// refusal. wait returns the moves.
func (f *Failover) StartMovesFrom(ctx context.Context, from netip.Addr, at time.Time) (wait func() []ChainMove) {
	if l, done := f.ride(from, at); l != nil {
		return func() []ChainMove {
			done()
			return l.moves
		}
	}
	// Nothing to ride: a batch of its own, with no events, so that it
	// goes down the batches' connection in turn with them rather than
	// waiting for those before it to land.
	l := &movesLookup{from: from, at: at}
	done := f.start(ctx, nil, &riddenBatch{lookups: []*movesLookup{l}}, func(p *PreparedBatch, seq uint64) {
		f.landShared(p, nil, seq)
	})
	return func() []ChainMove {
		done()
		return l.moves
	}
}

// ride adds a lookup to the batch started last, while that batch still
// waits for its turn: the lookup is then asked at the end of the batch's
// round trip, after everything started before it and before anything
// started after it, as its own round trip would be. done waits for that
// batch; nil when it started already.
func (f *Failover) ride(from netip.Addr, at time.Time) (l *movesLookup, done func()) {
	f.riderMu.Lock()
	defer f.riderMu.Unlock()
	b := f.rider
	if b == nil || b.started {
		return nil, nil
	}
	l = &movesLookup{from: from, at: at}
	b.lookups = append(b.lookups, l)
	return l, b.done
}

// riddenBatch is a batch on its way and the lookups riding in its round
// trip.
type riddenBatch struct {
	started bool // its round trip began: nothing more rides
	lookups []*movesLookup
	done    func()
}

// board closes b to riders and returns those aboard.
func (f *Failover) board(b *riddenBatch) []*movesLookup {
	f.riderMu.Lock()
	defer f.riderMu.Unlock()
	b.started = true
	return b.lookups
}

func (f *Failover) movesFrom(ctx context.Context, from netip.Addr, at time.Time) []ChainMove {
	if !f.up.Load() {
		return nil
	}
	moves, err := f.shared.MovesFrom(ctx, from, at)
	if err != nil {
		f.fail(err)
		return nil
	}
	return moves
}

// movesStarter is a movesSource that asks in turn with the batches on
// their way (Failover).
type movesStarter interface {
	StartMovesFrom(ctx context.Context, from netip.Addr, at time.Time) (wait func() []ChainMove)
}

// sharedMoves adds the moves other watchers recorded to those this one saw,
// one per user (this watcher's, which know agents and records, first).
func (c *Correlator) sharedMoves(ctx context.Context, ev *parser.Event, local []ChainMove) ([]ChainMove, error) {
	src, ok := c.store.(movesSource)
	if !ok {
		return local, nil
	}
	shared, err := src.MovesFrom(ctx, ev.IP, ev.Time)
	if err != nil {
		return local, err
	}
	return mergeMoves(ev, local, shared), nil
}

func mergeMoves(ev *parser.Event, local, shared []ChainMove) []ChainMove {
	for _, m := range shared {
		if m.User.IdP != ev.IdP || slices.ContainsFunc(local, func(x ChainMove) bool { return x.User == m.User }) {
			continue
		}
		local = append(local, m)
	}
	return local
}

// heldRefusal is a refused refresh waiting, in turn with the batches on
// their way, for the moves Redis knows.
type heldRefusal struct {
	ev    parser.Event
	local []ChainMove // this watcher's moves as they stood at the refusal
	moves func() []ChainMove
	judge Judge
}

// holdRefusal sends the observations waiting, then asks Redis for the
// refusal's moves in turn with them; the refusal is judged when it lands.
func (c *Correlator) holdRefusal(ctx context.Context, s movesStarter, ev *parser.Event, judge Judge) error {
	if len(c.deferred) > 0 {
		if err := c.send(ctx); err != nil {
			return err
		}
	}
	r := &heldRefusal{ev: *ev, local: c.localMoves(ev), judge: judge}
	r.moves = s.StartMovesFrom(ctx, ev.IP, ev.Time)
	c.flying = append(c.flying, flyingBatch{refusal: r})
	for len(c.flying) > maxFlying {
		if err := c.land(ctx); err != nil {
			return err
		}
	}
	return nil
}

// landRefusal judges a held refusal with the moves found.
func (c *Correlator) landRefusal(ctx context.Context, r *heldRefusal) error {
	if t := takeoverFrom(&r.ev, mergeMoves(&r.ev, r.local, r.moves())); t != nil {
		return r.judge(ctx, c.takeoverContext(&r.ev, t))
	}
	return r.judge(ctx, &Context{Event: &r.ev})
}
