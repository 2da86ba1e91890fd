package correlate

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/parser"
)

// Redis is the Store several watchers share, one per OpenUnison replica, so
// that a refresh logged by one replica and its replay logged by another
// meet. Its semantics are the Memory store's (one test suite runs against
// both), the session table included: a direct-mapped table of the same
// slots in both, in which a new session takes the slot of the one its id
// hashes with. An event whose facts are asked,
// a reuse, or one logged nowhere known is applied by one Lua script
// (redis.lua), facts and learning together, so two watchers never
// interleave inside it; a refresh or login that only teaches is written
// with plain commands (redis_plain.go). Keys,
// under a prefix (default "graceguard:"), the history under "h2:" after it:
//
//	h2:users           sorted set: user → last seen (µs); the oldest are evicted past MaxUsers
//	h2:first           sorted set: user → first seen (µs)
//	h2:st              hash: the session table, slot → "<session hash> <address> ...", the
//	                   first few addresses in order of first sight; a slot is the session
//	                   id's hash modulo MaxSessions rounded up to a power of two (sessionSlots)
//	h2:u:<user>:m      hash: seq, which names events logged nowhere known
//	h2:u:<user>:r      sorted set: refreshes "name|ip|session" by time (name: offset.digest@source)
//	h2:u:<user>:i      sorted set: addresses by last time seen
//	h2:u:<user>:x      sorted set: grace reuses by time
//	h2:u:<user>:y      sorted set: the reuses from another client than their rotating refresh
//	h2:u:<user>:c, :a  sorted sets: countries and networks by last time seen
//	h2:u:<user>:fi, :fc, :fa  sorted sets: the members of :i, :c and :a by first time seen,
//	                   which a reuse's facts leave out when after it (another watcher wrote
//	                   them first); kept with those members, trimmed and dropped with them.
//	                   A member without one (written by a version before it) reads as seen
//	                   before any event
//	h2:ra              sorted set: "address|user" → the user's latest refresh from the address,
//	                   the most recent maxMovesIndexed, for the moves (takeover_redis.go)
//	h2:rx              sorted set: ra's pairs, every score 0, read by address (ZRANGEBYLEX)
//	h2:cut:<owner>     hash: user → what a plain group's writes must lose, left by the group's
//	                   gate (redis.lua) for the owner's next script call, which deletes it;
//	                   it expires after a minute, so a dead round trip's cut never fires late
//	h2:drops           how many users the script ever dropped from users (evicted, expired)
//	h2:gate:<owner>    drops as the owner's last gate left it (expires after a minute): the
//	                   call after the gate's group reads users again only when drops changed
//	sent:<claim key>   alerts claimed with SET NX by the watcher sending them
//	h2:born            the history's birth mark (the watcher's clock when a script call or Check
//	                   found none): a watcher that sees it change knows the history was lost
//	probe:<owner>      written by Check, to prove Redis takes writes
//
// The history is bounded by its caps, as the memory store's is, not by
// Redis expirations: a user's keys live while the user is in users (at most
// MaxUsers; one unseen for longer than the address TTL of log time is
// dropped), the session table has its slots, and each key holds at most its
// cap; dropping a user deletes its keys. Expirations would have to be
// renewed at every write, a command per key, as many as the writes
// themselves.
//
// "h2:" is the second layout: the first (keys right under the prefix, meta
// keeping the latest refresh) is not read, and its per-user keys expire;
// see README, Shared state in Redis, for watchers of both versions. Within
// it, sessions were a sorted set each (h2:s:<hash>) and an index of them
// (h2:sessions) until the session table: a watcher drains those
// (dropOldSessions in redis.lua), and watchers of the two versions do not
// share sessions' addresses.
//
// The script names keys of other users when it evicts, so Redis Cluster is
// not supported: use one primary (with replicas or Sentinel for failover).
//
// Observations that need no facts (most refreshes: no rule judges them) are
// sent in batches of up to 256, as plain commands (redis_plain.go). They
// go before any Apply that needs facts and on Flush, which the watcher calls
// every tick and before it stops, so another watcher waits at most a tick
// for them. A watcher catching up sends whole batches (ApplyBatch,
// StartBatch of Failover), in log order, down one connection of their own
// (redis_duplex.go), each written before the replies of the one before
// are read: the events that are not learn-only
// up to 512 to a script call, each run of learn-only refreshes and logins
// as plain commands grouped per key, after a gate (at the end of the script
// call before them) that keeps the users set.
//
// A round trip broken halfway (the connection lost) leaves what it wrote:
// the indexes (users, first) are written before the keys they bound, so no
// key outlives the caps, but a gate's cut may wait in
// h2:cut:<owner> until that owner's next script call, a minute at most
// (it expires then: owner ids outlive restarts, and a cut applied hours
// later would cut what other watchers logged since). Until then a user
// the gate evicted after its events keeps the broken group's writes to its
// keys (at most the group's events) outside the users set; if the cut
// expires first, they stay until the user is seen again, whose history
// then starts with them. One group's worth, once per broken round trip.
type Redis struct {
	client *redis.Client
	duplex *duplex     // the batches' connection (SendPrepared); nil: the pool's, one batch at a time
	wires  chan []byte // buffers batches were written in, for the next ones (maxWires)
	prefix string
	hist   string // the history's keys' prefix
	users  string // hist + "u:", the users' keys' prefix
	owner  string
	limits Limits
	// movesCap is maxMovesIndexed; a field so that a test reaches the cap
	// with a thousand pairs, not sixteen thousand.
	movesCap int
	// now is the clock the birth marks are made by (time.Now); a field so
	// that a test can build one batch twice, byte for byte.
	now func() time.Time
	// sessionMask picks a session's slot in the session table from its
	// hash (sessionSlots).
	sessionMask uint64

	mu      sync.Mutex
	pending []Observation
	unsent  []Observation // batches that failed, for TakeUnsent
	stats   redisStats

	// born is the history's birth mark (h2:born) as last seen, "" before
	// the first; lost, when set, is told each time it changes (Failover
	// logs it). Set before the store is used.
	bornMu sync.Mutex
	born   string
	lost   func(was, now string)
}

