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
