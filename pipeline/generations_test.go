package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestScanOfRotatedGenerationsFindsWhatTheWholeLogDoes cuts the sample log
// into generations as logrotate leaves them, at every line, and scans them
// as `graceguard scan openunison.log*` does: the alerts must be the whole
// log's. A grace reuse's [AzSuccess] twin logged just before a rotation
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
		name    string
		older   string // the rotated generation's name
		gzipped bool
	}{
		{"numbered", "openunison.log.1", false},
		{"dateext compressed", "openunison.log-20261123.gz", true},
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
				writeFile(t, filepath.Join(dir, "openunison.log"), string(bytes.Join(lines[cut:], nil)))
				got := scanFiles(t, []string{filepath.Join(dir, tc.older), filepath.Join(dir, "openunison.log")})
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