type redisStats struct {
	applied                                                                               atomic.Int64
	usersEvicted, usersExpired, ipsEvicted, ipsExpired, sessionsEvicted, sessionIPsCapped atomic.Int64
	movesEvicted, historyLost                                                             atomic.Int64
}

//go:embed redis.lua
var applyFile string

// applySource is redis.lua as sent: every round trip loads it (SCRIPT
// LOAD, which hashes it) and the comments are most of it, so they go; each
// line stays, empty, and Redis's errors name redis.lua's line. Made at
// first use, with the scripts below, not at every start of every command
// (a scan never talks to Redis).
var applySource = sync.OnceValue(func() string { return stripLuaComments(applyFile) })

var applyScript = sync.OnceValue(func() *redis.Script { return redis.NewScript(applySource()) })

// stripLuaComments empties the lines that are comments and drops every
// line's indentation. redis.lua has no long strings or comments ([[ ]]),
// and no "--" inside a string.
func stripLuaComments(src string) string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		l = strings.TrimLeft(l, " \t")
		if strings.HasPrefix(l, "--") {
			l = ""
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// maxPipelined bounds the learn-only observations waiting to be sent.
const maxPipelined = 256

// RedisOptions configure a Redis store.
type RedisOptions struct {
	Prefix string // key prefix; default "graceguard:"
	// Owner names this watcher in the alert ids it claims, so that after a
	// crash between claiming and sending it can still send its own. Empty
	// is "graceguard".
	Owner  string
	Limits Limits
}

// NewRedis returns a store over client. It does not connect: Check does.
func NewRedis(client *redis.Client, opt RedisOptions) *Redis {
	if opt.Prefix == "" {
		opt.Prefix = "graceguard:"
	}
	if opt.Owner == "" {
		opt.Owner = "graceguard"
	}
	r := &Redis{client: client, duplex: newDuplex(client.Options()), wires: make(chan []byte, maxWires),
		prefix: opt.Prefix, hist: opt.Prefix + "h2:", users: opt.Prefix + "h2:u:", owner: opt.Owner, limits: opt.Limits.withDefaults(), movesCap: maxMovesIndexed, now: time.Now}
	r.sessionMask = uint64(sessionSlots(r.limits.MaxSessions) - 1)
	return r
}

// Check makes sure Redis can do what the store needs, not only answer: a
// server out of memory, a read-only replica after a failover, an ACL that
// forbids scripts or a command they call, or a Redis older than 7 (SET
// NX GET) all answer PING; and the batches' connection is set up, which
// authenticates apart from go-redis's.
func (r *Redis) Check(ctx context.Context) error {
	if err := applyScript().Load(ctx, r.client).Err(); err != nil {
		return fmt.Errorf("redis %s: load the history script: %w", r.client.Options().Addr, err)
	}
	if _, err := r.setNXGet(ctx, r.prefix+"probe:"+r.owner, "1", "PX", 60_000); err != nil {
		return fmt.Errorf("redis %s: write (SET NX GET, Redis 7 or later): %w", r.client.Options().Addr, err)
	}
	// A Redis that came back from an outage empty (restarted without
	// persistence, or another server) lost the history: the mark tells.
	mark := strconv.FormatInt(r.now().UnixMicro(), 10)
	was, err := r.setNXGet(ctx, r.hist+"born", mark)
	if err != nil {
		return fmt.Errorf("redis %s: read the history's birth mark: %w", r.client.Options().Addr, err)
	}
	if was != "" {
		mark = was
	}
	r.noteBorn(mark)
	// Last: acl_check_cmd is Redis 7's, and a Redis 6 is told so above.
	if err := r.checkACL(ctx); err != nil {
		return fmt.Errorf("redis %s: check the ACL allows the scripts' commands: %w", r.client.Options().Addr, err)
	}
	if err := r.duplex.check(ctx); err != nil {
		return err // named by dialDuplex
	}
	return nil
}

// setNXGet sets key to value unless it is set (SET NX GET) and returns what
// it held ("" when it was not set). The keys it is used for hold nothing
// but a mark: one of another type (set by hand) would keep the store down
// for good, so it is replaced.
func (r *Redis) setNXGet(ctx context.Context, key, value string, more ...any) (string, error) {
	args := append([]any{"SET", key, value, "NX", "GET"}, more...)
	was, err := r.client.Do(ctx, args...).Text()
	if isWrongType(err) {
		if err = r.client.Del(ctx, key).Err(); err == nil {
			was, err = r.client.Do(ctx, args...).Text()
		}
	}
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return was, err
}

// noteBorn takes the history's birth mark from a reply or a Check, and
// counts (and tells) a change: the history this store shared is gone.
func (r *Redis) noteBorn(mark string) {
	if mark == "" {
		return
	}
	r.bornMu.Lock()
	was := r.born
	r.born = mark
	r.bornMu.Unlock()
	if was == "" || was == mark {
		return
	}
	r.stats.historyLost.Add(1)
	if r.lost != nil {
		r.lost(was, mark)
	}
}

// HistoryLost counts the times this store found the shared history gone
// since it started: its birth mark changed (Redis flushed, restarted
// without persistence, or replaced by another server). A loss before the
// store's first call is not seen.
func (r *Redis) HistoryLost() int64 { return r.stats.historyLost.Load() }

// Close closes the client and the batches' connection.
func (r *Redis) Close() error {
	if r.duplex != nil {
		r.duplex.close()
	}
	return r.client.Close()
}

// Apply implements Store.
func (r *Redis) Apply(ctx context.Context, obs Observation) (Facts, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !obs.NeedFacts {
		r.pending = append(r.pending, obs)
		if len(r.pending) < maxPipelined {
			return Facts{}, nil
		}
		return Facts{}, r.flush(ctx)
	}
	if err := r.flush(ctx); err != nil {
		return Facts{}, err
	}
	res, err := r.eval(ctx, r.client, obs).Slice()
	if err != nil {
		return Facts{}, fmt.Errorf("redis %s: apply an event to the history: %w", r.client.Options().Addr, err)
	}
	r.stats.applied.Add(1)
	f, err := r.decode(res)
	if err != nil {
		return Facts{}, err
	}
	f.IPSeen = slices.Contains(f.UserIPs, obs.IP)
	f.SessionIP = slices.Contains(f.SessionIPs, obs.IP)
	return f, nil
}

// ApplyBatch applies observations in order, as many calls of Apply would,
// in one round trip (after the learn-only ones batched before them), and
// fills facts[i] for each observation that needs facts. A watcher catching
// up on a backlog judges a batch of events at a time this way, rather than
// waiting for Redis once per event. On an error nothing is known of which
// observations Redis applied.
func (r *Redis) ApplyBatch(ctx context.Context, batch []Observation, facts []Facts) error {
	return r.ApplyPrepared(ctx, r.Prepare(ctx, batch), facts)
}

// PreparedBatch is a batch's commands, built and not yet sent.
type PreparedBatch struct {
	batch   []Observation
	q       batchQueue
	pipe    redis.Pipeliner // the pool's round trip; nil on the duplex connection
	wire    *wireQueue      // the duplex connection's; nil on the pool
	parts   []sentPart
	lookups []*movesLookup // refusals' lookups of moves riding at its end
	flight  *flight        // its commands on their way (SendPrepared)
}

// Prepare builds a batch's commands without sending them, so that a
// watcher catching up builds the next batch while Redis applies the one
// before (Failover.StartBatch): the building costs the watcher's side about
// half of what applying the batch costs Redis. It reads nothing the store
// changes, so it may run beside any other method.
func (r *Redis) Prepare(ctx context.Context, batch []Observation) *PreparedBatch {
	return r.prepare(ctx, batch, r.duplex == nil)
}

// prepare is Prepare for the pool's round trip (pooled), or the duplex
// connection's.
func (r *Redis) prepare(ctx context.Context, batch []Observation, pooled bool) *PreparedBatch {
	p := &PreparedBatch{batch: batch}
	if pooled {
		p.pipe = r.client.Pipeline()
		p.q = pipeQueue{p.pipe}
	} else {
		p.wire = &wireQueue{}
		select {
		case b := <-r.wires:
			p.wire.buf = b[:0]
		default:
		}
		p.q = p.wire
	}
	p.parts = r.queueBatch(ctx, p.q, batch)
	return p
}

// ApplyPrepared is ApplyBatch of a prepared batch.
func (r *Redis) ApplyPrepared(ctx context.Context, p *PreparedBatch, facts []Facts) error {
	r.SendPrepared(ctx, p)
	return r.LandPrepared(p, facts)
}

// SendPrepared sends a prepared batch, with the lookups riding it, after
// the batches sent before it and without waiting for their replies (on the
// duplex connection): Redis applies it once it applied them, while the
// caller reads their replies. LandPrepared waits for its replies. The
// learn-only observations Apply batched go first, in a round trip of their
// own on the pool: the caller must have landed every batch sent before
// those observations were applied (Failover waits for its batches at each
// Apply).
func (r *Redis) SendPrepared(ctx context.Context, p *PreparedBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flush(ctx); err != nil {
		p.flight = &flight{done: make(chan struct{})}
		p.flight.finish(err)
		return
	}
	for _, l := range p.lookups {
		l.queue(ctx, r, p.q)
	}
	if w := p.wire; w != nil {
		if w.err != nil {
			p.flight = &flight{done: make(chan struct{})}
			p.flight.finish(w.err)
			return
		}
		p.flight = r.duplex.send(ctx, w.buf, w.sinks)
		r.recycle(w) // written (or failed): the connection holds no reference to it
		return
	}
	p.flight = &flight{done: make(chan struct{})}
	_, err := p.pipe.Exec(ctx)
	p.flight.finish(err)
}

// maxWires bounds the batches' buffers kept for the next batches: a few
// more than the batches on their way and being built at once (a watcher
// catching up has up to 4 on their way), each at most maxWire bytes, so a
// rare huge batch does not stay. A sync.Pool loses them at every
// collection, several times a catch-up: ~60 MB more allocated a 64 MB
// catch-up.
const (
	maxWires = 8
	maxWire  = 4 << 20
)

// recycle keeps a written batch's buffer for the next batch.
func (r *Redis) recycle(w *wireQueue) {
	if cap(w.buf) <= maxWire {
		select {
		case r.wires <- w.buf:
		default:
		}
	}
	w.buf = nil
}

// LandPrepared waits for the replies of a batch SendPrepared sent, and
// fills facts[i] for each observation that needs facts. On an error
// nothing is known of which observations Redis applied.
func (r *Redis) LandPrepared(p *PreparedBatch, facts []Facts) error {
	batch := p.batch
	if err := p.flight.wait(); err != nil {
		return fmt.Errorf("redis %s: apply %d events to the history: %w", r.client.Options().Addr, len(batch), err)
	}
	r.stats.applied.Add(int64(len(batch)))
	parts := p.parts
	for _, l := range p.lookups {
		l.read()
	}
	// The script's replies are in the order of the events it applied,
	// which are the batch's events that are not plain-learnable.
	i, applied := 0, 0
	next := func() int { // the index in batch of the next event the script applied
		for i < len(batch) && plainLearnable(batch[i]) {
			i++
		}
		i++
		return i - 1
	}
	for _, p := range parts {
		if p.script == nil {
			p.replies.count(r)
			applied += p.plain
			continue
		}
		res, err := p.script.Slice()
		if err != nil || len(res) != scriptReplyLen {
			if err == nil {
				err = fmt.Errorf("%w: %d values, want %d", errReply, len(res), scriptReplyLen)
			}
			return fmt.Errorf("redis %s: apply events to the history: %w", r.client.Options().Addr, err)
		}
		r.tally(res)
		out, _ := res[0].([]any)
		for _, v := range out {
			j := next()
			applied++
			if j >= len(batch) || !batch[j].NeedFacts {
				continue
			}
			f, err := decodeFacts(v)
			if err != nil {
				return err
			}
			f.IPSeen = slices.Contains(f.UserIPs, batch[j].IP)
			f.SessionIP = slices.Contains(f.SessionIPs, batch[j].IP)
			facts[j] = f
		}
	}
	if applied != len(batch) {
		return fmt.Errorf("redis %s: %w: %d results for %d events", r.client.Options().Addr, errReply, applied, len(batch))
	}
	return nil
}

// Flush sends the learn-only observations waiting.
func (r *Redis) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flush(ctx)
}

