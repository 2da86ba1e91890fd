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
		inputs := []Input{{Name: tc.a}, {Name: tc.b}}
		names := logNames(inputs, realPaths(inputs))
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
// have ended, and the file under the log's name gives its events of a
// millisecond before a file not yet joined gives its first, whatever their
// kinds, as the log wrote them (a newer file's refresh taken before an
// older one's reuse of the same millisecond would find the older still
// being read, and stay apart).
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
			real := realPaths(inputs)
			if err := mergeJoining(context.Background(), srcs, unnamedLogs(inputs, logNames(inputs, real), real), obs); err != nil {
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
		log, ok := generationOf(tc.name)
		if ok != tc.ok || log != tc.log {
			t.Errorf("generationOf(%q) = %q, %v; want %q, %v", tc.name, log, ok, tc.log, tc.ok)
		}
	}
}

// tokenLine is OpenUnison's [AzSuccess] or [AzFail] of a request to the
// token endpoint, at hh:mm:ss,mmm on 2026-11-23.
func tokenLine(at, thread, result, user, ip, session string) string {
	return "[2026-11-23 " + at + "][XNIO-1 " + thread + "] INFO  AccessLog - [" + result +
		"] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - " + user + " - NONE [" + ip + "] - [" + session + "]\n"
}

// reuseLine is OpenUnison's [ExpiredRefreshTokenUsed], the grace reuse
// whose [AzSuccess] twin the same thread logged just before.
func reuseLine(at, thread, user, ip, session string) string {
	return "[2026-11-23 " + at + "][XNIO-1 " + thread + "] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.example.com/auth/idp/k8sIdp/token - " +
		user + " - Expired token used within grace period [" + ip + "] - [" + session + "]\n"
}

