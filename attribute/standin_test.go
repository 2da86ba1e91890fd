package attribute

import (
	"bufio"
	"cmp"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/parser"
)

// TestPairProofOnASimulatedRun replays a run of graceguard simulate behind
// its ingress-nginx stand-in (3 users, 5 operations a second: refreshes,
// client-go races and replays): a second of nginx's log holds a dozen
// token records of three homes and their thieves. Proving that a replay
// is another client than its refresh means showing that no way of sharing
// the second's records out gives both the same client, and the proxy's
// order settles that at once: the requests that came after the replay was
// over have too few records left after the ones the pair would take. The
// search looked for that only after ordering every earlier request, gave
// up at its step bound on most of the run's replays, and a run whose every
// user's replays gave up alerted on none (cmd/graceguard's
// TestSimulatedReplaysBehindTheStandInAlert). A race is one client's: no
// proof.
func TestPairProofOnASimulatedRun(t *testing.T) {
	t.Parallel()
	var evs []parser.Event
	for _, in := range []struct{ file, src string }{
		{"openunison.log", "openunison.log"}, {"ingress.log", "ingress.log"},
	} {
		evs = append(evs, readLog(t, filepath.Join("testdata", "standin", in.file), in.src)...)
	}
	// Merged as scan merges its inputs: by time, a token line before a
	// proxy record of the same time, each log in its own order.
	slices.SortStableFunc(evs, func(x, y parser.Event) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return cmp.Compare(rank(x.Kind), rank(y.Kind))
	})
	out := run(New(Options{}), evs...)

	// The simulator's truth: the replays accepted in grace (OpenUnison's
	// time, the user), each with its thief and whether the proof is
	// expected; every other reuse is a race, its user's own.
	replays := map[string]struct {
		thief  string
		proved bool
	}{
		"19.075 sim0002": {"192.0.2.77", true}, "19.223 sim0003": {"192.0.2.64", true}, "19.425 sim0001": {"192.0.2.119", true},
		"20.394 sim0003": {"192.0.2.78", true}, "21.420 sim0002": {"192.0.2.123", true},
		// At a second's edge (its refresh's record in 19, its own in 20),
		// with two busy seconds of requests around it, more than the
		// proof's 16: the rivals it leaves out leave a way open.
		"20.000 sim0001": {"192.0.2.44", false},
	}
	reuses := 0
	for _, ev := range out {
		if ev.Kind != parser.KindGraceReuse {
			continue
		}
		reuses++
		user, _, _ := strings.Cut(strings.TrimPrefix(ev.User, "uid="), ",")
		key := ev.Time.Format("05.000") + " " + user
		r, replay := replays[key]
		switch {
		case ev.DistinctFromPrev != r.proved:
			t.Errorf("%s (replay %v, from %q): proved another client %v, want %v (%s %v)",
				key, replay, r.thief, ev.DistinctFromPrev, r.proved, ev.Attribution, ev.Candidates)
		case !slices.ContainsFunc(ev.Candidates, func(a netip.Addr) bool { return a.String() == r.thief }) && replay:
			t.Errorf("%s: the thief %s not among the candidates %v", key, r.thief, ev.Candidates)
		}
	}
	if reuses != 12 {
		t.Errorf("%d grace reuses released, want the log's 12", reuses)
	}
}

// rank is scan's order of events of one time from different logs.
func rank(k parser.Kind) int {
	if k == parser.KindTokenOK || k == parser.KindLogin {
		return 0
	}
	return 1
}

// readLog parses a log file's lines as source src.
func readLog(t *testing.T, path, src string) []parser.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []parser.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ev, err := parser.Parse(sc.Bytes(), nil)
		if err != nil {
			if strings.Contains(sc.Text(), tokenPath) {
				t.Fatalf("%s: %v", path, err)
			}
			continue // the discovery document: no token request
		}
		ev.Source = src
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