func (r *Redis) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	// A failed batch is not retried here: the failover store learned it
	// locally and writes it back (TakeUnsent) once Redis answers again.
	batch := r.pending
	r.pending = nil
	err := r.sendBatch(ctx, batch)
	if err != nil {
		r.unsent = append(r.unsent, batch...)
	}
	return err
}

// Learn sends observations for Redis to learn, in order, in one round trip;
// whatever they ask, no facts come back. The failover store writes back
// with it what was learned while Redis was away.
func (r *Redis) Learn(ctx context.Context, batch []Observation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.flush(ctx); err != nil {
		return err
	}
	learn := make([]Observation, len(batch))
	for i, o := range batch {
		o.NeedFacts = false
		learn[i] = o
	}
	return r.sendBatch(ctx, learn)
}

// TakeUnsent returns, and forgets, the learn-only observations that were
// batched and not sent (their batch failed, or waits still), oldest first.
func (r *Redis) TakeUnsent() []Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append(r.unsent, r.pending...)
	r.unsent, r.pending = nil, nil
	return out
}

// scriptBatch is how many observations go in one script call: enough to
// spread the call's own cost (and share its reads of the session table),
// few enough that Redis is never busy with one call for long (a few ms).
const scriptBatch = 512

// sendBatch sends learn-only observations in one pipeline.
func (r *Redis) sendBatch(ctx context.Context, batch []Observation) error {
	parts, err := r.send(ctx, batch)
	if err != nil {
		return fmt.Errorf("redis %s: send %d learned events: %w", r.client.Options().Addr, len(batch), err)
	}
	for _, p := range parts {
		if p.script == nil {
			p.replies.count(r)
			continue
		}
		res, _ := p.script.Slice()
		r.tally(res)
	}
	return nil
}