// Generations named without their log are joined whatever order they and
// the other inputs are named in. Where the older generation's last event
// (a refused refresh), the newer's first (a refresh) and another replica's
// refusal share a millisecond, the older-generation-first tie the heap's
// order once made for two of them alone was no order among the three:
// named in some orders the newer's refresh came first, its file was kept
// apart from the older still being read, and the replay whose twin the
// rotation left in the older lost its alerts (8 of the 24 orders).
func TestScanJoinsGenerationsInAnyOrderOfInputs(t *testing.T) {
	t.Parallel()
	const mm, thief = "uid=mmosley,ou=shadow,o=Tremolo", "192.0.2.66"
	const twin = "f2222222222222222222222222222222222222222"
	files := map[string]string{
		"openunison.log.2": tokenLine("10:00:00,000", "task-1", "AzSuccess", mm, "203.0.113.7", "f1111111111111111111111111111111111111111") +
			tokenLine("10:01:00,000", "task-6", "AzSuccess", mm, thief, twin) +
			tokenLine("10:01:00,005", "task-9", "AzFail", "uid=Anonymous,o=Tremolo", "203.0.113.99", "f3333333333333333333333333333333333333333"),
		"openunison.log.1": tokenLine("10:01:00,005", "task-5", "AzSuccess", "uid=jjackson,ou=shadow,o=Tremolo", "198.51.100.23", "f4444444444444444444444444444444444444444") +
			reuseLine("10:01:00,006", "task-6", mm, thief, twin) +
			tokenLine("10:01:01,000", "task-5", "AzSuccess", "uid=jjackson,ou=shadow,o=Tremolo", "198.51.100.23", "f5555555555555555555555555555555555555555"),
		"a.log": tokenLine("10:01:00,005", "task-2", "AzFail", "uid=Anonymous,o=Tremolo", "203.0.113.98", "f6666666666666666666666666666666666666666"),
		"w.log": tokenLine("10:01:00,002", "task-3", "AzSuccess", "uid=alice,ou=shadow,o=Tremolo", "203.0.113.50", "f7777777777777777777777777777777777777777"),
	}
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, filepath.Join(dir, name), data)
	}
	writeFile(t, filepath.Join(dir, "whole.log"), files["openunison.log.2"]+files["openunison.log.1"])
	want := scanFiles(t, []string{filepath.Join(dir, "whole.log"), filepath.Join(dir, "a.log"), filepath.Join(dir, "w.log")})
	if len(want) == 0 {
		t.Fatal("the whole log raised nothing: the test could not tell the generations apart")
	}
	var permute func(names []string, k int)
	permute = func(names []string, k int) {
		if k == len(names) {
			paths := make([]string, len(names))
			for i, n := range names {
				paths[i] = filepath.Join(dir, n)
			}
			if got := scanFiles(t, paths); !slices.Equal(got, want) {
				t.Errorf("scan %s: alerts\n  %s\nwant the whole log's\n  %s", strings.Join(names, " "), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			return
		}
		for i := k; i < len(names); i++ {
			names[k], names[i] = names[i], names[k]
			permute(names, k+1)
			names[k], names[i] = names[i], names[k]
		}
	}
	permute([]string{"openunison.log.2", "openunison.log.1", "a.log", "w.log"}, 0)
}

// Replicas' logs saved under names of one log's generations, kept apart
// because their times overlap, are ordered as any two logs are: a refresh
// in one and a grace reuse in the other of the same millisecond go refresh
// first (tieRank), the reuse judged against the refresh that rotated its
// token. The older-generation-first tie had the reuse of openunison.log.1
// judged first, against the refresh a minute earlier.
func TestScanOrdersOverlappingGenerationsAsReplicas(t *testing.T) {
	t.Parallel()
	const mm, thief = "uid=mmosley,ou=shadow,o=Tremolo", "192.0.2.66"
	const twin = "f4444444444444444444444444444444444444444"
	a := tokenLine("10:00:00,000", "task-1", "AzSuccess", mm, "203.0.113.9", "f1111111111111111111111111111111111111111") +
		tokenLine("10:01:00,005", "task-1", "AzSuccess", mm, "203.0.113.7", "f2222222222222222222222222222222222222222") +
		tokenLine("10:01:10,000", "task-1", "AzSuccess", mm, "203.0.113.7", "f8222222222222222222222222222222222222222")
	b := tokenLine("10:00:30,000", "task-2", "AzSuccess", "uid=bob,ou=shadow,o=Tremolo", "198.51.100.1", "f3333333333333333333333333333333333333333") +
		tokenLine("10:01:00,004", "task-6", "AzSuccess", mm, thief, twin) +
		reuseLine("10:01:00,005", "task-6", mm, thief, twin) +
		tokenLine("10:01:20,000", "task-2", "AzSuccess", "uid=bob,ou=shadow,o=Tremolo", "198.51.100.1", "f5333333333333333333333333333333333333333")
	scanAs := func(nameA, nameB string) []string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, nameA), a)
		writeFile(t, filepath.Join(dir, nameB), b)
		return scanFiles(t, []string{filepath.Join(dir, nameA), filepath.Join(dir, nameB)})
	}
	want := scanAs("replica-a.log", "replica-b.log")
	if len(want) == 0 {
		t.Fatal("the replicas raised nothing")
	}
	if got := scanAs("openunison.log.0", "openunison.log.1"); !slices.Equal(got, want) {
		t.Errorf("openunison.log.0 and openunison.log.1: alerts\n  %s\nwant the replicas'\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestScanJoinsALinksGenerationsBesideItsTarget: a /var/log/containers
// link names its log in /var/log/pods, where the kubelet leaves the log's
// rotated generations (0.log.20261123-100131.gz beside 0.log). Named with
// the link (`scan /var/log/containers/*.log /var/log/pods/*/*/*`, the link
// first, its target then read once under the link's name), the generation
// is the link's log's, as watch reads a followed link's generations beside
// its target: told apart, a replay whose [AzSuccess] the rotation left in
// the generation and whose [ExpiredRefreshTokenUsed] in the log lost its
// alerts, and only when the link was named first.
func TestScanJoinsALinksGenerationsBesideItsTarget(t *testing.T) {
	t.Parallel()
	want, lines, cut := sampleCutAtReplay(t)
	dir := t.TempDir()
	pods := filepath.Join(dir, "pods", "openunison_orchestra-0_uid", "openunison-orchestra")
	if err := os.MkdirAll(pods, 0o755); err != nil {
		t.Fatal(err)
	}
	containers := filepath.Join(dir, "containers")
	if err := os.MkdirAll(containers, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(pods, "0.log.20261123-100131.gz")
	writeFile(t, gen, string(gzipped(t, bytes.Join(lines[:cut], nil))))
	log := filepath.Join(pods, "0.log")
	writeFile(t, log, string(bytes.Join(lines[cut:], nil)))
	link := filepath.Join(containers, "orchestra-0_openunison_openunison-orchestra-abc.log")
	if err := os.Symlink(log, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	for _, paths := range [][]string{{link, gen}, {gen, link}, {log, gen}} {
		if got := scanFiles(t, paths); !slices.Equal(got, want) {
			t.Errorf("scan %q: alerts\n  %s\nwant the whole log's\n  %s", paths, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// TestScanJoinsGenerationsSpeltThroughALinkedDirectory: a log's
// generations named through two spellings of one directory (a link to it,
// as /var/log to a data disk, or one path relative and one absolute) are
// beside each other all the same: with or without the log named, they are
// one log, as under one spelling.
func TestScanJoinsGenerationsSpeltThroughALinkedDirectory(t *testing.T) {
	t.Parallel()
	want, lines, cut := sampleCutAtReplay(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "data", "openunison")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(dir, "openunison")
	if err := os.Symlink(logs, alias); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	for _, tc := range []struct{ older, newer string }{
		{"openunison.log.1", "openunison.log"},
		{"openunison.log.2.gz", "openunison.log.1"},
	} {
		for _, f := range []string{tc.older, tc.newer} {
			os.Remove(filepath.Join(logs, f))
		}
		older := bytes.Join(lines[:cut], nil)
		if strings.HasSuffix(tc.older, ".gz") {
			older = gzipped(t, older)
		}
		writeFile(t, filepath.Join(logs, tc.older), string(older))
		writeFile(t, filepath.Join(logs, tc.newer), string(bytes.Join(lines[cut:], nil)))
		paths := []string{filepath.Join(logs, tc.older), filepath.Join(alias, tc.newer)}
		if got := scanFiles(t, paths); !slices.Equal(got, want) {
			t.Errorf("scan %q: alerts\n  %s\nwant the whole log's\n  %s", paths, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// sampleCutAtReplay is the sample log's alerts, its lines, and the cut
// between jjackson's replay's [AzSuccess] and its [ExpiredRefreshTokenUsed],
// which a rotation must not part.
func sampleCutAtReplay(t *testing.T) (want []string, lines [][]byte, cut int) {
	t.Helper()
	whole := filepath.Join("..", "testdata", "openunison", "sample.log")
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	lines = bytes.SplitAfter(data, []byte("\n"))
	cut = slices.IndexFunc(lines, func(l []byte) bool {
		return bytes.Contains(l, []byte("ExpiredRefreshTokenUsed")) && bytes.Contains(l, []byte("jjackson"))
	})
	if cut < 1 {
		t.Fatal("no replay of jjackson's in the sample log")
	}
	return scanFiles(t, []string{whole}), lines, cut
}
