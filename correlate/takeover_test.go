package correlate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

var netipZero netip.Addr

func refusal(at time.Duration, th string) parser.Event {
	e := ev(parser.KindRefusal, at, "192.0.2.1", thread(th), user(""))
	e.IP, e.Message = netipZero, parser.RefusalNoSession
	return e
}

func azFail(at time.Duration, ip, th string) parser.Event {
	return ev(parser.KindTokenFail, at, ip, thread(th), user(parser.AnonymousDN))
}

func fails(cs []Context) []Context {
	var out []Context
	for _, c := range cs {
		if c.Event.Kind == parser.KindTokenFail {
			out = append(out, c)
		}
	}
	return out
}

func TestRefusalPairing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []parser.Event
		want   string
	}{
		{"same thread", []parser.Event{refusal(0, "w1"), azFail(time.Millisecond, "198.51.100.23", "w1")}, parser.RefusalNoSession},
		{"other thread", []parser.Event{refusal(0, "w1"), azFail(time.Millisecond, "198.51.100.23", "w2")}, ""},
		{"too late", []parser.Event{refusal(0, "w1"), azFail(time.Minute, "198.51.100.23", "w1")}, ""},
		{"no WARN", []parser.Event{azFail(0, "198.51.100.23", "w1")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := fails(run(t, NewMemory(Limits{}), tc.events...))
			if len(fs) != 1 || fs[0].Event.Reason != tc.want {
				t.Fatalf("%d token_fail judged, reason %q; want one with %q", len(fs), reasonOf(fs), tc.want)
			}
		})
	}
}

func reasonOf(cs []Context) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[0].Event.Reason
}

func TestTakeoverAttribution(t *testing.T) {
	t.Parallel()
	const a, b = "uid=a,o=T", "uid=b,o=T"
	tests := []struct {
		name      string
		events    []parser.Event
		wantUsers []string // users of the takeover on the refusal; nil: none
		wantThief string
	}{
		{"taken", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a)),
			ev(parser.KindTokenOK, 30*time.Second, "192.0.2.66", user(a)),
			refusal(time.Minute, "w9"), azFail(time.Minute+time.Millisecond, "198.51.100.23", "w9"),
		}, []string{a}, "192.0.2.66"},
		// The move is logged by one replica 1.2 s before the other replica
		// logs the refusal: within the pair window, the move still waits
		// for a twin when the refusal comes. A scan (no SourceClock) judged
		// the refusal at once, against no move.
		{"taken a moment before, on another replica", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a), source("ou-1")),
			ev(parser.KindTokenOK, 51*time.Second, "192.0.2.66", user(a), source("ou-0")),
			refusal(52200*time.Millisecond, "w9"), azFail(52200*time.Millisecond, "198.51.100.23", "w9"),
		}, []string{a}, "192.0.2.66"},
		{"race outside grace, one client", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a)),
			ev(parser.KindTokenOK, time.Minute, "198.51.100.23", user(a)),
			refusal(time.Minute+7*time.Second, "w9"), azFail(time.Minute+7*time.Second, "198.51.100.23", "w9"),
		}, nil, ""},
		{"moved back", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a)),
			ev(parser.KindTokenOK, 30*time.Second, "192.0.2.66", user(a)),
			ev(parser.KindTokenOK, 40*time.Second, "198.51.100.23", user(a)),
			refusal(time.Minute, "w9"), azFail(time.Minute, "198.51.100.23", "w9"),
		}, nil, ""},
		{"previous refresh past the session's reach", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a)),
			ev(parser.KindTokenOK, 20*time.Minute, "192.0.2.66", user(a)),
			refusal(21*time.Minute, "w9"), azFail(21*time.Minute, "198.51.100.23", "w9"),
		}, nil, ""},
		{"NAT, both moved", []parser.Event{
			ev(parser.KindTokenOK, 0, "203.0.113.7", user(a)),
			ev(parser.KindTokenOK, time.Second, "203.0.113.7", user(b)),
			ev(parser.KindTokenOK, 10*time.Second, "192.0.2.66", user(a)),
			ev(parser.KindTokenOK, 20*time.Second, "192.0.2.99", user(b)),
			refusal(time.Minute, "w9"), azFail(time.Minute, "203.0.113.7", "w9"),
		}, []string{b, a}, "192.0.2.99"},
		{"Session expired is no takeover", []parser.Event{
			ev(parser.KindTokenOK, 0, "198.51.100.23", user(a)),
			ev(parser.KindTokenOK, 30*time.Second, "192.0.2.66", user(a)),
			func() parser.Event { e := refusal(time.Minute, "w9"); e.Message = parser.RefusalExpired; return e }(),
			azFail(time.Minute, "198.51.100.23", "w9"),
		}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := fails(run(t, NewMemory(Limits{}), tc.events...))
			if len(fs) != 1 {
				t.Fatalf("%d token_fail judged", len(fs))
			}
			tk := fs[0].Takeover
			if tc.wantUsers == nil {
				if tk != nil {
					t.Fatalf("takeover %+v, want none", tk.Moves)
				}
				return
			}
			if tk == nil || len(tk.Moves) != len(tc.wantUsers) {
				t.Fatalf("takeover %+v, want users %v", tk, tc.wantUsers)
			}
			for i, m := range tk.Moves {
				if m.User.DN != tc.wantUsers[i] {
					t.Errorf("move %d: user %s, want %s", i, m.User.DN, tc.wantUsers[i])
				}
			}
			if tk.Moves[0].To.String() != tc.wantThief {
				t.Errorf("thief %s, want %s", tk.Moves[0].To, tc.wantThief)
			}
		})
	}
}

