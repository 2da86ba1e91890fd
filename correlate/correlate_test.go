package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// ev builds an event; thread and session default to ones unique to the call.
type evOpt func(*parser.Event)

func thread(th string) evOpt { return func(e *parser.Event) { e.Thread = th } }
func session(s string) evOpt { return func(e *parser.Event) { e.Session = s } }
func source(s string) evOpt  { return func(e *parser.Event) { e.Source = s } }
func user(dn string) evOpt   { return func(e *parser.Event) { e.User = dn } }

// seq numbers events across the package's parallel tests.
var seq atomic.Int64

func ev(kind parser.Kind, at time.Duration, ip string, opts ...evOpt) parser.Event {
	seq := seq.Add(1)
	e := parser.Event{
		Kind: kind, Time: t0.Add(at), IP: netip.MustParseAddr(ip), User: "uid=a,o=T", IdP: "k8sIdp",
		Thread: fmt.Sprintf("XNIO-1 task-%d", seq), Session: fmt.Sprintf("f%040d", seq), Source: "pod-a", Offset: int64(seq),
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

// run feeds events to a fresh Correlator and returns the Contexts judged,
// keyed by nothing: in the order they were judged.
func run(t *testing.T, store Store, events ...parser.Event) []Context {
	t.Helper()
	c := NewCorrelator(store, 0)
	var got []Context
	judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	for _, e := range events {
		if err := c.Observe(context.Background(), &e, judge); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	return got
}

func reuses(cs []Context) []Context {
	return slices.DeleteFunc(slices.Clone(cs), func(c Context) bool { return c.Event.Kind != parser.KindGraceReuse })
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestCorrelation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    func() []parser.Event
		wantPrev  string // the reuse's prev IP, "" for none
		wantSeen  bool
		wantIPs   []netip.Addr
		wantPairs int64
	}{
		{
			name: "client-go race: same machine, same IP",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "203.0.113.7", thread("t1")),
					ev(parser.KindTokenOK, 42*time.Millisecond, "203.0.113.7", thread("t2"), session("s2")),
					ev(parser.KindGraceReuse, 43*time.Millisecond, "203.0.113.7", thread("t2"), session("s2")),
				}
			},
			wantPrev: "203.0.113.7", wantSeen: true, wantIPs: addrs("203.0.113.7"), wantPairs: 1,
		},
		{
			name: "replay from another IP: its own AzSuccess is not learned",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "198.51.100.23", thread("t1")),
					ev(parser.KindTokenOK, 2*time.Second, "192.0.2.66", thread("t2"), session("s2")),
					ev(parser.KindTokenOK, 2*time.Second+time.Millisecond, "203.0.113.1", user("uid=other,o=T")),
					ev(parser.KindGraceReuse, 2*time.Second+2*time.Millisecond, "192.0.2.66", thread("t2"), session("s2")),
				}
			},
			wantPrev: "198.51.100.23", wantSeen: false, wantIPs: addrs("198.51.100.23"), wantPairs: 1,
		},
		{
			name: "the pair logged in the other order is recognised too",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "198.51.100.23", thread("t1")),
					ev(parser.KindGraceReuse, 3*time.Second, "192.0.2.66", thread("t2"), session("s2")),
					ev(parser.KindTokenOK, 3*time.Second+time.Millisecond, "192.0.2.66", thread("t2"), session("s2")),
				}
			},
			wantPrev: "198.51.100.23", wantSeen: false, wantIPs: addrs("198.51.100.23"), wantPairs: 1,
		},
		{
			name: "a user who moves: refresh from the new IP, then a race from it",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "203.0.113.50", thread("t1")),
					ev(parser.KindTokenOK, time.Minute, "198.51.100.77", thread("t1")),
					ev(parser.KindTokenOK, time.Minute+31*time.Millisecond, "198.51.100.77", thread("t3"), session("s3")),
					ev(parser.KindGraceReuse, time.Minute+32*time.Millisecond, "198.51.100.77", thread("t3"), session("s3")),
				}
			},
			wantPrev: "198.51.100.77", wantSeen: true, wantIPs: addrs("198.51.100.77", "203.0.113.50"), wantPairs: 1,
		},
		{
			name: "a reuse with no refresh before it",
			events: func() []parser.Event {
				return []parser.Event{ev(parser.KindGraceReuse, 0, "192.0.2.66")}
			},
			wantPrev: "", wantSeen: false, wantIPs: nil,
		},
		{
			name: "a refresh older than the refresh TTL is no prev",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "198.51.100.23"),
					ev(parser.KindGraceReuse, 2*time.Hour, "192.0.2.66"),
				}
			},
			wantPrev: "", wantSeen: false, wantIPs: addrs("198.51.100.23"),
		},
		{
			name: "a refresh on another replica, merged by time, is the prev",
			events: func() []parser.Event {
				return []parser.Event{
					ev(parser.KindTokenOK, 0, "198.51.100.40", source("pod-a"), thread("task-2")),
					ev(parser.KindTokenOK, 1800*time.Millisecond, "192.0.2.99", source("pod-b"), thread("task-2"), session("s9")),
					ev(parser.KindGraceReuse, 1801*time.Millisecond, "192.0.2.99", source("pod-b"), thread("task-2"), session("s9")),
				}
			},
			wantPrev: "198.51.100.40", wantSeen: false, wantIPs: addrs("198.51.100.40"), wantPairs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, Limits{}, func(t *testing.T, store Store) {
				c := NewCorrelator(store, 0)
				var got []Context
				judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
				for _, e := range tt.events() {
					if err := c.Observe(context.Background(), &e, judge); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.Flush(context.Background(), judge); err != nil {
					t.Fatal(err)
				}
				rs := reuses(got)
				if len(rs) != 1 {
					t.Fatalf("judged %d reuses, want 1", len(rs))
				}
				r := rs[0]
				prev := ""
				if r.Prev != nil {
					prev = r.Prev.IP.String()
				}
				if prev != tt.wantPrev || r.IPSeen != tt.wantSeen || !slices.Equal(r.UserIPs, tt.wantIPs) {
					t.Errorf("prev %q seen %v ips %v; want prev %q seen %v ips %v", prev, r.IPSeen, r.UserIPs, tt.wantPrev, tt.wantSeen, tt.wantIPs)
				}
				if c.Stats().PairedTokenOK != tt.wantPairs {
					t.Errorf("paired %d token_ok lines, want %d", c.Stats().PairedTokenOK, tt.wantPairs)
				}
			})
		})
	}
}

