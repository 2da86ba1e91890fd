package correlate

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A copytruncate keeps the file's identity and starts its offsets at 0
// again, so a new record can be logged at an old record's offset. The
// shared store names what it learns by where it was logged, to learn a
// re-read line once; a new record there must still be a new event, or its
// reuse is taken as one already counted (issue 13).
func TestNewRecordAtAnOldOffsetIsANewEvent(t *testing.T) {
	t.Parallel()
	forEachStore(t, Limits{}, func(t *testing.T, store Store) {
		at := func(d time.Duration, raw string) parser.Event {
			e := ev(parser.KindGraceReuse, d, "192.0.2.66")
			e.SourceID, e.Offset, e.Raw = "8:1234", 0, raw
			return e
		}
		before := at(0, "[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - first")
		after := at(time.Minute, "[2026-11-23 10:01:00,000][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - after the copytruncate")
		rs := reuses(run(t, store, before, after))
		if len(rs) != 2 {
			t.Fatalf("judged %d reuses, want 2", len(rs))
		}
		if got := rs[1].Reuses10m; got != 2 {
			t.Errorf("the reuse logged at the offset of one before the copytruncate counted %d reuses in 10 minutes, want 2", got)
		}
	})
}

// Every key the history script writes expires, no sooner than its TTL:
// the script gives a user's keys their expirations once in a while rather
// than at every write, and a key emptied and written again (the user's
// addresses all past the address TTL) must get one again.
func TestRedisKeysExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := Limits{IPTTL: 2 * time.Hour}
	store := newTestRedis(t, l)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	obs := func(d time.Duration, ip string, a Action, need bool) Observation {
		return Observation{User: u, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Action: a, NeedFacts: need, Session: "s1",
			Country: "NL", ASN: 64500, Attribution: parser.AttrDirect}
	}
	for _, o := range []Observation{
		obs(0, "198.51.100.1", Login, false),
		obs(time.Minute, "198.51.100.1", Refresh, false),
		obs(110*time.Minute, "203.0.113.9", Reuse, true),
		// Past the address TTL: the addresses are dropped, and the key
		// with them; the login writes it anew.
		obs(150*time.Minute, "203.0.113.10", Reuse, true),
		obs(151*time.Minute, "198.51.100.2", Login, false),
	} {
		if _, err := store.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := store.client.Keys(ctx, store.prefix+"u:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 6 {
		t.Fatalf("only %d keys of the user: %v", len(keys), keys)
	}
	for _, k := range keys {
		ttl, err := store.client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := l.IPTTL - time.Minute
		if strings.HasSuffix(k, ":r") || strings.HasSuffix(k, ":x") || strings.HasSuffix(k, ":y") {
			want = 24*time.Hour - time.Minute
		}
		if ttl < want {
			t.Errorf("%s expires in %v, want at least %v", k, ttl, want)
		}
	}
}