// The moves index holds its cap whatever comes, counts every move it lets
// go, and sweeps itself once per batch of new moves, not once per move.
func TestMovesAtTheirCap(t *testing.T) {
	t.Parallel()
	batch := maxMoves / 10
	for _, tc := range []struct {
		name  string
		users int           // each moves once, from 203.0.113.7 to 192.0.2.66
		step  time.Duration // log time between two users' moves
		// want: the first user's move still kept at the end, the sweeps at most.
		firstKept bool
		maxSweeps int
	}{
		{"under the cap", maxMoves, time.Millisecond, true, 0},
		{"past the cap, none expired", maxMoves + 2*batch + 10, time.Millisecond, false, 3},
		{"moves expiring as they come", maxMoves + 2*batch + 10, SessionReach / maxMoves * 2, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewCorrelator(NewMemory(Limits{}), 0)
			judge := func(_ context.Context, _ *Context) error { return nil }
			nat, away := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("192.0.2.66")
			uid := func(i int) UserID { return UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i)} }
			for i := range tc.users {
				u := user(uid(i).DN)
				at := time.Duration(i) * tc.step
				for j, ip := range []string{nat.String(), away.String()} {
					e := ev(parser.KindTokenOK, at+time.Duration(j)*time.Millisecond/2, ip, u)
					if err := c.Observe(context.Background(), &e, judge); err != nil {
						t.Fatal(err)
					}
				}
				if c.chains.n > maxMoves {
					t.Fatalf("%d moves after user %d: past the cap %d", c.chains.n, i, maxMoves)
				}
			}
			if err := c.Flush(context.Background(), judge); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.chains.moved[moveKey{nat, c.chains.hasher.hash(uid(tc.users - 1))}]; !ok {
				t.Errorf("the newest move was dropped")
			}
			if _, ok := c.chains.moved[moveKey{nat, c.chains.hasher.hash(uid(0))}]; ok != tc.firstKept {
				t.Errorf("the first move kept: %v, want %v", ok, tc.firstKept)
			}
			if ev := c.Stats().MovesEvicted; int(ev) != tc.users-c.chains.n {
				t.Errorf("%d evictions counted, %d moves made and %d kept", ev, tc.users, c.chains.n)
			}
			if c.chains.sweeps > tc.maxSweeps {
				t.Errorf("%d sweeps of the moves index for %d moves, want at most %d", c.chains.sweeps, tc.users, tc.maxSweeps)
			}
		})
	}
}

func agent(a string) evOpt { return func(e *parser.Event) { e.Agent = a } }

