package attribute

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// directEvents is OpenUnison's log alone, as a scan merges it: token
// requests of many users through a few private addresses (so the crowd
// heuristic turns some into proxies mid-way), refreshes with their grace
// reuses (the twin cache), logins and failures, in log time order.
func directEvents(seed uint64, n int) []parser.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	peers := []netip.Addr{ctl1, ctl2, netip.MustParseAddr("10.9.0.1"), alice, thief, sidecarInbound}
	kinds := []parser.Kind{parser.KindTokenOK, parser.KindTokenOK, parser.KindTokenOK, parser.KindTokenFail, parser.KindLogin}
	var out []parser.Event
	at := time.Duration(0)
	for i := 0; len(out) < n; i++ {
		at += time.Duration(r.IntN(40)) * time.Second
		thread := fmt.Sprintf("exec-%d", r.IntN(8))
		src := []string{ouA, ouB}[r.IntN(2)]
		ev := ou(kinds[r.IntN(len(kinds))], at, src, peers[r.IntN(len(peers))], thread)
		ev.User = fmt.Sprintf("uid=u%d,o=T", r.IntN(12))
		out = append(out, ev)
		if ev.Kind == parser.KindTokenOK && r.IntN(4) == 0 {
			reuse := ev
			reuse.Kind = parser.KindGraceReuse
			reuse.Time = ev.Time.Add(time.Duration(r.IntN(3)) * 400 * time.Millisecond) // some past twinGap
			out = append(out, reuse)
		}
	}
	return out
}

// Pass must attribute exactly as Push and Release do while no proxy log
// is in sight: the same events out, in the same order, the same counts.
func TestPassAgreesWithRelease(t *testing.T) {
	t.Parallel()
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			evs := directEvents(seed, 3000)
			ref := New(Options{CrowdUsers: 4})
			want := run(ref, evs...)
			wantSt := ref.Stats()

			a := New(Options{CrowdUsers: 4})
			var got []parser.Event
			for _, ev := range evs {
				if !a.Pass(&ev, ev.Time) {
					t.Fatal("Pass declined with no proxy in sight")
				}
				got = append(got, ev)
			}
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("event %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
					}
				}
				t.Fatalf("got %d events, want %d", len(got), len(want))
			}
			if st := a.Stats(); !reflect.DeepEqual(st, wantSt) {
				t.Errorf("stats differ:\n got %+v\nwant %+v", st, wantSt)
			}
			if wantSt.Proxies <= 1 || wantSt.Outcomes[parser.AttrUnattributed] == 0 {
				t.Errorf("the crowd made no proxy (%+v): the case proves nothing", wantSt)
			}
		})
	}
}

// PassClock must attribute exactly as Push and Release do with the same
// per-source clock (a watcher's: each log read at its own pace), and leave
// the expiry clock where Release would, so that the proxy records of a log
// that shows itself later expire (and count as unmatched) as they would.
func TestPassClockAgreesWithRelease(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			evs := directEvents(seed, 2000)
			last := evs[len(evs)-1].Time.Sub(t0)
			// Then a proxy's log shows itself: its records, and token
			// events that wait for them, take Push and Release in both.
			for i := range 40 {
				at := last + time.Duration(i)*700*time.Millisecond
				evs = append(evs, nginx(ngx1, at, alice, podA, 200, kubectlAgent),
					ou(parser.KindTokenOK, at, []string{ouA, ouB}[i%2], ctl1, fmt.Sprintf("p%d", i)))
			}
			ref, a := New(Options{CrowdUsers: 4}), New(Options{CrowdUsers: 4})
			var want, got []parser.Event
			read := map[string]time.Time{} // how far each log was read
			clock := func(src string) time.Time { return read[src] }
			passed := 0
			for _, ev := range evs {
				read[ev.Source], read[""] = ev.Time, ev.Time
				ref.Push(ev, t0)
				want = ref.Release(want, clock, t0)
				if a.PassClock(&ev, clock) {
					passed++
					got = append(got, ev)
					if !a.expired.Equal(ref.expired) {
						t.Fatalf("at %v: expiry clock %v, want %v", ev.Time, a.expired, ref.expired)
					}
					continue
				}
				a.Push(ev, t0)
				got = a.Release(got, clock, t0)
				if !a.expired.Equal(ref.expired) {
					t.Fatalf("at %v: expiry clock %v, want %v", ev.Time, a.expired, ref.expired)
				}
			}
			want, got = ref.Flush(want), a.Flush(got)
			if !reflect.DeepEqual(got, want) {
				for i := range min(len(got), len(want)) {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("event %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
					}
				}
				t.Fatalf("got %d events, want %d", len(got), len(want))
			}
			if st, wantSt := a.Stats(), ref.Stats(); !reflect.DeepEqual(st, wantSt) {
				t.Errorf("stats differ:\n got %+v\nwant %+v", st, wantSt)
			}
			if passed < 2000 || passed == len(evs) {
				t.Errorf("PassClock took %d of %d events: the case proves nothing", passed, len(evs))
			}
		})
	}
}