// sentPart is a part of a round trip: a script call, or a group of
// observations learned with plain commands.
type sentPart struct {
	script  *redis.Cmd
	plain   int // observations learned plainly
	replies plainReplies
}

// send sends observations in one pipeline and returns its parts, answered.
func (r *Redis) send(ctx context.Context, batch []Observation) ([]sentPart, error) {
	return r.exec(ctx, r.prepare(ctx, batch, true))
}

// exec sends a batch prepared for the pool and returns its parts, answered. The
// pipeline loads the script first (queueBatch), so its EvalSha calls find
// it even in a Redis restarted since the last round trip.
func (r *Redis) exec(ctx context.Context, p *PreparedBatch) ([]sentPart, error) {
	if _, err := p.pipe.Exec(ctx); err != nil {
		return p.parts, err
	}
	r.stats.applied.Add(int64(len(p.batch)))
	return p.parts, nil
}

// queueBatch queues a batch in pipe, as one pipeline, in the batch's order:
// each run of the events that are not learn-only in script calls, the last
// of which ends with the gate of the run of learn-only refreshes and logins
// that follows (it keeps the users set as the memory store would through
// that run's events, see redis.lua), then that run as plain commands
// grouped per key, and, when such a run came last, a script call that
// applies what its gate left to cut and keeps the caps. It is not a
// MULTI/EXEC: that keeps Redis from running the first commands while the
// rest arrive and costs it a copy of each (measured: 10% more of Redis's
// CPU, a third less MB/s catching up), and no update needs it: another
// watcher's script that runs between two of these commands sees some of
// this round trip's plain writes (a refresh before its address, say), as
// it would a moment later, never half of a script's update.
//
// A group is sent before the script events logged after it, never after:
// the script's trims judge users by their last-seen times, which must hold
// every event logged before. The replies are in the batch's order for
// ApplyBatch, which counts on the script's calls' order only.
func (r *Redis) queueBatch(ctx context.Context, q batchQueue, batch []Observation) []sentPart {
	var parts []sentPart
	// The script is loaded first in every batch: a Redis restarted or
	// its scripts flushed since the last one would otherwise fail the
	// script calls (NOSCRIPT) after the plain writes of the round trip
	// were applied. Loading a script Redis has costs it a hash of the
	// source, a few µs a batch.
	if len(batch) > 0 { // a refusal's lookup alone (StartMovesFrom) calls no history script
		q.do(ctx, "SCRIPT", "LOAD", applySource())
	}
	g, names := newPlainGroup(r.sessionMask), newBatchNames()
	var run []Observation
	// send sends the script events waiting and, in the same call after
	// them, the group's gate: the group's events were logged after them.
	// prev is the group sent last, whose users and moves go to the call
	// that follows it (see redis.lua).
	// spare is a group sent whose call after it was built: the next group
	// reuses it.
	var prev, spare *plainGroup
	send := func(gate *plainGroup) {
		if len(run) == 0 && gate == nil {
			return
		}
		parts = append(parts, sentPart{script: q.evalSha(ctx, r.callArgs(run, gate, prev))})
		if prev != nil {
			spare = prev
		}
		run, prev = nil, nil
	}
	sendGroup := func() {
		if g.empty() {
			return
		}
		send(g)
		parts = append(parts, sentPart{plain: g.n, replies: g.queue(ctx, r, q)})
		next := spare
		if next == nil {
			next = newPlainGroup(r.sessionMask)
		} else {
			next.reset()
		}
		prev, g, spare = g, next, nil
	}
	var latest int64
	for _, obs := range batch {
		if plainLearnable(obs) {
			g.add(obs, r.limits.IPTTL.Microseconds(), names)
			latest = max(latest, g.latest)
			continue
		}
		sendGroup()
		if len(run) == scriptBatch {
			send(nil)
		}
		run = append(run, obs)
	}
	if g.empty() {
		send(nil)
	}
	sendGroup()
	if prev != nil {
		parts = append(parts, sentPart{script: q.evalSha(ctx, r.args(nil, strconv.FormatInt(latest, 10), "", nil, prev))})
	}
	return parts
}