func TestReplayedAddressIsNeverLearned(t *testing.T) {
	t.Parallel()
	forEachStore(t, Limits{}, testReplayedAddressIsNeverLearned)
}

func testReplayedAddressIsNeverLearned(t *testing.T, store Store) {
	got := run(t, store,
		ev(parser.KindTokenOK, 0, "198.51.100.23", thread("t1")),
		ev(parser.KindTokenOK, 2*time.Second, "192.0.2.66", thread("t2"), session("s2")),
		ev(parser.KindGraceReuse, 2*time.Second, "192.0.2.66", thread("t2"), session("s2")),
		// The thief replays again later: the address is still new.
		ev(parser.KindTokenOK, 5*time.Second, "192.0.2.66", thread("t3"), session("s3")),
		ev(parser.KindGraceReuse, 5*time.Second, "192.0.2.66", thread("t3"), session("s3")),
	)
	rs := reuses(got)
	if len(rs) != 2 || rs[1].IPSeen || rs[1].Reuses10m != 2 {
		t.Fatalf("second replay: seen %v reuses_10m %d; want unseen and 2", rs[1].IPSeen, rs[1].Reuses10m)
	}
	for _, c := range got {
		if c.Event.Kind == parser.KindTokenOK && c.Event.IP.String() == "192.0.2.66" {
			t.Errorf("the replay's AzSuccess was judged as a refresh")
		}
	}
}

func TestSessionFacts(t *testing.T) { forEachStore(t, Limits{}, testSessionFacts) }

func testSessionFacts(t *testing.T, store Store) {
	got := run(t, store,
		ev(parser.KindTokenOK, 0, "198.51.100.23", session("oidc-1")),
		ev(parser.KindGraceReuse, time.Second, "192.0.2.66", session("oidc-1")),
		ev(parser.KindGraceReuse, 2*time.Second, "192.0.2.66", session("null")),
	)
	rs := reuses(got)
	if !slices.Equal(rs[0].SessionIPs, addrs("198.51.100.23")) || rs[0].SessionIP {
		t.Errorf("session facts %v %v", rs[0].SessionIPs, rs[0].SessionIP)
	}
	if rs[1].SessionIPs != nil {
		t.Errorf("session null must have no facts, got %v", rs[1].SessionIPs)
	}
}