// Once a proxy's record arrives, Pass declines and events wait for their
// records as before.
func TestPassDeclinesBehindProxies(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	ev := ou(parser.KindTokenOK, 0, ouA, ctl1, "exec-1")
	if !a.Pass(&ev, ev.Time) {
		t.Fatal("Pass declined before any proxy")
	}
	rec := nginx(ngx1, time.Second, alice, podA, 200, kubectlAgent)
	if a.Pass(&rec, rec.Time) {
		t.Fatal("Pass took a proxy record")
	}
	a.Push(rec, time.Time{})
	ev = ou(parser.KindTokenOK, time.Second, ouA, ctl1, "exec-2")
	if a.Pass(&ev, ev.Time) {
		t.Fatal("Pass took a token event with a proxy log in sight")
	}
	a2 := New(Options{Expect: true})
	if a2.Pass(&ev, ev.Time) {
		t.Fatal("Pass took a token event when proxies are expected")
	}
}

// The twin cache finds a reuse's AzSuccess when lines of a lagging source
// were put after newer ones, and forgets it past twinGap, past twinKeep
// behind the newest line, or past its cap.
func TestTwinCacheOutOfOrder(t *testing.T) {
	t.Parallel()
	var c twinCache
	tok := ou(parser.KindTokenOK, 10*time.Second, ouA, ctl1, "exec-1")
	c.put(&tok, result{attr: parser.AttrJoined, via: "the twin"})
	for i := range 50 { // a newer source's lines, put later
		o := ou(parser.KindTokenOK, 18*time.Second+time.Duration(i)*time.Millisecond, ouB, ctl2, fmt.Sprintf("t%d", i))
		c.put(&o, result{})
	}
	for i := range 50 { // the lagging source's later lines, older than the newer source's
		o := ou(parser.KindTokenOK, 10*time.Second+time.Duration(i)*time.Millisecond, ouA, ctl2, fmt.Sprintf("lag%d", i))
		c.put(&o, result{})
	}
	reuse := tok
	reuse.Kind = parser.KindGraceReuse
	reuse.Time = tok.Time.Add(300 * time.Millisecond)
	if res, ok := c.get(&reuse); !ok || res.via != "the twin" {
		t.Errorf("get = %+v, %v; want the twin", res, ok)
	}
	if c.n != 101 {
		t.Errorf("holds %d lines, want all 101 (within twinKeep)", c.n)
	}
	late := reuse
	late.Time = tok.Time.Add(twinGap + time.Millisecond)
	if _, ok := c.get(&late); ok {
		t.Error("found a twin past twinGap")
	}
	if _, ok := c.get(&tok); ok {
		t.Error("a token_ok found a twin: only reuses look one up")
	}

	// Lines far newer: the old ones make room instead of the ring growing.
	size := len(c.ring)
	for i := range size {
		o := ou(parser.KindTokenOK, 20*time.Second+twinKeep+time.Duration(i), ouB, ctl2, fmt.Sprintf("n%d", i))
		c.put(&o, result{})
	}
	if len(c.ring) != size {
		t.Errorf("ring grew from %d to %d for lines past twinKeep", size, len(c.ring))
	}
	if _, ok := c.get(&reuse); ok {
		t.Error("found a twin more than twinKeep behind the newest line")
	}

	// Lines all within twinKeep: the ring grows to its cap, then wraps.
	var d twinCache
	d.put(&tok, result{via: "the twin"})
	for i := range maxTwins {
		o := ou(parser.KindTokenOK, 10*time.Second+time.Duration(i), ouB, ctl2, fmt.Sprintf("w%d", i))
		d.put(&o, result{})
	}
	if _, ok := d.get(&reuse); ok {
		t.Error("found a twin overwritten past maxTwins")
	}
	if len(d.ring) != maxTwins || d.n != maxTwins {
		t.Errorf("ring holds %d of %d, cap %d", d.n, len(d.ring), maxTwins)
	}
}