// Applied counts the observations Redis applied for this process, for
// figures per event (bench/redis-catchup.sh).
func (r *Redis) Applied() int64 { return r.stats.applied.Load() }

func (r *Redis) eval(ctx context.Context, c redis.Scripter, obs Observation) *redis.Cmd {
	return applyScript().Run(ctx, c, nil, r.args([]Observation{obs}, "", "", nil, nil)...)
}

// member is a user's name in the users set and in its keys: the IdP's length
// first, so no DN can make two users' names collide.
func member(u UserID) string { return strconv.Itoa(len(u.IdP)) + ":" + u.IdP + ":" + u.DN }

// args are the script's arguments: the settings, then each observation;
// clock is the log time (µs) to keep the caps at when batch is empty,
// touches a gate's (callArgs), gate the group whose sessions the call
// learns and after the plain group the call follows (nil for none). The
// birth mark the script makes when it finds none is the clock now, as
// Check's.
func (r *Redis) args(batch []Observation, clock, touches string, gate, after *plainGroup) []any {
	l := r.limits
	args := make([]any, 0, 21+11*len(batch))
	args = append(args, r.hist, l.RefreshTTL.Microseconds(), l.IPTTL.Microseconds(),
		l.MaxUsers, l.MaxIPsPerUser, l.MaxRefreshes, l.MaxReuses, l.MaxPlaces, sessionIPs,
		r.movesCap, clock, len(batch), r.hist+"cut:"+r.owner, touches, r.hist+"gate:"+r.owner,
		r.now().UnixMicro())
	var known groupSessions
	if gate != nil {
		known = groupSessions{sessions: gate.known, mask: gate.sessionMask}
	}
	entries := known.entries()
	args = append(args, entries)
	args = after.appendAfter(args)
	if entries > 0 {
		args = append(args, known)
	}
	for _, obs := range batch {
		ip := ""
		if obs.IP.IsValid() {
			ip = obs.IP.String()
		}
		sref := ""
		if hasSession(obs.Session) {
			h := fnv1a(obs.Session)
			sref = strconv.FormatUint(h&r.sessionMask, 10) + ":" + strconv.FormatUint(h, 10)
		}
		need := "0"
		if obs.NeedFacts {
			need = "1"
		}
		args = append(args, int(obs.Action), micros(obs.Time), ip, sref, need, obs.Country,
			strconv.FormatUint(uint64(obs.ASN), 10), member(obs.User), obs.Session, eventName(obs), clientSuffix(obs))
	}
	return args
}