func TestTickReleasesWaitingRefresh(t *testing.T) {
	t.Parallel()
	store := NewMemory(Limits{})
	c := NewCorrelator(store, time.Second)
	var got []Context
	judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	if err := c.Observe(context.Background(), ptr(ev(parser.KindTokenOK, 0, "198.51.100.23")), judge); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatal("a token_ok must wait for its thread to move on")
	}
	c.Tick(context.Background(), t0.Add(500*time.Millisecond), judge)
	if len(got) != 0 {
		t.Fatal("released before the pair window passed")
	}
	c.Tick(context.Background(), t0.Add(2*time.Second), judge)
	if len(got) != 1 || got[0].Event.Kind != parser.KindTokenOK {
		t.Fatalf("after the pair window: judged %d", len(got))
	}
}

func TestJudgedFilterSkipsFacts(t *testing.T) { forEachStore(t, Limits{}, testJudgedFilterSkipsFacts) }

func testJudgedFilterSkipsFacts(t *testing.T, store Store) {
	c := NewCorrelator(store, 0)
	c.Judged = func(k parser.Kind) bool { return k == parser.KindGraceReuse }
	var got []Context
	judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	for _, e := range []parser.Event{ev(parser.KindTokenOK, 0, "198.51.100.23"), ev(parser.KindGraceReuse, time.Second, "198.51.100.23")} {
		c.Observe(context.Background(), &e, judge)
	}
	c.Flush(context.Background(), judge)
	if len(got) != 1 || got[0].Event.Kind != parser.KindGraceReuse || !got[0].IPSeen {
		t.Fatalf("want only the reuse judged, with the unjudged refresh learned; got %d contexts", len(got))
	}
}

func TestStoreBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")
	t.Run("users over the cap are evicted, least recently seen first", func(t *testing.T) {
		forEachStore(t, Limits{MaxUsers: 100}, func(t *testing.T, store Store) {
			for i := range 250 {
				store.Apply(ctx, Observation{User: UserID{DN: fmt.Sprint("u", i)}, Time: t0.Add(time.Duration(i) * time.Second), IP: ip, Action: Refresh})
			}
			st := statsOf(t, store)
			if st.Users != 100 || st.UsersEvicted != 150 {
				t.Fatalf("users %d evicted %d, want 100 and 150", st.Users, st.UsersEvicted)
			}
			f, _ := store.Apply(ctx, Observation{User: UserID{DN: "u249"}, Time: t0.Add(300 * time.Second), IP: ip, Action: Look, NeedFacts: true})
			if !f.IPSeen {
				t.Error("the most recent user was evicted")
			}
			f, _ = store.Apply(ctx, Observation{User: UserID{DN: "u0"}, Time: t0.Add(300 * time.Second), IP: ip, Action: Look, NeedFacts: true})
			if f.IPSeen {
				t.Error("the oldest user was not evicted")
			}
		})
	})
	t.Run("addresses over the per-user cap are evicted", func(t *testing.T) {
		forEachStore(t, Limits{MaxIPsPerUser: 4}, func(t *testing.T, store Store) {
			for i := range 10 {
				store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(time.Duration(i) * time.Second), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Action: Refresh})
			}
			f, _ := store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(time.Minute), IP: netip.MustParseAddr("192.0.2.9"), Action: Look, NeedFacts: true})
			if want := addrs("192.0.2.9", "192.0.2.8", "192.0.2.7", "192.0.2.6"); !slices.Equal(f.UserIPs, want) || statsOf(t, store).IPsEvicted != 6 {
				t.Fatalf("ips %v evicted %d; want %v and 6", f.UserIPs, statsOf(t, store).IPsEvicted, want)
			}
		})
	})
	t.Run("past the address cap the least recently seen goes, by log time", func(t *testing.T) {
		forEachStore(t, Limits{MaxIPsPerUser: 2}, func(t *testing.T, store Store) {
			for _, o := range []struct {
				at time.Duration
				ip string
			}{{10 * time.Second, "192.0.2.10"}, {11 * time.Second, "192.0.2.11"}, {5 * time.Second, "192.0.2.5"}} {
				store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(o.at), IP: netip.MustParseAddr(o.ip), Action: Refresh})
			}
			f, _ := store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(time.Minute), IP: netip.MustParseAddr("192.0.2.5"), Action: Look, NeedFacts: true})
			if f.IPSeen || !slices.Equal(f.UserIPs, addrs("192.0.2.11", "192.0.2.10")) {
				t.Fatalf("seen %v ips %v; want the address learned late but seen earliest evicted", f.IPSeen, f.UserIPs)
			}
		})
	})
	t.Run("users unseen past the IP TTL expire", func(t *testing.T) {
		forEachStore(t, Limits{IPTTL: time.Hour}, func(t *testing.T, store Store) {
			store.Apply(ctx, Observation{User: UserID{DN: "old"}, Time: t0, IP: ip, Action: Refresh})
			store.Apply(ctx, Observation{User: UserID{DN: "new"}, Time: t0.Add(2 * time.Hour), IP: ip, Action: Refresh})
			if st := statsOf(t, store); st.Users != 1 || st.UsersExpired != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	})
	t.Run("addresses older than the IP TTL are forgotten", func(t *testing.T) {
		forEachStore(t, Limits{IPTTL: time.Hour}, func(t *testing.T, store Store) {
			store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0, IP: ip, Action: Refresh})
			store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(50 * time.Minute), IP: netip.MustParseAddr("192.0.2.2"), Action: Login})
			f, _ := store.Apply(ctx, Observation{User: UserID{DN: "u"}, Time: t0.Add(90 * time.Minute), IP: ip, Action: Look, NeedFacts: true})
			if f.IPSeen || !slices.Equal(f.UserIPs, addrs("192.0.2.2")) || statsOf(t, store).IPsExpired != 1 {
				t.Fatalf("seen %v ips %v expired %d", f.IPSeen, f.UserIPs, statsOf(t, store).IPsExpired)
			}
		})
	})
	t.Run("sessions over the cap are evicted", func(t *testing.T) {
		forEachStore(t, Limits{MaxSessions: 8}, func(t *testing.T, store Store) {
			for i := range 30 {
				store.Apply(ctx, Observation{User: UserID{DN: "u"}, Session: fmt.Sprint("s", i%15), Time: t0, IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Action: Reuse})
			}
			st := statsOf(t, store)
			if st.Sessions > 8 || st.SessionsEvicted == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	})
	t.Run("a session keeps a few addresses", func(t *testing.T) {
		forEachStore(t, Limits{}, func(t *testing.T, store Store) {
			for i := range sessionIPs + 2 {
				store.Apply(ctx, Observation{User: UserID{DN: "u"}, Session: "oidc-1", Time: t0, IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Action: Refresh})
			}
			f, _ := store.Apply(ctx, Observation{User: UserID{DN: "u"}, Session: "oidc-1", Time: t0, IP: netip.MustParseAddr("192.0.2.0"), Action: Look, NeedFacts: true})
			if len(f.SessionIPs) != sessionIPs || !f.SessionIP || statsOf(t, store).SessionIPsCapped != 2 {
				t.Fatalf("session ips %v (seen %v), capped %d", f.SessionIPs, f.SessionIP, statsOf(t, store).SessionIPsCapped)
			}
		})
	})
}

func TestWaitingRefreshesAreBounded(t *testing.T) {
	t.Parallel()
	c := NewCorrelator(NewMemory(Limits{}), time.Hour)
	n := 0
	for i := range maxPending + 10 {
		c.Observe(context.Background(), ptr(ev(parser.KindTokenOK, time.Duration(i)*time.Microsecond, "192.0.2.1", user(fmt.Sprint("u", i)))), func(_ context.Context, _ *Context) error { n++; return nil })
	}
	if c.pending.n != maxPending || c.Stats().PendingEvicted != 10 || n != 10 {
		t.Fatalf("pending %d, evicted %d, judged %d", c.pending.n, c.Stats().PendingEvicted, n)
	}
}

// TestFacts states what each fact means, for every store.
func TestFacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := UserID{IdP: "k8sIdp", DN: "uid=mmosley,ou=shadow,o=Tremolo"}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	obs := func(d time.Duration, ip string, a Action, mods ...func(*Observation)) Observation {
		o := Observation{User: u, Time: at(d), IP: netip.MustParseAddr(ip), Action: a, Session: "null"}
		for _, m := range mods {
			m(&o)
		}
		return o
	}
	place := func(country string, asn uint) func(*Observation) {
		return func(o *Observation) { o.Country, o.ASN = country, asn }
	}
	tests := []struct {
		name    string
		history []Observation
		event   Observation
		check   func(t *testing.T, f Facts)
	}{
		{
			name:  "a new user has no facts",
			event: obs(0, "192.0.2.1", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev != nil || f.UserIPs != nil || !f.FirstSeen.IsZero() || f.Reuses10m != 1 || f.Reuses1h != 1 {
					t.Errorf("facts %+v", f)
				}
			},
		},
		{
			name:    "prev is the newest refresh at or before the event, with its session",
			history: []Observation{obs(0, "192.0.2.1", Refresh), obs(time.Minute, "192.0.2.2", Refresh, func(o *Observation) { o.Session = "fabc" }), obs(3*time.Minute, "192.0.2.3", Refresh)},
			event:   obs(2*time.Minute, "192.0.2.9", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev == nil || f.Prev.IP != netip.MustParseAddr("192.0.2.2") || !f.Prev.Time.Equal(at(time.Minute)) || f.Prev.Session != "fabc" {
					t.Errorf("prev %+v", f.Prev)
				}
				if !f.FirstSeen.Equal(at(0)) {
					t.Errorf("first seen %v", f.FirstSeen)
				}
			},
		},
		{
			name: "prev keeps the refresh's agent and attribution, a '|' in the agent included",
			history: []Observation{obs(0, "203.0.113.9", Refresh, func(o *Observation) {
				o.Agent, o.Attribution, o.Peer = "Go-http-client/2.0 |x", parser.AttrJoined, netip.MustParseAddr("10.1.67.12")
			})},
			event: obs(time.Second, "192.0.2.9", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev == nil || f.Prev.Agent != "Go-http-client/2.0 |x" || f.Prev.Attribution != parser.AttrJoined || f.Prev.Peer != netip.MustParseAddr("10.1.67.12") || f.Prev.IP != netip.MustParseAddr("203.0.113.9") {
					t.Errorf("prev %+v", f.Prev)
				}
			},
		},
		{
			name:    "a refresh no attribution ran on has no agent",
			history: []Observation{obs(0, "203.0.113.9", Refresh)},
			event:   obs(time.Second, "192.0.2.9", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev == nil || f.Prev.Agent != "" || f.Prev.Attribution != parser.AttrNone {
					t.Errorf("prev %+v", f.Prev)
				}
			},
		},
		{
			name:    "prev and addresses go by log time, whatever order they were learned in",
			history: []Observation{obs(10*time.Second, "192.0.2.10", Refresh), obs(5*time.Second, "192.0.2.5", Refresh)},
			event:   obs(12*time.Second, "192.0.2.9", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev == nil || f.Prev.IP != netip.MustParseAddr("192.0.2.10") || !slices.Equal(f.UserIPs, addrs("192.0.2.10", "192.0.2.5")) {
					t.Errorf("prev %+v ips %v; want 192.0.2.10 and [192.0.2.10 192.0.2.5]", f.Prev, f.UserIPs)
				}
			},
		},
		{
			name:    "a login teaches the address but is no refresh",
			history: []Observation{obs(0, "2001:db8::7", Login)},
			event:   obs(time.Second, "2001:db8::7", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Prev != nil || !f.IPSeen || !slices.Equal(f.UserIPs, addrs("2001:db8::7")) {
					t.Errorf("prev %+v seen %v ips %v", f.Prev, f.IPSeen, f.UserIPs)
				}
			},
		},
		{
			name:    "a failed refresh teaches nothing",
			history: []Observation{obs(0, "192.0.2.1", Look)},
			event:   obs(time.Second, "192.0.2.1", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.IPSeen || f.UserIPs != nil || !f.FirstSeen.IsZero() {
					t.Errorf("facts %+v", f)
				}
			},
		},
		{
			name: "countries and networks, most recent first",
			history: []Observation{
				obs(0, "192.0.2.1", Refresh, place("DE", 64500)), obs(time.Minute, "192.0.2.2", Login, place("FR", 64501)),
				obs(2*time.Minute, "192.0.2.1", Refresh, place("DE", 64500)), obs(3*time.Minute, "192.0.2.5", Reuse, place("BR", 64999)),
			},
			event: obs(4*time.Minute, "192.0.2.9", Reuse),
			check: func(t *testing.T, f Facts) {
				if !slices.Equal(f.Countries, []string{"DE", "FR"}) || !slices.Equal(f.ASNs, []uint{64500, 64501}) {
					t.Errorf("countries %v asns %v", f.Countries, f.ASNs)
				}
			},
		},
		{
			name: "reuses are counted over 10 minutes and an hour, this one included",
			history: []Observation{
				obs(0, "192.0.2.1", Reuse), obs(30*time.Minute, "192.0.2.1", Reuse), obs(55*time.Minute, "192.0.2.1", Reuse),
			},
			event: obs(61*time.Minute, "192.0.2.1", Reuse),
			check: func(t *testing.T, f Facts) {
				if f.Reuses10m != 2 || f.Reuses1h != 3 {
					t.Errorf("10m %d 1h %d, want 2 and 3", f.Reuses10m, f.Reuses1h)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, Limits{}, func(t *testing.T, store Store) {
				for _, o := range tt.history {
					if _, err := store.Apply(ctx, o); err != nil {
						t.Fatal(err)
					}
				}
				tt.event.NeedFacts = true
				f, err := store.Apply(ctx, tt.event)
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, f)
			})
		})
	}
}