// With attribution's agents, the refused request's agent picks the user
// behind a shared address; without a match every candidate stays.
func TestTakeoverByAgent(t *testing.T) {
	t.Parallel()
	const a, b = "uid=a,o=T", "uid=b,o=T"
	moves := func(refusedAgent string) []parser.Event {
		fail := azFail(time.Minute, "203.0.113.7", "w9")
		fail.Agent = refusedAgent
		return []parser.Event{
			ev(parser.KindTokenOK, 0, "203.0.113.7", user(a), agent("kubectl/v1.31.0")),
			ev(parser.KindTokenOK, time.Second, "203.0.113.7", user(b), agent("k9s/v0.32.5")),
			ev(parser.KindTokenOK, 10*time.Second, "192.0.2.66", user(a), agent("curl/8.5.0")),
			ev(parser.KindTokenOK, 20*time.Second, "192.0.2.99", user(b), agent("curl/8.5.0")),
			refusal(time.Minute, "w9"), fail,
		}
	}
	for refused, want := range map[string]int{"k9s/v0.32.5": 1, "": 2, "other/1.0": 2} {
		fs := fails(run(t, NewMemory(Limits{}), moves(refused)...))
		if len(fs) != 1 || fs[0].Takeover == nil || len(fs[0].Takeover.Moves) != want {
			t.Fatalf("refused agent %q: %+v, want %d candidates", refused, fs, want)
		}
		if want == 1 && fs[0].Takeover.Moves[0].User.DN != b {
			t.Fatalf("refused agent %q: named %s, want %s", refused, fs[0].Takeover.Moves[0].User.DN, b)
		}
	}
}