// eventNamer is a store that names the events it learns by where they were
// logged (eventName), and so needs their Digest.
type eventNamer interface{ namesEvents() }

func (r *Redis) namesEvents()    {}
func (f *Failover) namesEvents() {}

// castagnoli is made at its first use: only Redis state needs it, and
// making it costs every process's start 0.1 ms.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// recordDigest is an Observation's Digest of a record's text: CRC-32C,
// which the CPU computes at memory speed; never 0, which means unknown.
// With the offset and the source it names a record: two records differing
// only in their digest must share a source and an offset.
func recordDigest(raw string) uint64 {
	// Read in place: []byte(raw) copied every record (crc32's assembly
	// lets its argument escape), ~5 MB a 64 MB catch-up; Checksum only reads.
	return 1<<32 | uint64(crc32.Checksum(unsafe.Slice(unsafe.StringData(raw), len(raw)), castagnoli()))
}

// eventName names an event in the history by where it was logged: the
// offset first, zero-padded, so events logged in the same millisecond sort
// in log order, then the digest of the record, so a record logged at an
// older one's offset after a copytruncate is another event, then the
// source. "" when the event's place is unknown.
func eventName(obs Observation) string {
	if obs.Source == "" {
		return ""
	}
	return string(appendEventName(make([]byte, 0, 34+len(obs.Source)), obs))
}

