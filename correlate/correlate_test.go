package correlate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
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

var seq int

func ev(kind parser.Kind, at time.Duration, ip string, opts ...evOpt) parser.Event {
	seq++
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
func run(t *testing.T, store *Memory, events ...parser.Event) []Context {
	t.Helper()
	c := NewCorrelator(store, 0)
	var got []Context
	judge := func(ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
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
			store := NewMemory(Limits{})
			c := NewCorrelator(store, 0)
			var got []Context
			judge := func(ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
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
	}
}

func TestReplayedAddressIsNeverLearned(t *testing.T) {
	store := NewMemory(Limits{})
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

func TestSessionFacts(t *testing.T) {
	store := NewMemory(Limits{})
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
	store := NewMemory(Limits{})
	c := NewCorrelator(store, time.Second)
	var got []Context
	judge := func(ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
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

func TestJudgedFilterSkipsFacts(t *testing.T) {
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	c.Judged = func(k parser.Kind) bool { return k == parser.KindGraceReuse }
	var got []Context
	judge := func(ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
	for _, e := range []parser.Event{ev(parser.KindTokenOK, 0, "198.51.100.23"), ev(parser.KindGraceReuse, time.Second, "198.51.100.23")} {
		c.Observe(context.Background(), &e, judge)
	}
	c.Flush(context.Background(), judge)
	if len(got) != 1 || got[0].Event.Kind != parser.KindGraceReuse || !got[0].IPSeen {
		t.Fatalf("want only the reuse judged, with the unjudged refresh learned; got %d contexts", len(got))
	}
}

func TestMemoryBounds(t *testing.T) {
	t.Run("users over the cap are evicted, least recently seen first", func(t *testing.T) {
		store := NewMemory(Limits{MaxUsers: 100})
		for i := range 250 {
			store.Apply(context.Background(), Observation{User: UserID{DN: fmt.Sprint("u", i)}, Time: t0.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("192.0.2.1"), Action: Refresh})
		}
		st := store.Stats()
		if st.Users != 100 || st.UsersEvicted != 150 {
			t.Fatalf("users %d evicted %d, want 100 and 150", st.Users, st.UsersEvicted)
		}
		f, _ := store.Apply(context.Background(), Observation{User: UserID{DN: "u249"}, Time: t0.Add(300 * time.Second), IP: netip.MustParseAddr("192.0.2.1"), Action: Look, NeedFacts: true})
		if !f.IPSeen {
			t.Error("the most recent user was evicted")
		}
		f, _ = store.Apply(context.Background(), Observation{User: UserID{DN: "u0"}, Time: t0.Add(300 * time.Second), IP: netip.MustParseAddr("192.0.2.1"), Action: Look, NeedFacts: true})
		if f.IPSeen {
			t.Error("the oldest user was not evicted")
		}
	})
	t.Run("addresses over the per-user cap are evicted", func(t *testing.T) {
		store := NewMemory(Limits{MaxIPsPerUser: 4})
		for i := range 10 {
			store.Apply(context.Background(), Observation{User: UserID{DN: "u"}, Time: t0.Add(time.Duration(i) * time.Second), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Action: Refresh})
		}
		f, _ := store.Apply(context.Background(), Observation{User: UserID{DN: "u"}, Time: t0.Add(time.Minute), IP: netip.MustParseAddr("192.0.2.9"), Action: Look, NeedFacts: true})
		if len(f.UserIPs) != 4 || f.UserIPs[0] != netip.MustParseAddr("192.0.2.9") || store.Stats().IPsEvicted != 6 {
			t.Fatalf("ips %v evicted %d", f.UserIPs, store.Stats().IPsEvicted)
		}
	})
	t.Run("users unseen past the IP TTL expire", func(t *testing.T) {
		store := NewMemory(Limits{IPTTL: time.Hour})
		store.Apply(context.Background(), Observation{User: UserID{DN: "old"}, Time: t0, IP: netip.MustParseAddr("192.0.2.1"), Action: Refresh})
		store.Apply(context.Background(), Observation{User: UserID{DN: "new"}, Time: t0.Add(2 * time.Hour), IP: netip.MustParseAddr("192.0.2.1"), Action: Refresh})
		if st := store.Stats(); st.Users != 1 || st.UsersExpired != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("sessions over the cap are evicted", func(t *testing.T) {
		store := NewMemory(Limits{MaxSessions: 8})
		for i := range 30 {
			store.Apply(context.Background(), Observation{User: UserID{DN: "u"}, Session: fmt.Sprint("s", i%15), Time: t0, IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Action: Reuse})
		}
		st := store.Stats()
		if st.Sessions > 8 || st.SessionsEvicted == 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("waiting refreshes are bounded", func(t *testing.T) {
		c := NewCorrelator(NewMemory(Limits{}), time.Hour)
		n := 0
		for i := range maxPending + 10 {
			c.Observe(context.Background(), ptr(ev(parser.KindTokenOK, time.Duration(i)*time.Microsecond, "192.0.2.1", user(fmt.Sprint("u", i)))), func(*Context) error { n++; return nil })
		}
		if c.pending.n != maxPending || c.Stats().PendingEvicted != 10 || n != 10 {
			t.Fatalf("pending %d, evicted %d, judged %d", c.pending.n, c.Stats().PendingEvicted, n)
		}
	})
}

func TestReuseCounts(t *testing.T) {
	store := NewMemory(Limits{})
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
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	judge := func(*Context) error { return nil }
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
	c2.Observe(context.Background(), &last, func(x *Context) error { got = append(got, copyContext(x)); return nil })
	c2.Flush(context.Background(), func(x *Context) error { got = append(got, copyContext(x)); return nil })
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

// within is now.Sub(t) <= d, saturation and monotonic readings included.
func TestWithinIsSub(t *testing.T) {
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