// A watcher restarted from its checkpoint between the move and the refusal
// still attributes the refusal.
func TestTakeoverSurvivesCheckpoint(t *testing.T) {
	t.Parallel()
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	judge := func(_ context.Context, _ *Context) error { return nil }
	for _, e := range []parser.Event{
		ev(parser.KindTokenOK, 0, "198.51.100.23"),
		ev(parser.KindTokenOK, 30*time.Second, "192.0.2.66"),
	} {
		if err := c.Observe(context.Background(), &e, judge); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(c.Snapshot()); err != nil {
		t.Fatal(err)
	}
	var snap CorrelatorSnapshot
	if err := gob.NewDecoder(&buf).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	c2 := NewCorrelator(store, 0)
	c2.Restore(snap)
	var got []Context
	for _, e := range []parser.Event{refusal(time.Minute, "w9"), azFail(time.Minute, "198.51.100.23", "w9")} {
		if err := c2.Observe(context.Background(), &e, func(_ context.Context, x *Context) error { got = append(got, copyContext(x)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if fs := fails(got); len(fs) != 1 || fs[0].Takeover == nil || fs[0].Takeover.Moves[0].To.String() != "192.0.2.66" {
		t.Fatalf("after a restart: %+v", fs)
	}
	if len(snap.Chains) != 1 || len(snap.Moves) != 1 {
		t.Fatalf("snapshot holds %d chains and %d moves, want 1 and 1", len(snap.Chains), len(snap.Moves))
	}
}

// A refresh from an address clears its user's moves away from it. Behind
// a NAT whose users' chains moved, that was a scan of every move from the
// address for each refresh; with 16,384 moves from one address (the cap)
// each refresh from it is now a lookup.
func BenchmarkRefreshBehindANATWithMovedChains(b *testing.B) {
	c := NewCorrelator(NewMemory(Limits{}), 0)
	judge := func(_ context.Context, _ *Context) error { return nil }
	for i := range maxMoves {
		u := user(fmt.Sprintf("uid=u%d,o=T", i))
		for j, ip := range []string{"203.0.113.7", "192.0.2.66"} {
			e := ev(parser.KindTokenOK, time.Duration(j)*time.Second, ip, u)
			if err := c.Observe(context.Background(), &e, judge); err != nil {
				b.Fatal(err)
			}
		}
	}
	e := ev(parser.KindTokenOK, 2*time.Second, "203.0.113.7", user("uid=other,o=T"))
	b.ResetTimer()
	for b.Loop() {
		c.dropMoves(UserOf(&e), c.chains.hasher.hash(UserOf(&e)), e.IP)
	}
}

// At the moves index's cap with none expired, every new move used to
// sweep all 16,384 for one that had: a pass over the index per move, for
// as long as a burst of moves (a VPN's users all changing address) lasted.
func BenchmarkAddMoveAtCap(b *testing.B) {
	c := NewCorrelator(NewMemory(Limits{}), 0)
	users := make([]UserID, 4*maxMoves)
	for i := range users {
		users[i] = UserID{IdP: "k8sIdp", DN: fmt.Sprintf("uid=u%d,o=T", i)}
	}
	move := func(i int) ChainMove {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		return ChainMove{User: users[i%len(users)], From: netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 7)}),
			FromTime: at.Add(-time.Second), To: netip.MustParseAddr("192.0.2.66"), ToTime: at}
	}
	for i := range maxMoves {
		m := move(i)
		c.addMove(c.chains.hasher.hash(m.User), m)
	}
	i := maxMoves
	b.ResetTimer()
	for b.Loop() {
		m := move(i)
		c.addMove(c.chains.hasher.hash(m.User), m)
		i++
	}
	b.StopTimer()
	if c.chains.n > maxMoves {
		b.Fatalf("%d moves kept, over the cap of %d", c.chains.n, maxMoves)
	}
}

// A refresh from an address drops its user's move away from that address,
// and only that one, whether the user's moves are counted (the chain
// index skips looking for them when none are), or were left by a user
// evicted from the index or made before a restart.
func TestRefreshDropsItsMoveAway(t *testing.T) {
	t.Parallel()
	const a, b = "uid=a,o=T", "uid=b,o=T"
	const x, y, z = "198.51.100.23", "192.0.2.66", "203.0.113.7"
	type step struct {
		dn, ip string
		evict  bool // forget every user's last refresh (maxChainUsers), keeping the moves
		reload bool // snapshot and restore the Correlator
	}
	type move struct{ dn, from string }
	for _, tc := range []struct {
		name  string
		steps []step
		want  []move
	}{
		{"moved", []step{{dn: a, ip: x}, {dn: a, ip: y}}, []move{{a, x}}},
		{"moved back", []step{{dn: a, ip: x}, {dn: a, ip: y}, {dn: a, ip: x}}, []move{{a, y}}},
		{"moved on", []step{{dn: a, ip: x}, {dn: a, ip: y}, {dn: a, ip: z}}, []move{{a, x}, {a, y}}},
		{"another user's move stays", []step{{dn: a, ip: x}, {dn: a, ip: y}, {dn: b, ip: x}}, []move{{a, x}}},
		{"evicted, then back", []step{{dn: a, ip: x}, {dn: a, ip: y}, {evict: true}, {dn: a, ip: x}}, nil},
		{"evicted, then elsewhere", []step{{dn: a, ip: x}, {dn: a, ip: y}, {evict: true}, {dn: a, ip: z}, {dn: a, ip: x}}, []move{{a, z}}},
		{"evicted, a new user", []step{{dn: a, ip: x}, {dn: a, ip: y}, {evict: true}, {dn: b, ip: x}, {dn: b, ip: y}, {dn: b, ip: x}}, []move{{a, x}, {b, y}}},
		{"restored, then back", []step{{dn: a, ip: x}, {dn: a, ip: y}, {reload: true}, {dn: a, ip: x}}, []move{{a, y}}},
		{"restored, then on", []step{{dn: a, ip: x}, {dn: a, ip: y}, {reload: true}, {dn: a, ip: z}}, []move{{a, x}, {a, y}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := NewMemory(Limits{})
			c := NewCorrelator(store, 0)
			for i, s := range tc.steps {
				switch {
				case s.evict:
					for c.chains.last.len() > 0 {
						c.chains.removeOldest()
					}
				case s.reload:
					snap := c.Snapshot()
					c = NewCorrelator(store, 0)
					c.Restore(snap)
				default:
					refreshDirect(t, c, time.Duration(i)*30*time.Second, s.ip, user(s.dn))
				}
				checkMoveCounts(t, &c.chains)
			}
			var got []move
			for from, ms := range c.chains.moves {
				for _, m := range ms {
					got = append(got, move{m.User.DN, from.String()})
				}
			}
			sortMoves := func(ms []move) {
				slices.SortFunc(ms, func(p, q move) int { return cmp.Or(strings.Compare(p.dn, q.dn), strings.Compare(p.from, q.from)) })
			}
			sortMoves(got)
			sortMoves(tc.want)
			if !slices.Equal(got, tc.want) || c.chains.n != len(tc.want) || len(c.chains.moved) != len(tc.want) {
				t.Errorf("moves %v (n %d, %d indexed), want %v", got, c.chains.n, len(c.chains.moved), tc.want)
			}
		})
	}
}

// checkMoveCounts checks that every user's moves are counted as many as
// the index holds: on its last refresh when the index has it, else among
// the orphans, which hold no user with none.
func checkMoveCounts(t *testing.T, ch *chains) {
	t.Helper()
	indexed := map[uint64]int32{}
	for k := range ch.moved {
		indexed[k.user]++
	}
	held := map[uint64]bool{}
	_ = ch.last.each(func(l *lastRefresh) error {
		h := ch.hasher.hash(l.user)
		held[h] = true
		if l.moves != indexed[h] {
			t.Errorf("%s: %d moves counted, %d indexed", l.user.DN, l.moves, indexed[h])
		}
		return nil
	})
	for h, n := range indexed {
		if !held[h] && ch.orphanMoves[h] != n {
			t.Errorf("user %x, not held: %d orphan moves counted, %d indexed", h, ch.orphanMoves[h], n)
		}
	}
	for h, n := range ch.orphanMoves {
		if held[h] || n != indexed[h] {
			t.Errorf("user %x: %d orphan moves counted (held: %v), %d indexed", h, n, held[h], indexed[h])
		}
	}
}

// A snapshot keeps every move but only the last refreshes near its newest,
// so a restore can bring back a move whose user it does not: that user's
// moves are then counted as orphans until it refreshes again, and its
// refresh from the address it left must drop the move there (review12).
func TestRestoredOrphanMoveIsDroppedByItsUsersRefresh(t *testing.T) {
	t.Parallel()
	store := NewMemory(Limits{})
	c := NewCorrelator(store, 0)
	refresh := func(dn, ip string, at time.Duration) {
		t.Helper()
		refreshDirect(t, c, at, ip, user(dn))
		checkMoveCounts(t, &c.chains)
	}
	const x = "198.51.100.23"
	refresh("uid=a,o=T", x, 0)
	refresh("uid=a,o=T", "192.0.2.66", time.Minute)
	refresh("uid=b,o=T", "203.0.113.7", 20*time.Minute) // a's last refresh now falls out of the snapshot
	snap := c.Snapshot()
	c = NewCorrelator(store, 0)
	c.Restore(snap)
	checkMoveCounts(t, &c.chains)
	refresh("uid=a,o=T", "203.0.113.9", 21*time.Minute)
	refresh("uid=a,o=T", x, 22*time.Minute)
	for from, ms := range c.chains.moves {
		for _, m := range ms {
			if from.String() == x && m.User.DN == "uid=a,o=T" {
				t.Errorf("a's move away from %s kept after a refreshed from it again", x)
			}
		}
	}
}

// Moves evicted by age leave their users' counts true.
func TestEvictedMovesLeaveTheCountsTrue(t *testing.T) {
	t.Parallel()
	c := NewCorrelator(NewMemory(Limits{}), 0)
	for i, ip := range []string{"198.51.100.23", "192.0.2.66"} {
		refreshDirect(t, c, time.Duration(i)*time.Minute, ip)
	}
	if c.chains.n == 0 {
		t.Fatal("no move was made: the test proves nothing")
	}
	c.evictMoves(t0.Add(time.Hour))
	if c.chains.n != 0 {
		t.Fatalf("%d moves left after evicting all by age", c.chains.n)
	}
	checkMoveCounts(t, &c.chains)
}

// refreshDirect has c observe and judge (with a judge that does nothing) a
// refresh from ip at t0+at whose client attribution saw directly.
func refreshDirect(t *testing.T, c *Correlator, at time.Duration, ip string, opts ...evOpt) {
	t.Helper()
	judge := func(context.Context, *Context) error { return nil }
	e := ev(parser.KindTokenOK, at, ip, opts...)
	e.Attribution = parser.AttrDirect
	if err := c.Observe(context.Background(), &e, judge); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
}

// A scan parks refused refreshes behind another replica's waiting refresh
// at most maxParked at a time: past it the oldest is judged at once
// (counted), and every one is judged by the end.
func TestParkedRefusalsAtTheirCap(t *testing.T) {
	t.Parallel()
	c := NewCorrelator(NewMemory(Limits{}), 0)
	judged := 0
	judge := func(_ context.Context, ctx *Context) error {
		if ctx.Event.Kind == parser.KindTokenFail {
			judged++
		}
		return nil
	}
	observe := func(e parser.Event) {
		t.Helper()
		if err := c.Observe(context.Background(), &e, judge); err != nil {
			t.Fatal(err)
		}
	}
	observe(ev(parser.KindTokenOK, 0, "192.0.2.66", user("uid=a,o=T"), source("ou-0")))
	for i := range maxParked + 1 {
		at := time.Duration(i+1) * time.Microsecond
		th := fmt.Sprint("w", i)
		observe(refusal(at, th))
		observe(azFail(at, "198.51.100.23", th))
	}
	if judged != 1 || c.Stats().RefusalsJudgedEarly != 1 {
		t.Errorf("%d refusals judged while the refresh waits, %d counted early; want 1 and 1", judged, c.Stats().RefusalsJudgedEarly)
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	if judged != maxParked+1 {
		t.Errorf("%d of %d refusals judged by the end", judged, maxParked+1)
	}
}