// appendEventName appends eventName(obs) to b, for an event with a source.
func appendEventName(b []byte, obs Observation) []byte {
	if obs.Source == "" {
		return b
	}
	src := obs.Source
	if strings.Contains(src, "|") {
		src = strings.ReplaceAll(src, "|", "/")
	}
	if obs.Offset < 0 { // no file gives one; named as before
		if obs.Digest == 0 {
			return fmt.Appendf(b, "%016x@%s", obs.Offset, src)
		}
		return fmt.Appendf(b, "%016x.%016x@%s", obs.Offset, obs.Digest, src)
	}
	// What Sprintf("%016x.%016x@%s") writes, at a tenth of its cost: a
	// watcher catching up names every event.
	b = appendHex16(b, uint64(obs.Offset))
	if obs.Digest != 0 {
		b = appendHex16(append(b, '.'), obs.Digest)
	}
	return append(append(b, '@'), src...)
}

func appendHex16(b []byte, x uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, "0123456789abcdef"[x>>uint(s)&0xf])
	}
	return b
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func fromMicros(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(n).UTC(), nil
}

var errReply = errors.New("unexpected reply from the history script")

// scriptReplyLen is the length of the script's reply: {facts, evictions,
// the history's birth mark}.
const scriptReplyLen = 3

// decode reads the script's reply.
func (r *Redis) decode(res []any) (Facts, error) {
	if len(res) != scriptReplyLen {
		return Facts{}, fmt.Errorf("%w: %d values, want %d", errReply, len(res), scriptReplyLen)
	}
	r.tally(res)
	out, _ := res[0].([]any)
	if len(out) != 1 {
		return Facts{}, fmt.Errorf("%w: %v, want the facts of one event", errReply, res[0])
	}
	return decodeFacts(out[0])
}

// decodeFacts reads one observation's facts in the script's reply.
func decodeFacts(v any) (Facts, error) {
	raw, ok := v.([]any)
	if !ok || len(raw) != 10 {
		return Facts{}, fmt.Errorf("%w: facts %v", errReply, v)
	}
	var f Facts
	prev, _ := raw[0].(string)
	if prev != "" {
		p, err := decodeRefresh(prev, raw[1])
		if err != nil {
			return Facts{}, err
		}
		f.Prev = &p
	}
	if first, _ := raw[2].(string); first != "" {
		t, err := fromMicros(first)
		if err != nil {
			return Facts{}, fmt.Errorf("%w: first seen %q", errReply, first)
		}
		f.FirstSeen = t
	}
	r10, _ := raw[3].(int64)
	r1h, _ := raw[4].(int64)
	f.Reuses10m, f.Reuses1h = int(r10), int(r1h)
	f1h, _ := raw[9].(int64)
	f.ForeignReuses1h = int(f1h)
	f.UserIPs = addrList(raw[5])
	f.SessionIPs = addrList(raw[8])
	f.Countries = strs(raw[6])
	for _, s := range strs(raw[7]) {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			f.ASNs = append(f.ASNs, uint(n))
		}
	}
	return f, nil
}

