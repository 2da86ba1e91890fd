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

// Every history key but the indexes expires, no sooner than its TTL, as the
// script writes it (events logged nowhere known) and as the plain commands
// do (learn-only events with a name), and a key emptied and written again
// (the user's addresses all past the address TTL) gets one again.
func TestRedisKeysExpire(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"", "8:1"} {
		t.Run("source "+source, func(t *testing.T) {
			t.Parallel()
			testRedisKeysExpire(t, source)
		})
	}
}

func testRedisKeysExpire(t *testing.T, source string) {
	ctx := context.Background()
	l := Limits{IPTTL: 2 * time.Hour}
	store := newTestRedis(t, l)
	u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	offset := int64(0)
	obs := func(d time.Duration, ip string, a Action, need bool) Observation {
		offset += 100
		return Observation{User: u, Time: t0.Add(d), IP: netip.MustParseAddr(ip), Action: a, NeedFacts: need, Session: "s1",
			Country: "NL", ASN: 64500, Attribution: parser.AttrDirect, Source: source, Offset: offset}
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
	keys, err := store.client.Keys(ctx, store.hist+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 10 {
		t.Fatalf("only %d history keys: %v", len(keys), keys)
	}
	for _, k := range keys {
		switch strings.TrimPrefix(k, store.hist) {
		case "users", "first", "sessions", "ra":
			continue // bounded by the caps
		}
		ttl, err := store.client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := l.IPTTL - time.Minute
		switch {
		case strings.HasSuffix(k, ":r") || strings.HasSuffix(k, ":x") || strings.HasSuffix(k, ":y") || strings.Contains(k, ":s:"):
			want = 24*time.Hour - time.Minute
		}
		if ttl < want {
			t.Errorf("%s expires in %v, want at least %v", k, ttl, want)
		}
	}
}
