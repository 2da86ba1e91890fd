package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// TestScanOfRotatedGenerationsFindsWhatTheWholeLogDoes cuts the sample log
// into generations as logrotate leaves them, at every line, and scans them
// as `graceguard scan openunison.log*` does, or without the log itself:
// the alerts must be the whole log's. A grace reuse's [AzSuccess] twin logged just before a rotation
// and its [ExpiredRefreshTokenUsed] just after were told apart by file:
// the twin was learned as the user's refresh from the thief's address,
// which then was no longer new (reuse-new-ip and reuse-ip-mismatch lost).
func TestScanOfRotatedGenerationsFindsWhatTheWholeLogDoes(t *testing.T) {
	t.Parallel()
	whole := filepath.Join("..", "testdata", "openunison", "sample.log")
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	want := scanFiles(t, []string{whole})
	if len(want) == 0 {
		t.Fatal("the sample log raised no alert: nothing to compare")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, tc := range []struct {
		name         string
		older, newer string // the rotated generation's name and the log's, or a newer generation's
		gzipped      bool
	}{
		{"numbered", "openunison.log.1", "openunison.log", false},
		{"dateext compressed", "openunison.log-20261123.gz", "openunison.log", true},
		// Generations named without their log (forensics on rotated
		// files alone: `graceguard scan openunison.log.2 openunison.log.1`).
		{"numbered, without the log", "openunison.log.2", "openunison.log.1", false},
		{"numbered, without the log, the older compressed", "openunison.log.2.gz", "openunison.log.1", true},
		{"dateext, without the log", "openunison.log-20261122.gz", "openunison.log-20261123", true},
		{"the kubelet's, without the log", "0.log.20261123-095959", "0.log.20261123-101500", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for cut := 1; cut < len(lines); cut++ {
				dir := t.TempDir()
				older := bytes.Join(lines[:cut], nil)
				if tc.gzipped {
					older = gzipped(t, older)
				}
				writeFile(t, filepath.Join(dir, tc.older), string(older))
				writeFile(t, filepath.Join(dir, tc.newer), string(bytes.Join(lines[cut:], nil)))
				got := scanFiles(t, []string{filepath.Join(dir, tc.newer), filepath.Join(dir, tc.older)})
				if !slices.Equal(got, want) {
					t.Fatalf("cut after line %d (%q): alerts\n  %s\nwant the whole log's\n  %s",
						cut, strings.TrimSpace(string(lines[cut-1]))[:40], strings.Join(got, "\n  "), strings.Join(want, "\n  "))
				}
			}
		})
	}
}

// TestScanKeepsReplicasApart: two replicas' logs whose names are not one
// log's generations are judged as two logs, each thread its own, even
// where one's name starts with the other's.
func TestScanKeepsReplicasApart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"openunison.log", "openunison.log.1", true},
		{"openunison.log", "openunison.log-20261123.gz", true},
		{"0.log", "0.log.20261123-101500", true},
		{"openunison.log", "openunison.log", true},
		{"pod-a.log", "pod-b.log", false},
		{"openunison-0", "openunison-1", false},
		{"openunison.log", "openunison.logs", false},
		{"openunison.log", "other/openunison.log.1", false},
		{"-", "-.1", false},
	} {
		names := logNames([]Input{{Name: tc.a}, {Name: tc.b}})
		if got := names[0] == names[1]; got != tc.same {
			t.Errorf("%s and %s: one log %v, want %v (names %q)", tc.a, tc.b, got, tc.same, names)
		}
		if names[0] != tc.a {
			t.Errorf("%s named %q, want its own name", tc.a, names[0])
		}
	}
}

// Files named as one log's generations whose times overlap are not one
// log: replicas' logs saved as openunison.log.0 and openunison.log.1 are
// judged apart, each thread its own, as under names that are no
// generations. The sample's lines dealt to the two alternately part each
// request's lines, so the replicas' alerts differ from the whole log's,
// and judging them as one log would join them again.
func TestScanKeepsOverlappingGenerationsApart(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "openunison", "sample.log"))
	if err != nil {
		t.Fatal(err)
	}
	var a, b strings.Builder
	for i, l := range bytes.SplitAfter(data, []byte("\n")) {
		if i%2 == 0 {
			a.Write(l)
		} else {
			b.Write(l)
		}
	}
	scanAs := func(nameA, nameB string) []string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, nameA), a.String())
		writeFile(t, filepath.Join(dir, nameB), b.String())
		return scanFiles(t, []string{filepath.Join(dir, nameA), filepath.Join(dir, nameB)})
	}
	apart := scanAs("replica-a.log", "replica-b.log")
	if slices.Equal(apart, scanFiles(t, []string{filepath.Join("..", "testdata", "openunison", "sample.log")})) {
		t.Fatal("the replicas' alerts are the whole log's: the test could not tell them joined")
	}
	for _, names := range [][2]string{{"openunison.log.0", "openunison.log.1"}, {"openunison.log.1", "openunison.log.0"}} {
		if got := scanAs(names[0], names[1]); !slices.Equal(got, apart) {
			t.Errorf("%s and %s: alerts\n  %s\nwant the replicas' apart\n  %s", names[0], names[1], strings.Join(got, "\n  "), strings.Join(apart, "\n  "))
		}
	}
}

