package correlate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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

// The history is bounded by its caps, not by expirations: every key of a
// user belongs to a user in users, every session's key to a session in
// sessions, and both stay within their caps after each batch, whether the
// events went through the script (logged nowhere known) or, learn-only, as
// plain commands (with a name).
func TestRedisHistoryIsBoundedByItsCaps(t *testing.T) {
	t.Parallel()
	for _, source := range []string{"", "8:1"} {
		t.Run("source "+source, func(t *testing.T) {
			t.Parallel()
			testRedisHistoryIsBounded(t, source)
		})
	}
}

func testRedisHistoryIsBounded(t *testing.T, source string) {
	ctx := context.Background()
	l := Limits{MaxUsers: 3, MaxSessions: 4}
	store := newTestRedis(t, l)
	var obs []Observation
	for i := range 60 {
		obs = append(obs, Observation{User: UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i%10)}, Time: t0.Add(time.Duration(i) * time.Second),
			IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), Action: []Action{Login, Refresh, Refresh, Reuse}[i%4], NeedFacts: i%4 == 3,
			Session: fmt.Sprint("s", i%10), Country: "NL", ASN: 64500, Attribution: parser.AttrDirect, Source: source, Offset: int64(i) * 100})
	}
	for part := range slices.Chunk(obs, 7) {
		if err := store.ApplyBatch(ctx, part, make([]Facts, len(part))); err != nil {
			t.Fatal(err)
		}
		users, err1 := store.client.ZRange(ctx, store.hist+"users", 0, -1).Result()
		sessions, err2 := store.client.HLen(ctx, store.hist+"st").Result()
		keys, err3 := store.client.Keys(ctx, store.hist+"*").Result()
		first, err4 := store.client.ZRange(ctx, store.hist+"first", 0, -1).Result()
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		if len(users) > l.MaxUsers || sessions > int64(l.MaxSessions) {
			t.Fatalf("%d users, %d sessions, over the caps", len(users), sessions)
		}
		users = sorted(users)
		if !slices.Equal(sorted(first), users) {
			t.Fatalf("first seen kept for %v, the users are %v", first, users)
		}
		for _, k := range keys {
			k = strings.TrimPrefix(k, store.hist)
			if u, ok := strings.CutPrefix(k, "u:"); ok && !slices.Contains(users, u[:strings.LastIndexByte(u, ':')]) {
				t.Errorf("%s is the key of a user no longer tracked (%v)", k, users)
			}
			if strings.HasPrefix(k, "s:") || k == "sessions" {
				t.Errorf("%s is a key of the sessions' layout before the session table", k)
			}
		}
	}
	if st := statsOf(t, store); st.UsersEvicted == 0 || st.SessionsEvicted == 0 {
		t.Fatalf("stats %+v, want users and sessions evicted", st)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A record's digest names its events in Redis, so it must not change from
// one version to the next; and it is taken for every record a watcher
// reads, so it copies nothing. Not parallel: AllocsPerRun counts the
// whole process's allocations.
func TestRecordDigestIsCRC32CAndCopiesNothing(t *testing.T) {
	raw := "[2026-11-24 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=a,o=T - NONE [198.51.100.23] - [f1]"
	if got, want := recordDigest(raw), uint64(1<<32|0xe09466f2); got != want {
		t.Errorf("digest %#x, want %#x (CRC-32C of the record, with bit 32 set)", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { recordDigest(raw) }); n != 0 {
		t.Errorf("%v allocations a digest, want none", n)
	}
}
