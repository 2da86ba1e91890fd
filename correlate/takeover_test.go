package correlate

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"net/netip"
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

func TestMovesAreBounded(t *testing.T) {
	t.Parallel()
	c := NewCorrelator(NewMemory(Limits{}), 0)
	judge := func(_ context.Context, _ *Context) error { return nil }
	for i := range maxMoves + 10 {
		u := user(fmt.Sprintf("uid=u%d,o=T", i))
		for j, ip := range []string{"203.0.113.7", "192.0.2.66"} {
			e := ev(parser.KindTokenOK, time.Duration(j)*time.Second, ip, u)
			if err := c.Observe(context.Background(), &e, judge); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Flush(context.Background(), judge); err != nil {
		t.Fatal(err)
	}
	if c.chains.n > maxMoves || c.Stats().MovesEvicted != 10 {
		t.Fatalf("%d moves kept, %d evicted; want at most %d and 10", c.chains.n, c.Stats().MovesEvicted, maxMoves)
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
		c.dropMoves(UserOf(&e), e.IP)
	}
}