// Once idle, the twin cache keeps only the lines a reuse still to come
// could be the twin of (the last twinHold), in a ring sized to them, and
// takes new lines after.
func TestTwinCacheTrimWhenIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lines    int
		every    time.Duration
		wantKept int
	}{
		{"a burst past the cap", maxTwins + 500, time.Millisecond, 2001},
		{"a second of lines", 100, 10 * time.Millisecond, 100},
		{"one line", 1, 0, 1},
		{"none", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c twinCache
			var last parser.Event
			for i := range tt.lines {
				last = ou(parser.KindTokenOK, 10*time.Second+time.Duration(i)*tt.every, ouA, ctl1, fmt.Sprintf("s%d", i))
				c.put(&last, result{via: fmt.Sprintf("s%d", i)})
			}
			c.trim()
			if c.n != tt.wantKept || len(c.ring) > max(tt.wantKept, 1) {
				t.Fatalf("kept %d in a ring of %d, want %d in a ring that size", c.n, len(c.ring), tt.wantKept)
			}
			if tt.lines > 0 {
				reuse := last
				reuse.Kind = parser.KindGraceReuse
				reuse.Time = last.Time.Add(time.Millisecond)
				if res, ok := c.get(&reuse); !ok || res.via != last.Thread {
					t.Errorf("the newest line's reuse: get = %+v, %v; want its twin", res, ok)
				}
			}
			next := ou(parser.KindTokenOK, 30*time.Second, ouA, ctl1, "after")
			c.put(&next, result{via: "after"})
			reuse := next
			reuse.Kind = parser.KindGraceReuse
			if res, ok := c.get(&reuse); !ok || res.via != "after" {
				t.Errorf("a line put after the trim: get = %+v, %v; want its twin", res, ok)
			}
		})
	}
}

// Two sources read one after the other (a catch-up over several files):
// the second's lines are all older than the first's newest, yet the ring
// still lets the lines of a source that moved on go rather than growing to
// maxTwins, and the idle trim keeps the last twinHold of each.
func TestTwinCacheSourcesReadOneAfterAnother(t *testing.T) {
	t.Parallel()
	var c twinCache
	const lines, every = 2000, 10 * time.Millisecond // 20 s of each
	for _, src := range []string{ouA, ouB} {
		for i := range lines {
			o := ou(parser.KindTokenOK, time.Duration(i)*every, src, ctl1, fmt.Sprintf("%s-%d", src, i))
			c.put(&o, result{via: o.Thread})
		}
	}
	if len(c.ring) > 1024 {
		t.Errorf("ring grew to %d for 2 s of lines of each source", len(c.ring))
	}
	reuse := ou(parser.KindGraceReuse, (lines-1)*every+time.Millisecond, ouB, ctl1, fmt.Sprintf("%s-%d", ouB, lines-1))
	if res, ok := c.get(&reuse); !ok || res.via != reuse.Thread {
		t.Fatalf("before the trim: get = %+v, %v; want its twin", res, ok)
	}
	c.trim()
	if want := 2 * 201; c.n != want || len(c.ring) != want {
		t.Errorf("trim kept %d in a ring of %d, want the last twinHold of each source, %d", c.n, len(c.ring), want)
	}
	for _, src := range []string{ouA, ouB} {
		reuse := ou(parser.KindGraceReuse, (lines-1)*every+time.Millisecond, src, ctl1, fmt.Sprintf("%s-%d", src, lines-1))
		if res, ok := c.get(&reuse); !ok || res.via != reuse.Thread {
			t.Errorf("after the trim, %s: get = %+v, %v; want its twin", src, res, ok)
		}
	}
}

// The crowd heuristic: an address becomes a proxy at CrowdUsers distinct
// users within CrowdWindow; one user's many requests, or users spread
// wider than the window, do not make it one.
func TestCrowdNote(t *testing.T) {
	t.Parallel()
	opt := Options{}
	opt.defaults()
	tests := []struct {
		name  string
		users []string      // in order, one a minute apart unless spread
		every time.Duration // between two notes
		want  []bool        // note's answer for each
	}{
		{"one user, many requests", []string{"a", "a", "a", "a", "a", "a"}, time.Second, []bool{false, false, false, false, false, false}},
		{"five users", []string{"a", "b", "a", "c", "d", "e"}, time.Second, []bool{false, false, false, false, false, true}},
		{"five users wider than the window", []string{"a", "b", "c", "d", "e"}, opt.CrowdWindow / 3, []bool{false, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c crowd
			c.init()
			for i, u := range tt.users {
				ev := ou(parser.KindTokenOK, time.Duration(i)*tt.every, ouA, ctl1, "t")
				ev.Peer, ev.User = ctl1, "uid="+u
				if got := c.note(&ev, &opt); got != tt.want[i] {
					t.Fatalf("note %d (%s) = %v, want %v", i, u, got, tt.want[i])
				}
			}
		})
	}
}

