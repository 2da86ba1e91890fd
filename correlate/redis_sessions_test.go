package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graceguard/graceguard/internal/redistest"
)

// sessionAddrsIn returns the addresses Redis holds for session id, by
// first sight.
func sessionAddrsIn(t *testing.T, c *redis.Client, id string) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*:s:"+strconv.FormatUint(fnv1a(id), 10)).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("the session's key: %v %v", keys, err)
	}
	addrs, err := c.ZRange(context.Background(), keys[0], 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return addrs
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
// event's session is new to the watcher's local store and to Redis: its
// key is written with one address and needs no trim to the cap. A trim
// for each was a fifth of the commands of a catch-up.
func TestFreshSessionsAreNotTrimmed(t *testing.T) {
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
	if n := commandCalls(t, c, "zremrangebyrank"); n != 0 {
		t.Errorf("%d trims for 20 fresh sessions of one address each, want none", n)
	}
	for _, obs := range batch {
		if got := sessionAddrsIn(t, c, obs.Session); !slices.Equal(got, []string{"192.0.2.7"}) {
			t.Fatalf("session %s holds %v in Redis, want its address", obs.Session, got)
		}
	}
}

// A session new to one watcher's local store may have addresses in Redis
// that another watcher wrote. Its write then leaves it over the cap, until
// a write of the session by a watcher that knows it trims it to its
// first addresses again, as every write did before.
func TestSessionOverItsCapIsTrimmedByTheNextWriteOfAKnownSession(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a, b := twoFailovers(t, srv)
	c := redis.NewClient(failoverOptions(t, srv))
	defer c.Close()
	ctx := context.Background()
	u := UserID{IdP: "k8sIdp", DN: "uid=browser,o=T"}
	const session = "f00000000000000000000000000000000000000aa"
	login := func(f *Failover, d time.Duration, ip string, offset int64) {
		t.Helper()
		obs := []Observation{{User: u, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Action: Login, Source: "x", Offset: offset, Session: session}}
		if err := f.ApplyBatch(ctx, obs, make([]Facts, 1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sessionIPs {
		login(a, time.Duration(i+1)*time.Minute, fmt.Sprintf("198.51.100.%d", i+1), int64(i+1))
	}
	// b's first sight of the session, logged before all of a's
	login(b, 0, "203.0.113.9", 10)
	if got := sessionAddrsIn(t, c, session); len(got) != sessionIPs+1 {
		t.Fatalf("after a write new to its watcher the session holds %v, want all %d", got, sessionIPs+1)
	}
	login(b, 10*time.Minute, "203.0.113.9", 11) // b knows the session now
	want := []string{"203.0.113.9", "198.51.100.1", "198.51.100.2", "198.51.100.3"}
	if got := sessionAddrsIn(t, c, session); !slices.Equal(got, want) {
		t.Fatalf("after a write of a known session it holds %v, want its first %d: %v", got, sessionIPs, want)
	}
}