// The merge joins a log's generations named without it one after another:
// each file takes the log's name at its first event if the files under it
// have ended, and two heads of one millisecond go oldest generation first,
// whatever their kinds, as the log wrote them (a newer file's refresh
// taken before an older one's reuse of the same millisecond would find the
// older still being read, and stay apart).
func TestMergeJoinsGenerationsOneAfterAnother(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(mustDuration(t, s))
	}
	ev := func(file, when string, kind parser.Kind) parser.Event {
		return parser.Event{Source: file, Time: at(when), Kind: kind}
	}
	for _, tc := range []struct {
		name  string
		files map[string][]parser.Event
		want  []string // file>source of each event, in the merge's order
	}{
		{"one after another", map[string][]parser.Event{
			"ou.log.2": {ev("ou.log.2", "1s", parser.KindTokenOK), ev("ou.log.2", "2s", parser.KindGraceReuse)},
			"ou.log.1": {ev("ou.log.1", "3s", parser.KindTokenOK)},
		}, []string{"ou.log.2>ou.log", "ou.log.2>ou.log", "ou.log.1>ou.log"}},
		{"one millisecond across the rotation", map[string][]parser.Event{
			"ou.log.2": {ev("ou.log.2", "1s", parser.KindTokenOK), ev("ou.log.2", "2s", parser.KindGraceReuse)},
			"ou.log.1": {ev("ou.log.1", "2s", parser.KindTokenOK)},
		}, []string{"ou.log.2>ou.log", "ou.log.2>ou.log", "ou.log.1>ou.log"}},
		{"overlapping: replicas", map[string][]parser.Event{
			"ou.log.0": {ev("ou.log.0", "1s", parser.KindTokenOK), ev("ou.log.0", "3s", parser.KindTokenOK)},
			"ou.log.1": {ev("ou.log.1", "2s", parser.KindTokenOK), ev("ou.log.1", "4s", parser.KindTokenOK)},
		}, []string{"ou.log.0>ou.log", "ou.log.1>ou.log.1", "ou.log.0>ou.log", "ou.log.1>ou.log.1"}},
		{"a third after the first ended, beside the second", map[string][]parser.Event{
			"ou.log.3": {ev("ou.log.3", "1s", parser.KindTokenOK)},
			"ou.log.2": {ev("ou.log.2", "1.5s", parser.KindTokenOK), ev("ou.log.2", "3s", parser.KindTokenOK)},
			"ou.log.1": {ev("ou.log.1", "2s", parser.KindTokenOK)},
		}, []string{"ou.log.3>ou.log", "ou.log.2>ou.log", "ou.log.1>ou.log.1", "ou.log.2>ou.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []Input
			for name := range tc.files {
				inputs = append(inputs, Input{Name: name})
			}
			slices.SortFunc(inputs, func(a, b Input) int { return strings.Compare(a.Name, b.Name) })
			srcs := make([]eventSource, len(inputs))
			for i, in := range inputs {
				srcs[i] = &sliceSource{evs: tc.files[in.Name]}
			}
			var got []string
			obs := observer{
				observe: func(_ context.Context, ev *parser.Event) error {
					got = append(got, ev.FileName()+">"+ev.Source)
					return nil
				},
				expect: func() {},
				end:    func(context.Context) error { return nil },
			}
			if err := mergeJoining(context.Background(), srcs, unnamedLogs(inputs, logNames(inputs)), obs); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("merged %q, want %q", got, tc.want)
			}
		})
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// generationOf reads a generation's name by its suffix alone: logrotate's
// numbers and dates, the kubelet's timestamps, compressed or not; never a
// replica's "-N" nor a name that is all suffix.
func TestGenerationOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, log string
		ok        bool
	}{
		{"openunison.log.1", "openunison.log", true},
		{"openunison.log.12.gz", "openunison.log", true},
		{"logs/openunison.log-20261123.gz", "logs/openunison.log", true},
		{"openunison.log.20261123", "openunison.log", true},
		{"0.log.20261123-101500", "0.log", true},
		{"0.log.20261123-101500.gz", "0.log", true},
		{"openunison-0", "", false},
		{"openunison_1", "", false},
		{"openunison.log", "", false},
		{"openunison.log.123456789", "", false},
		{"openunison.log.1x", "", false},
		{".1", "", false},
		{"logs/.1", "", false},
		{"logs/-20261123", "", false},
		{"x-20261123-101500", "", false},
		{"logs/.20261123-101500", "", false},
	} {
		log, _, ok := generationOf(tc.name)
		if ok != tc.ok || log != tc.log {
			t.Errorf("generationOf(%q) = %q, %v; want %q, %v", tc.name, log, ok, tc.log, tc.ok)
		}
	}
}