// The crowd keeps each address's users apart, lets an address go once it
// is a proxy (its place taken by the next address, which inherits none of
// its users), and starts afresh at maxCrowd addresses; its places never
// outnumber the most addresses watched at once.
func TestCrowdAddresses(t *testing.T) {
	t.Parallel()
	opt := Options{}
	opt.defaults()
	type note struct {
		peer, user string
		want       bool
	}
	five := func(peer string) []note { // four users, then the fifth makes it a proxy
		return []note{{peer, "a", false}, {peer, "b", false}, {peer, "c", false}, {peer, "d", false}, {peer, "e", true}}
	}
	tests := []struct {
		name   string
		fill   int // addresses of one user each, noted first
		notes  []note
		places int // len(peers) at the end
	}{
		{"two addresses interleaved", 0, []note{
			{"10.0.0.1", "a", false}, {"10.0.0.2", "x", false}, {"10.0.0.1", "b", false}, {"10.0.0.2", "x", false},
			{"10.0.0.1", "c", false}, {"10.0.0.2", "y", false}, {"10.0.0.1", "d", false}, {"10.0.0.1", "e", true},
			{"10.0.0.2", "z", false},
		}, 2},
		{"a proxy's place goes to the next address", 0, append(append(five("10.0.0.1"),
			note{"10.0.0.3", "a", false}, note{"10.0.0.3", "b", false}), five("10.0.0.3")...), 1},
		{"a proxy seen again starts afresh", 0, append(five("10.0.0.1"), note{"10.0.0.1", "z", false}, note{"10.0.0.1", "y", false}), 1},
		{"public addresses are not watched", 0, []note{{"203.0.113.1", "a", false}, {"203.0.113.1", "b", false}}, 0},
		{"at maxCrowd addresses, afresh", maxCrowd, []note{
			{"10.1.0.1", "a", false}, {"10.1.0.1", "b", false}, {"10.1.0.1", "c", false}, {"10.1.0.1", "d", false},
			{"10.9.9.9", "a", false}, // the cap: every address is forgotten
			{"10.1.0.1", "e", false},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c crowd
			c.init()
			at := time.Duration(0)
			do := func(peer, user string) bool {
				at += time.Second
				ev := ou(parser.KindTokenOK, at, ouA, netip.MustParseAddr(peer), "t")
				ev.Peer, ev.User = ev.IP, "uid="+user
				got := c.note(&ev, &opt)
				if len(c.peers) != len(c.at)+len(c.free) || len(c.peers) > maxCrowd {
					t.Fatalf("%d places for %d addresses and %d free", len(c.peers), len(c.at), len(c.free))
				}
				return got
			}
			for i := range tt.fill {
				do(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String(), "f")
			}
			for i, n := range tt.notes {
				if got := do(n.peer, n.user); got != n.want {
					t.Fatalf("note %d (%s by %s) = %v, want %v", i, n.user, n.peer, got, n.want)
				}
			}
			if len(c.peers) != tt.places {
				t.Errorf("%d places at the end, want %d", len(c.peers), tt.places)
			}
		})
	}
}

// movedPast is expireTo's t.Sub(u) < 0 || t.Sub(u) >= d without Sub:
// the same answer at the edges of the nanoseconds, the seconds, its clamp,
// and for times Sub saturates on.
func TestMovedPast(t *testing.T) {
	t.Parallel()
	u := time.Date(2026, 11, 23, 10, 0, 0, 900_000_000, time.UTC)
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name string
		t, u time.Time
	}{
		{"equal", u, u},
		{"1ns before", u.Add(-time.Nanosecond), u},
		{"just short of d", u.Add(expireEvery - time.Nanosecond), u},
		{"d exactly, across a second", u.Add(expireEvery), u},
		{"a second less 1ns", u.Add(time.Second - time.Nanosecond), u},
		{"2 s less 1ns", u.Add(2*time.Second - time.Nanosecond), u},
		{"3 s, clamped", u.Add(3 * time.Second), u},
		{"-1 s and a little", u.Add(-1100 * time.Millisecond), u},
		{"-3 s, clamped", u.Add(-3 * time.Second), u},
		{"the same instant in another zone", u.In(est), u},
		{"d later, in another zone", u.Add(expireEvery).In(est), u},
		{"from the zero time", u, time.Time{}},
		{"to the zero time", time.Time{}, u},
		{"Quiet", Quiet, u},
		{"back from Quiet", u, Quiet},
	}
	for _, tt := range tests {
		want := tt.t.Sub(tt.u) < 0 || tt.t.Sub(tt.u) >= expireEvery
		if got := movedPast(tt.t, tt.u, expireEvery); got != want {
			t.Errorf("%s: movedPast(%v, %v) = %v, want %v", tt.name, tt.t, tt.u, got, want)
		}
	}
	r := rand.New(rand.NewPCG(3, 3))
	for range 100_000 {
		v := u.Add(time.Duration(r.Int64N(int64(6*time.Second))) - 3*time.Second)
		w := v.Add(time.Duration(r.Int64N(int64(6*time.Second))) - 3*time.Second)
		want := w.Sub(v) < 0 || w.Sub(v) >= expireEvery
		if got := movedPast(w, v, expireEvery); got != want {
			t.Fatalf("movedPast(%v, %v) = %v, want %v", w, v, got, want)
		}
	}
}