func TestReuseCounts(t *testing.T) { forEachStore(t, Limits{}, testReuseCounts) }

func testReuseCounts(t *testing.T, store Store) {
	var events []parser.Event
	for i := range 6 {
		events = append(events, ev(parser.KindGraceReuse, time.Duration(i)*3*time.Minute, "192.0.2.1"))
	}
	rs := reuses(run(t, store, events...))
	want10m := []int{1, 2, 3, 4, 4, 4}
	for i, r := range rs {
		if r.Reuses10m != want10m[i] || r.Reuses1h != i+1 {
			t.Errorf("reuse %d: 10m %d 1h %d, want %d and %d", i, r.Reuses10m, r.Reuses1h, want10m[i], i+1)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// copyContext keeps a judged Context beyond the call.
func copyContext(c *Context) Context {
	ev := *c.Event
	out := *c
	out.Event = &ev
	return out
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	judge := func(_ context.Context, _ *Context) error { return nil }
	events := []parser.Event{
		ev(parser.KindTokenOK, 0, "198.51.100.23", session("s1")),
		ev(parser.KindTokenOK, time.Second, "203.0.113.7", user("uid=b,o=T")),
		ev(parser.KindGraceReuse, 2*time.Second, "192.0.2.66", session("s1")),
		ev(parser.KindTokenOK, 3*time.Second, "198.51.100.24"), // still waiting at the snapshot
	}
	for i := range events {
		c.Observe(context.Background(), &events[i], judge)
	}
	snap, csnap := store.Snapshot(), c.Snapshot()
	if len(csnap.Pending) != 2 {
		t.Fatalf("%d pending, want 2 (b's refresh and a's last)", len(csnap.Pending))
	}

	store2 := NewMemory(Limits{})
	store2.Restore(snap)
	c2 := NewCorrelator(store2, 0)
	c2.Restore(csnap)
	if !slices.Equal(snapUsers(store2.Snapshot()), snapUsers(snap)) {
		t.Errorf("restored users differ")
	}
	var got []Context
	last := ev(parser.KindGraceReuse, 4*time.Second, "198.51.100.24")
	c2.Observe(context.Background(), &last, func(_ context.Context, x *Context) error { got = append(got, copyContext(x)); return nil })
	c2.Flush(context.Background(), func(_ context.Context, x *Context) error { got = append(got, copyContext(x)); return nil })
	rs := reuses(got)
	if len(rs) != 1 || rs[0].Prev == nil || rs[0].Prev.IP.String() != "198.51.100.24" || rs[0].Reuses10m != 2 || !rs[0].IPSeen {
		t.Fatalf("after restore the reuse sees prev %v, reuses %d, seen %v", rs[0].Prev, rs[0].Reuses10m, rs[0].IPSeen)
	}
	f, _ := store2.Apply(context.Background(), Observation{User: UserID{IdP: "k8sIdp", DN: "uid=a,o=T"}, Session: "s1", Time: t0.Add(5 * time.Second), IP: netip.MustParseAddr("192.0.2.66"), Action: Look, NeedFacts: true})
	if !f.SessionIP {
		t.Error("the session table was not restored")
	}
}

func snapUsers(s MemorySnapshot) []string {
	var out []string
	for _, u := range s.Users {
		out = append(out, fmt.Sprint(u.ID, u.Refreshes, u.IPs, u.Reuses))
	}
	return out
}

// A watcher holds a grace reuse while other sources catch up; its twin must
// not be learned as a refresh meanwhile, even when the pair window passes.
func TestPairWhileTheReuseIsHeld(t *testing.T) {
	t.Parallel()
	forEachStore(t, Limits{}, func(t *testing.T, store Store) {
		ctx := context.Background()
		c := NewCorrelator(store, time.Second)
		var got []Context
		judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
		refresh := ev(parser.KindTokenOK, 0, "198.51.100.23", thread("t1"))
		twin := ev(parser.KindTokenOK, 2*time.Second, "192.0.2.66", thread("t2"), session("s2"))
		reuse := ev(parser.KindGraceReuse, 2*time.Second, "192.0.2.66", thread("t2"), session("s2"))
		for _, e := range []*parser.Event{&refresh, &twin} {
			if err := c.Observe(ctx, e, judge); err != nil {
				t.Fatal(err)
			}
		}
		c.Pair(&reuse)
		if err := c.Tick(ctx, t0.Add(time.Minute), judge); err != nil {
			t.Fatal(err)
		}
		if err := c.Observe(ctx, &reuse, judge); err != nil {
			t.Fatal(err)
		}
		rs := reuses(got)
		if len(rs) != 1 || rs[0].Prev == nil || rs[0].Prev.IP != refresh.IP || rs[0].IPSeen {
			t.Fatalf("the held reuse must be judged against the refresh before it, not its twin: %+v", rs)
		}
		if c.Stats().PairedTokenOK != 1 {
			t.Errorf("paired %d, want 1", c.Stats().PairedTokenOK)
		}
	})
}

// A reuse paired when it was held is not paired again when it is judged: a
// browser's OIDC session logs the same thread and session id for its next
// refresh, which must be learned, not dropped as a second twin.
func TestHeldReuseIsPairedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewCorrelator(NewMemory(Limits{}), time.Second)
	var got []Context
	judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	twin := ev(parser.KindTokenOK, 0, "192.0.2.66", thread("t2"), session("oidc-1"))
	reuse := ev(parser.KindGraceReuse, 0, "192.0.2.66", thread("t2"), session("oidc-1"))
	next := ev(parser.KindTokenOK, 500*time.Millisecond, "198.51.100.23", thread("t2"), session("oidc-1"))
	c.Observe(ctx, &twin, judge)
	c.Pair(&reuse)
	c.Observe(ctx, &next, judge)
	if err := c.ObservePaired(ctx, &reuse, judge); err != nil {
		t.Fatal(err)
	}
	c.Flush(ctx, judge)
	if c.Stats().PairedTokenOK != 1 {
		t.Errorf("paired %d token_ok lines, want 1", c.Stats().PairedTokenOK)
	}
	learned := false
	for _, g := range got {
		learned = learned || (g.Event.Kind == parser.KindTokenOK && g.Event.IP == next.IP)
	}
	if !learned {
		t.Error("the session's next refresh was dropped as a second twin")
	}
}

// within is now.Sub(t) <= d, saturation and monotonic readings included.
func TestWithinIsSub(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	mono := time.Now()
	times := []time.Time{
		base, base.Add(time.Nanosecond), base.Add(-time.Nanosecond), base.Add(2 * time.Second), base.Add(2*time.Second + 1),
		base.Add(30 * 24 * time.Hour), base.Add(30*24*time.Hour + 1), {}, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Unix(1<<62, 0), time.Unix(-1<<62, 0),
		mono, mono.Add(2 * time.Second), mono.Add(2*time.Second + 1), mono.Round(0), mono.Add(-time.Hour),
		base.In(time.FixedZone("x", 3600)),
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 2 * time.Second, time.Hour, 30 * 24 * time.Hour} {
		for _, a := range times {
			for _, b := range times {
				if got, want := within(a, b, d), b.Sub(a) <= d; got != want {
					t.Errorf("within(%v, %v, %v) = %v, Sub says %v", a, b, d, got, want)
				}
			}
		}
	}
}

// A stamp's within, before and compare agree with the times' own, at the
// boundary of expiry exactly (now - t == d), a nanosecond either side of
// it, across a second's carry, before 1970 and at the far ends of the
// range TestWithinIsSub covers.
func TestStampsCompareAsTimes(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 23, 10, 0, 0, 999_999_999, time.UTC)
	const ttl = 30 * 24 * time.Hour
	times := []time.Time{
		base, base.Add(time.Nanosecond), base.Add(-time.Nanosecond), base.Add(ttl), base.Add(ttl + 1), base.Add(ttl - 1),
		base.Add(time.Hour + 1), base.Add(2*time.Second + 1), time.Unix(-1, 500), time.Unix(-1, 0), time.Unix(0, 0),
		{}, time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Unix(1<<62, 0), time.Unix(-1<<62, 0), base.In(time.FixedZone("x", 3600)),
	}
	var z zones
	for _, d := range []time.Duration{0, time.Nanosecond, 2 * time.Second, time.Hour, ttl, ttl - 1, 1500 * time.Millisecond} {
		for _, a := range times {
			for _, b := range times {
				sa, sb := z.stamp(a), z.stamp(b)
				if got, want := sa.within(sb, d), within(a, b, d); got != want {
					t.Errorf("stamp within(%v, %v, %v) = %v, within says %v", a, b, d, got, want)
				}
				if got, want := sa.compare(sb), a.Compare(b); got != want {
					t.Errorf("stamp compare(%v, %v) = %d, Compare says %d", a, b, got, want)
				}
				if got, want := sa.before(sb), a.Before(b); got != want {
					t.Errorf("stamp before(%v, %v) = %v, Before says %v", a, b, got, want)
				}
			}
		}
	}
}

// A proxy's record of a request is no user's action: until attribution
// joins it to OpenUnison's record it is neither judged nor releases a
// waiting refresh on its thread.
func TestProxyRecordsAreIgnored(t *testing.T) {
	t.Parallel()
	refresh := ev(parser.KindTokenOK, 0, "198.51.100.23")
	proxy := ev(parser.KindProxy, 10*time.Millisecond, "203.0.113.9", user(""))
	proxy.Thread = refresh.Thread
	store := NewMemory(Limits{})
	c := NewCorrelator(store, time.Second)
	var got []Context
	judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	for _, e := range []parser.Event{refresh, proxy} {
		if err := c.Observe(context.Background(), &e, judge); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 0 {
		t.Fatalf("judged %d events, want none yet", len(got))
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Event.Kind != parser.KindTokenOK {
		t.Fatalf("judged %v", got)
	}
}

// A reuse whose twin has not come yet is remembered across a checkpoint:
// after Restore (a new queue, new hash seeds) its twin is still paired,
// not learned as a refresh, and a token_ok of another thread or session
// is not taken for it.
func TestReuseMarkSurvivesRestore(t *testing.T) {
	ctx := context.Background()
	judge := func(context.Context, *Context) error { return nil }
	c := NewCorrelator(NewMemory(Limits{}), time.Minute)
	reuse := ev(parser.KindGraceReuse, 0, "192.0.2.66", thread("t2"), session("s2"))
	if err := c.Observe(ctx, &reuse, judge); err != nil {
		t.Fatal(err)
	}
	snap := c.Snapshot()
	if len(snap.Reuses) != 1 {
		t.Fatalf("%d reuse marks in the snapshot, want 1", len(snap.Reuses))
	}
	c2 := NewCorrelator(NewMemory(Limits{}), time.Minute)
	c2.Restore(snap)
	for _, other := range []parser.Event{
		ev(parser.KindTokenOK, time.Second, "192.0.2.66", thread("t3"), session("s2")),
		ev(parser.KindTokenOK, time.Second, "192.0.2.66", thread("t2"), session("s3")),
	} {
		if err := c2.Observe(ctx, &other, judge); err != nil {
			t.Fatal(err)
		}
	}
	if n := c2.Stats().PairedTokenOK; n != 0 {
		t.Fatalf("paired %d token_ok lines of other requests", n)
	}
	twin := ev(parser.KindTokenOK, 2*time.Second, "192.0.2.66", thread("t2"), session("s2"))
	if err := c2.Observe(ctx, &twin, judge); err != nil {
		t.Fatal(err)
	}
	if n := c2.Stats().PairedTokenOK; n != 1 {
		t.Errorf("paired %d token_ok lines after restore, want the twin", n)
	}
}
