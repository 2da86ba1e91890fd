package correlate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// sessionAddrsIn returns the addresses the session table in Redis holds
// for session id, in order of first sight (nil when its slot holds another
// session or none), for a table of MaxSessions slots (0: the default).
func sessionAddrsIn(t *testing.T, c *redis.Client, id string, maxSessions int) []string {
	t.Helper()
	maxSessions = Limits{MaxSessions: maxSessions}.withDefaults().MaxSessions
	h := fnv1a(id)
	slot := h & uint64(sessionSlots(maxSessions)-1)
	v, err := c.HGet(context.Background(), "graceguard:h2:st", strconv.FormatUint(slot, 10)).Result()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	held, addrs, _ := strings.Cut(v, " ")
	if held != strconv.FormatUint(h, 10) {
		return nil
	}
	return strings.Fields(addrs)
}

// commandCalls returns how many times Redis ran command (INFO
// commandstats, lower case).
func commandCalls(t *testing.T, c *redis.Client, command string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+command+":calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// kubectl gets a fresh session id with every request, so nearly every
// event brings a session. Each was a key of its own, an entry in an index
// and, past the cap, a deletion: a third of Redis's work catching up. A
// plain group's sessions new to the watcher are now one HSET of the
// session table, with nothing read and no key made per session.
func TestAGroupsFreshSessionsAreOneWrite(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	f := newTestFailover(t, srv)
	c := redis.NewClient(failoverOptions(t, srv))
	defer c.Close()
	ctx := context.Background()
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	u := UserID{IdP: "k8sIdp", DN: "uid=kubectl,o=T"}
	var batch []Observation
	for i := range 20 {
		batch = append(batch, Observation{User: u, Time: t0.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("192.0.2.7"),
			Action: Login, Source: "a", Offset: int64(i + 1), Session: fmt.Sprintf("f%040d", i)})
	}
	if err := f.ApplyBatch(ctx, batch, make([]Facts, len(batch))); err != nil {
		t.Fatal(err)
	}
	for cmd, want := range map[string]int{"hmget": 0, "hget": 0, "hset": 1, "zremrangebyrank": 0} {
		if n := commandCalls(t, c, cmd); n != want {
			t.Errorf("%d %s for 20 fresh sessions in one group, want %d", n, strings.ToUpper(cmd), want)
		}
	}
	if keys := c.Keys(ctx, "graceguard:h2:s*").Val(); !slices.Equal(keys, []string{"graceguard:h2:st"}) {
		t.Errorf("session keys %v, want the table alone", keys)
	}
	for _, obs := range batch {
		if got := sessionAddrsIn(t, c, obs.Session, 0); !slices.Equal(got, []string{"192.0.2.7"}) {
			t.Fatalf("session %s holds %v in Redis, want its address", obs.Session, got)
		}
	}
}

// Two watchers that see one session (a browser's, its requests spread
// over two OpenUnison replicas). A sight the watcher's local store knows
// the session for is merged into what Redis holds, so b's facts find a's
// addresses. A sight new to the watcher is written as the watcher knows
// the session, with nothing read: it takes the slot, as it nearly always
// takes another session's (kubectl's), and the other watcher's addresses
// are gone from Redis until it sees the session again; past the cap the
// later addresses are counted, as the memory store counts them.
func TestWatchersShareASessionsAddresses(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := twoFailovers(t, srv)
	c := redis.NewClient(failoverOptions(t, srv))
	defer c.Close()
	ctx := context.Background()
	u := UserID{IdP: "k8sIdp", DN: "uid=browser,o=T"}
	const session = "f00000000000000000000000000000000000000aa"
	offset := int64(0)
	login := func(f *Failover, ip string, need bool) Facts {
		t.Helper()
		offset++
		obs := []Observation{{User: u, Time: t0.Add(time.Duration(offset) * time.Minute), IP: netip.MustParseAddr(ip), Action: Login,
			Source: "x", Offset: offset, Session: session, NeedFacts: need}}
		facts := make([]Facts, 1)
		if err := f.ApplyBatch(ctx, obs, facts); err != nil {
			t.Fatal(err)
		}
		return facts[0]
	}
	holds := func(want ...string) {
		t.Helper()
		if got := sessionAddrsIn(t, c, session, 0); !slices.Equal(got, want) {
			t.Fatalf("the session holds %v in Redis, want %v", got, want)
		}
	}
	login(a, "198.51.100.1", false) // new to a: written
	login(a, "198.51.100.2", false) // known to a: merged
	holds("198.51.100.1", "198.51.100.2")
	facts := login(b, "203.0.113.9", true) // judged by b: Redis's facts
	if got := fmt.Sprint(facts.SessionIPs); got != "[198.51.100.1 198.51.100.2]" || facts.SessionIP {
		t.Errorf("b's facts: session addresses %s (seen %v), want a's two, b's not seen", got, facts.SessionIP)
	}
	holds("198.51.100.1", "198.51.100.2", "203.0.113.9")

	login(b, "192.0.2.4", false) // known to b now: merged
	login(a, "192.0.2.5", false) // the fifth: over the cap, counted
	holds("198.51.100.1", "198.51.100.2", "203.0.113.9", "192.0.2.4")
	if st, err := a.shared.Stats(ctx); err != nil || st.SessionIPsCapped != 1 {
		t.Errorf("%d session addresses counted over the cap (%v), want 1", st.SessionIPsCapped, err)
	}

	// A third watcher's first sight of the session takes its slot.
	c3 := NewFailover(ctx, NewRedis(redis.NewClient(failoverOptions(t, srv)), RedisOptions{Owner: "c"}), NewMemory(Limits{}), nil)
	t.Cleanup(func() { c3.Close() })
	login(c3, "192.0.2.6", false)
	holds("192.0.2.6")
	login(a, "198.51.100.1", false) // a's next sight merges a's address back
	holds("192.0.2.6", "198.51.100.1")
}

// The session table in Redis is the memory store's: the same slots, a
// session taking its slot from the one there, the same addresses kept.
// With a table of 8 slots and 40 sessions, slots change hands all the
// time, inside a plain group too (a session seen again after another took
// its slot), and the two tables must end alike, slot by slot, with the
// same evictions counted, whether the events come one at a time or in
// batches that mix plain groups and script calls; and through a Failover,
// whose local store tells which sessions are new (written with no read)
// and which known (merged).
func TestRedisSessionTableIsTheMemoryStores(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch    int
		failover bool
	}{{1, false}, {7, false}, {300, false}, {1, true}, {7, true}, {300, true}} {
		t.Run(fmt.Sprintf("batches of %d, failover %v", tc.batch, tc.failover), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := Limits{MaxSessions: 8}
			mem, redisStore := NewMemory(l), newTestRedis(t, l)
			var shared interface {
				ApplyBatch(context.Context, []Observation, []Facts) error
			} = redisStore
			if tc.failover {
				f := NewFailover(ctx, redisStore, NewMemory(l), nil)
				t.Cleanup(func() { f.Close() })
				shared = f
			}
			batch := tc.batch
			r := rand.New(rand.NewPCG(3, uint64(tc.batch)))
			obs := make([]Observation, 600)
			for i := range obs {
				obs[i] = Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", r.IntN(5))},
					Session: fmt.Sprintf("s%d", r.IntN(40)), Time: t0.Add(time.Duration(i) * time.Second),
					IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + r.IntN(6))}), Action: Refresh, NeedFacts: r.IntN(8) == 0,
					Source: "8:1", Offset: int64(i) * 300, Digest: uint64(i) + 1}
			}
			want := make([]Facts, len(obs))
			for i, o := range obs {
				want[i], _ = mem.Apply(ctx, o)
			}
			got := make([]Facts, len(obs))
			for part := 0; part < len(obs); part += batch {
				end := min(part+batch, len(obs))
				if err := shared.ApplyBatch(ctx, obs[part:end], got[part:end]); err != nil {
					t.Fatal(err)
				}
			}
			for i := range obs {
				if obs[i].NeedFacts && fmt.Sprint(got[i].SessionIPs, got[i].SessionIP) != fmt.Sprint(want[i].SessionIPs, want[i].SessionIP) {
					t.Errorf("event %d (%s): redis's session facts %v %v, memory's %v %v", i, obs[i].Session,
						got[i].SessionIPs, got[i].SessionIP, want[i].SessionIPs, want[i].SessionIP)
				}
			}
			table, err := redisStore.client.HGetAll(ctx, "graceguard:h2:st").Result()
			if err != nil {
				t.Fatal(err)
			}
			m := mem.sessions
			for slot := range m.hashes {
				var inMemory string
				if m.hashes[slot] != 0 {
					inMemory = strconv.FormatUint(m.hashes[slot], 10)
					for _, a := range m.addrs(slot) {
						inMemory += " " + a.String()
					}
				}
				if inRedis := table[strconv.Itoa(slot)]; inRedis != inMemory {
					t.Errorf("slot %d: redis %q, memory %q", slot, inRedis, inMemory)
				}
			}
			if len(table) > len(m.hashes) {
				t.Errorf("%d slots in redis, the table has %d", len(table), len(m.hashes))
			}
			ms, rs := statsOf(t, mem), statsOf(t, redisStore)
			if ms.SessionsEvicted == 0 || rs.SessionsEvicted != ms.SessionsEvicted || rs.SessionIPsCapped != ms.SessionIPsCapped || rs.Sessions != ms.Sessions {
				t.Errorf("redis: %d sessions, %d evicted, %d addresses over the cap; memory: %d, %d, %d",
					rs.Sessions, rs.SessionsEvicted, rs.SessionIPsCapped, ms.Sessions, ms.SessionsEvicted, ms.SessionIPsCapped)
			}
		})
	}
}

