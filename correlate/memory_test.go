package correlate

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A refresh comes back as Prev exactly as it was learned, however the
// store packs it: session ids in OpenUnison's form or not, a peer that is
// the client, another one or none, an agent or none; and through a
// snapshot, zone included.
func TestRefreshFactRoundTrip(t *testing.T) {
	t.Parallel()
	client := netip.MustParseAddr("198.51.100.7")
	proxy := netip.MustParseAddr("10.0.0.2")
	berlin := time.FixedZone("CET", 3600)
	hex := "f" + strings.Repeat("0123456789abcdef", 3)[:40]
	for _, tc := range []struct {
		name    string
		session string
		peer    netip.Addr
		agent   string
		at      time.Time
	}{
		{"openunison id, direct", hex, client, "", t0},
		{"no session, no peer", "", netip.Addr{}, "", t0},
		{"null session", "null", client, "", t0},
		{"upper-case hex is kept as written", strings.ToUpper(hex), client, "", t0},
		{"other id", "f12345", proxy, "kubectl/v1.31.0", t0},
		{"41 characters, not hex", "f" + strings.Repeat("g", 40), netip.Addr{}, "", t0},
		{"behind a proxy", hex, proxy, "kubectl/v1.31.0", t0},
		{"agent only", hex, client, "k9s/0.32", t0},
		{"another zone", hex, client, "", t0.In(berlin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := RefreshFact{Time: tc.at, IP: client, Session: tc.session, Agent: tc.agent, Attribution: parser.AttrDirect, Peer: tc.peer}
			u := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
			m := NewMemory(Limits{})
			ctx := context.Background()
			if _, err := m.Apply(ctx, Observation{User: u, Session: tc.session, Time: tc.at, IP: client, Action: Refresh,
				Agent: tc.agent, Attribution: parser.AttrDirect, Peer: tc.peer}); err != nil {
				t.Fatal(err)
			}
			look := Observation{User: u, Time: tc.at.Add(time.Second), IP: client, Action: Look, NeedFacts: true}
			check := func(m *Memory, when string) {
				t.Helper()
				f, err := m.Apply(ctx, look)
				if err != nil {
					t.Fatal(err)
				}
				if f.Prev == nil {
					t.Fatalf("%s: no prev", when)
				}
				if got := *f.Prev; got != want || got.Time.Location().String() != want.Time.Location().String() {
					t.Fatalf("%s: prev %+v, want %+v", when, got, want)
				}
			}
			check(m, "learned")
			restored := NewMemory(Limits{})
			restored.Restore(m.Snapshot())
			check(restored, "restored")
		})
	}
}

// A user unseen for exactly the address TTL is still tracked; a
// nanosecond more and the next event expires it, across a second's carry
// too, and an event learned late does not move its last sighting back.
func TestUserExpiryAtTheBoundary(t *testing.T) {
	t.Parallel()
	const ttl = time.Hour
	seen := time.Date(2026, 11, 23, 10, 0, 0, 999_999_999, time.UTC)
	a := UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}
	b := UserID{IdP: "k8sIdp", DN: "uid=b,o=T"}
	ip := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		name    string
		after   time.Duration
		expired bool
	}{
		{"a nanosecond short", ttl - 1, false},
		{"exactly the TTL", ttl, false},
		{"a nanosecond past", ttl + 1, true},
		{"a second past", ttl + time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory(Limits{IPTTL: ttl})
			for _, o := range []Observation{
				{User: a, Time: seen, IP: ip, Action: Login},
				{User: a, Time: seen.Add(-time.Minute), IP: ip, Action: Login}, // learned late: last seen stays
				{User: b, Time: seen.Add(tc.after), IP: ip, Action: Login},
			} {
				if _, err := m.Apply(context.Background(), o); err != nil {
					t.Fatal(err)
				}
			}
			if st := m.Stats(); st.UsersExpired != map[bool]int64{true: 1}[tc.expired] || st.Users != map[bool]int{true: 1, false: 2}[tc.expired] {
				t.Errorf("%d users, %d expired; want expired %v", st.Users, st.UsersExpired, tc.expired)
			}
		})
	}
}

// A refresh the Correlator hands the memory store with the key it made
// for its chain index is the same user the store finds by its own hash:
// one user, not two, whichever path learned it.
func TestCorrelatorKeyIsTheStoresKey(t *testing.T) {
	t.Parallel()
	m := NewMemory(Limits{})
	c := NewCorrelator(m, 0)
	judge := func(context.Context, *Context) error { return nil }
	for _, e := range []parser.Event{ev(parser.KindTokenOK, 0, "198.51.100.7"), ev(parser.KindTokenOK, time.Minute, "198.51.100.8")} {
		if err := c.Observe(context.Background(), &e, judge); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	u := UserOf(&parser.Event{IdP: "k8sIdp", User: "uid=a,o=T"})
	if _, ok := m.userKey(u); !ok {
		t.Fatal("the store does not find by its own hash the user the Correlator's key learned")
	}
	if _, err := m.Apply(context.Background(), Observation{User: u, Time: t0.Add(2 * time.Minute), IP: netip.MustParseAddr("198.51.100.9"), Action: Login}); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.Users != 1 {
		t.Errorf("%d users, want 1", st.Users)
	}
}