// clientSuffix is what a refresh's member adds when attribution found its
// client: "|attribution|peer|agent", the agent last as it may hold a '|'. Empty
// otherwise, so members keep the layout older versions wrote.
func clientSuffix(obs Observation) string {
	if obs.Attribution == parser.AttrNone && obs.Agent == "" {
		return ""
	}
	return string(appendClientSuffix(nil, obs))
}

// appendClientSuffix appends clientSuffix(obs) to b.
func appendClientSuffix(b []byte, obs Observation) []byte {
	if obs.Attribution == parser.AttrNone && obs.Agent == "" {
		return b
	}
	b = append(append(append(b, '|'), obs.Attribution.String()...), '|')
	if obs.Peer.IsValid() {
		b = obs.Peer.AppendTo(b)
	}
	return append(append(b, '|'), obs.Agent...)
}

// decodeRefresh reads a refresh's "name|ip|session[|attribution|peer|agent]"
// member and its score.
func decodeRefresh(m string, score any) (RefreshFact, error) {
	parts := strings.SplitN(m, "|", 6)
	s, _ := score.(string)
	t, err := fromMicros(s)
	if (len(parts) != 3 && len(parts) != 6) || err != nil {
		return RefreshFact{}, fmt.Errorf("%w: refresh %q scored %v", errReply, m, score)
	}
	ip, _ := netip.ParseAddr(parts[1])
	f := RefreshFact{Time: t, IP: ip, Session: parts[2]}
	if len(parts) == 6 {
		_ = f.Attribution.UnmarshalText([]byte(parts[3])) // an unknown name from a newer version is none
		f.Peer, _ = netip.ParseAddr(parts[4])
		f.Agent = parts[5]
	}
	return f, nil
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func addrList(v any) []netip.Addr {
	var out []netip.Addr
	for _, s := range strs(v) {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// tally counts what a script reply says besides the facts: the evictions
// it made and the history's birth mark.
func (r *Redis) tally(res []any) {
	if len(res) != scriptReplyLen {
		return
	}
	mark, _ := res[2].(string)
	r.noteBorn(mark)
	ev, _ := res[1].([]any)
	if len(ev) != 7 {
		return
	}
	n := func(i int) int64 { v, _ := ev[i].(int64); return v }
	s := &r.stats
	s.usersEvicted.Add(n(0))
	s.usersExpired.Add(n(1))
	s.ipsEvicted.Add(n(2))
	s.ipsExpired.Add(n(3))
	s.sessionsEvicted.Add(n(4))
	s.sessionIPsCapped.Add(n(5))
	s.movesEvicted.Add(n(6))
}

// Stats returns the shared history's size and what this process evicted.
func (r *Redis) Stats(ctx context.Context) (MemoryStats, error) {
	s := &r.stats
	st := MemoryStats{
		UsersEvicted: s.usersEvicted.Load(), UsersExpired: s.usersExpired.Load(), IPsEvicted: s.ipsEvicted.Load(),
		IPsExpired: s.ipsExpired.Load(), SessionsEvicted: s.sessionsEvicted.Load(), SessionIPsCapped: s.sessionIPsCapped.Load(),
		MovesIndexEvicted: s.movesEvicted.Load(),
	}
	pipe := r.client.Pipeline()
	users := pipe.ZCard(ctx, r.hist+"users")
	sessions := pipe.HLen(ctx, r.hist+"st")
	if _, err := pipe.Exec(ctx); err != nil {
		return st, fmt.Errorf("redis %s: history size: %w", r.client.Options().Addr, err)
	}
	st.Users, st.Sessions = int(users.Val()), int(sessions.Val())
	return st, nil
}

// Claim marks an alert id as sent by this owner, for ttl; false when
// another watcher claimed it first. SET NX decides; its GET tells an id this
// owner claimed before a crash, whose alert may never have left, from
// another watcher's.
func (r *Redis) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	prev, err := r.client.Do(ctx, "SET", r.prefix+"sent:"+id, r.owner, "NX", "GET", "PX", ttl.Milliseconds()).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("redis %s: claim alert: %w", r.client.Options().Addr, err)
	}
	return prev == r.owner, nil
}

// unclaimScript deletes a claim only if this owner holds it: after an
// outage another watcher may have claimed the id since.
var unclaimScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
})

// Unclaim releases an id this owner claimed and could not deliver, so a
// later read can send it.
func (r *Redis) Unclaim(ctx context.Context, id string) error {
	if err := unclaimScript().Run(ctx, r.client, []string{r.prefix + "sent:" + id}, r.owner).Err(); err != nil {
		return fmt.Errorf("redis %s: release alert claim: %w", r.client.Options().Addr, err)
	}
	return nil
}
