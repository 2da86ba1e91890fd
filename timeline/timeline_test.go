package timeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/golden"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/timeline"
)

// build scans an hour of the lifecycle scenario and returns user's timeline.
func build(t *testing.T, user string, withGeo bool) *timeline.Timeline {
	t.Helper()
	var log bytes.Buffer
	if _, err := loggen.Lifecycle(&log, loggen.LifecycleConfig{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	opt := pipeline.ScanOptions{Rules: rules.Builtin(), Deliver: func(context.Context, []alert.Alert) error { return nil }}
	if withGeo {
		db, err := geo.Demo()
		if errors.Is(err, geo.ErrNoDemo) {
			t.Skip("built without the demo GeoIP databases (nogeoipdemo)")
		}
		if err != nil {
			t.Fatal(err)
		}
		opt.Geo = db
	}
	tl := timeline.New(user)
	opt.Observer = tl.Observe
	if _, err := pipeline.Scan(context.Background(), []pipeline.Input{{Name: "openunison.log", R: &log}}, opt); err != nil {
		t.Fatal(err)
	}
	return tl
}

func TestTimelineGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, user string
		geo, json  bool
	}{
		// A chain taken outside the grace period: the thief's refreshes
		// interleave with the victim's new chain, the refusal in between.
		{"taken", "uid=takenvictim0,ou=shadow,o=Tremolo", true, false},
		{"taken-json", "uid=takenvictim0,ou=shadow,o=Tremolo", true, true},
		// A bot replaying 5 ms after a refresh, no GeoIP; named by uid.
		{"replay", "botvictim0", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tl := build(t, tc.user, tc.geo)
			var out bytes.Buffer
			write := tl.WriteText
			if tc.json {
				write = tl.WriteJSON
			}
			if err := write(&out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/"+tc.name+".golden", out.Bytes())
		})
	}
}

func TestTimelineContents(t *testing.T) {
	t.Parallel()
	tl := build(t, "uid=takenvictim0,ou=shadow,o=Tremolo", false)
	tl.Finish()
	kinds := map[string]int{}
	alerted := false
	for i, e := range tl.Entries {
		kinds[e.What]++
		if i > 0 && e.Time.Before(tl.Entries[i-1].Time) {
			t.Fatalf("entry %d out of order", i)
		}
		for _, a := range e.Alerts {
			alerted = alerted || a == "high chain-takeover"
		}
	}
	if kinds["refresh"] < 30 || kinds["refused"] != 1 || kinds["login"] != 1 || !alerted {
		t.Fatalf("entries %v, chain-takeover shown %v; want the refreshes, one refusal, one login and the alert", kinds, alerted)
	}
	if empty := build(t, "uid=nobody,o=T", false); len(empty.Entries) != 0 {
		t.Fatalf("%d entries for a user not in the log", len(empty.Entries))
	}
}

// Behind a proxy the address of an ambiguous or unattributed event is the
// proxy's: the entry says so instead of passing it off as the client.
func TestTimelineSaysWhenTheClientIsUnknown(t *testing.T) {
	t.Parallel()
	const dn = "uid=a,o=T"
	tl := timeline.New(dn)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddr("10.1.67.12")
	for i, tc := range []struct {
		attr  parser.Attribution
		cands []netip.Addr
		want  string
	}{
		{parser.AttrAmbiguous, []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.7")}, "ambiguous:one-of=192.0.2.2,198.51.100.7"},
		{parser.AttrUnattributed, nil, "unattributed:proxy-log-missing"},
	} {
		ev := parser.Event{Kind: parser.KindTokenOK, Time: at.Add(time.Duration(i) * time.Second), User: dn, IP: peer, Peer: peer,
			Attribution: tc.attr, Candidates: tc.cands, Source: "ou.log"}
		tl.Observe(&correlate.Context{Event: &ev}, nil)
		if got := tl.Entries[i].Flags; !slices.Contains(got, tc.want) {
			t.Errorf("%s: flags %q lack %q", tc.attr, got, tc.want)
		}
	}
}

// A service account refreshing all month has more than MaxEntries entries:
// the latest are kept, in log order, and each entry past the cap costs what
// one under it does (shifting the whole timeline down for each made a
// timeline of 250,000 refreshes run for minutes). The cost is the observing
// thread's CPU time where it can be read, and the entries past the cap are
// held to a multiple of what as many under it cost: a bound in wall time
// (20 s) was passed by a run that takes 4 s alone, on two cores running
// the suite's packages at once under the race detector.
func TestTimelineKeepsTheLatestEntriesInLinearTime(t *testing.T) {
	t.Parallel()
	const dn = "uid=svc,o=T"
	tl := timeline.New(dn)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("192.0.2.7")
	total := 2*timeline.MaxEntries + 7
	observe := func(i int) {
		ev := parser.Event{Kind: parser.KindTokenOK, Time: at.Add(time.Duration(i) * time.Millisecond), User: dn, IP: ip, Source: "ou.log", Offset: int64(i)}
		tl.Observe(&correlate.Context{Event: &ev}, nil)
	}
	slow := make(chan string, 1) // what was too slow; "" when nothing was
	go func() {
		runtime.LockOSThread() // for cputime.Thread
		defer runtime.UnlockOSThread()
		clock := func() time.Duration { d, _ := cputime.Thread(); return d }
		if _, ok := cputime.Thread(); !ok {
			start := time.Now()
			clock = func() time.Duration { return time.Since(start) }
		}
		start := clock()
		for i := range timeline.MaxEntries {
			observe(i)
		}
		under := clock() - start
		// Shifted down, each entry past the cap moves 100,000 entries:
		// hundreds of times what one under it costs. The margin is for
		// the garbage collector, whose work falls on the thread unevenly.
		limit := 4 * under
		start = clock()
		for i := timeline.MaxEntries; i < total; i++ {
			observe(i)
			if i%1000 == 0 || i == total-1 {
				if past := clock() - start; past > limit {
					slow <- fmt.Sprintf("%d entries past the cap took %v, over 4 times what %d under it took (%v): each entry past the cap must not move the others",
						i+1-timeline.MaxEntries, past, timeline.MaxEntries, under)
					return
				}
			}
		}
		slow <- ""
	}()
	if msg := <-slow; msg != "" {
		t.Fatal(msg)
	}
	tl.Finish()
	if len(tl.Entries) != timeline.MaxEntries || tl.Dropped != total-timeline.MaxEntries {
		t.Fatalf("%d entries, %d dropped; want %d and %d", len(tl.Entries), tl.Dropped, timeline.MaxEntries, total-timeline.MaxEntries)
	}
	for i, e := range tl.Entries {
		if want := fmt.Sprintf("ou.log:%d", total-timeline.MaxEntries+i); e.Source != want {
			t.Fatalf("entry %d is %s, want %s: the latest, in log order", i, e.Source, want)
		}
	}
	tl.Finish() // writing twice (text, then JSON) keeps the order
	if e := tl.Entries[0]; e.Source != fmt.Sprintf("ou.log:%d", total-timeline.MaxEntries) {
		t.Fatalf("after a second Finish the first entry is %s", e.Source)
	}
}