// The layout before the session table kept a sorted set per session and
// an index of them, with no expirations: an upgraded Redis drains them, a
// thousand at every call that keeps the caps, and leaves alone a key of
// that name of another type (not that layout's).
func TestTheOldSessionKeysAreDrained(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newTestRedis(t, Limits{})
	c := r.client
	const old = 2500
	pipe := c.Pipeline()
	for i := range old {
		h := strconv.FormatUint(fnv1a(fmt.Sprint("old-", i)), 10)
		pipe.ZAdd(ctx, "graceguard:h2:sessions", redis.Z{Score: float64(i), Member: h})
		pipe.ZAdd(ctx, "graceguard:h2:s:"+h, redis.Z{Score: float64(i), Member: "192.0.2.1"})
	}
	pipe.Set(ctx, "graceguard:h2:sdrops", 7, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		// a learn-only refresh ends its round trip with a call that keeps the caps
		o := r3obs("u", time.Duration(i)*time.Second, 1, int64(300*(i+1)), false)
		if err := r.ApplyBatch(ctx, []Observation{o}, make([]Facts, 1)); err != nil {
			t.Fatal(err)
		}
		left, want := len(c.Keys(ctx, "graceguard:h2:s:*").Val()), max(old-1000*(i+1), 0)
		if left != want {
			t.Fatalf("after %d calls %d old session keys left, want %d", i+1, left, want)
		}
	}
	if n := c.Exists(ctx, "graceguard:h2:sessions", "graceguard:h2:sdrops").Val(); n != 0 {
		t.Errorf("%d of the old index and its count left", n)
	}

	if err := c.Set(ctx, "graceguard:h2:sessions", "not ours", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.ApplyBatch(ctx, []Observation{r3obs("u", time.Minute, 1, 5000, false)}, make([]Facts, 1)); err != nil {
		t.Fatalf("a key of another type under the old index's name: %v", err)
	}
	if v := c.Get(ctx, "graceguard:h2:sessions").Val(); v != "not ours" {
		t.Errorf("the string under the old index's name became %q", v)
	}
}

// The memory store counts every sight of an address its session's slot
// has no room for, an address seen again included: a plain group of
// kubectl-like sights of one session from six addresses, each seen twice,
// is four addresses over the cap there, and must be four in Redis too,
// whether the session is new to the watcher (written by the group's HSET)
// or known (merged by its gate), and whether the group goes on the duplex
// connection (a batch) or the pool's (a write-back).
func TestSessionAddressesOverTheCapCountedPerSight(t *testing.T) {
	t.Parallel()
	const session = "f000000000000000000000000000000000000cap"
	for _, tc := range []struct {
		name         string
		failover     bool // the local store tells the session is new
		known, learn bool // seen before the group; sent by Learn
	}{
		{"new to the watcher, batch", true, false, false},
		{"new to the watcher, write-back", true, false, true},
		{"known to the watcher, batch", true, true, false},
		{"known to the watcher, write-back", true, true, true},
		{"redis alone, batch", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mem, r := NewMemory(Limits{}), newTestRedis(t, Limits{})
			local := NewMemory(Limits{})
			u := UserID{IdP: "k8sIdp", DN: "uid=kubectl,o=T"}
			var batches [][]Observation
			at := 0
			sight := func(ip string) Observation {
				at++
				return Observation{User: u, Time: t0.Add(time.Duration(at) * time.Second), IP: netip.MustParseAddr(ip),
					Action: Refresh, Source: "a", Offset: int64(at) * 100, Session: session}
			}
			if tc.known {
				batches = append(batches, []Observation{sight("192.0.2.1")})
			}
			var group []Observation
			for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.5", "192.0.2.6", "192.0.2.1"} {
				group = append(group, sight(ip))
			}
			batches = append(batches, group)
			for _, b := range batches {
				for i := range b {
					if _, err := mem.Apply(ctx, b[i]); err != nil {
						t.Fatal(err)
					}
					if tc.failover {
						local.applyKeyed(&b[i], 0)
					}
				}
				var err error
				if tc.learn {
					err = r.Learn(ctx, b)
				} else {
					err = r.ApplyBatch(ctx, b, make([]Facts, len(b)))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			ms, rs := statsOf(t, mem), statsOf(t, r)
			if ms.SessionIPsCapped != 4 || rs.SessionIPsCapped != ms.SessionIPsCapped {
				t.Errorf("%d session addresses counted over the cap in redis, %d in memory, want 4", rs.SessionIPsCapped, ms.SessionIPsCapped)
			}
			if got := sessionAddrsIn(t, r.client, session, 0); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
				t.Errorf("the session holds %v in redis, want its first four addresses", got)
			}
		})
	}
}
