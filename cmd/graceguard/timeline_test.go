package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
)

func TestTimelineFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		want    timelineOptions
		wantErr bool
	}{
		{"user and files", []string{"uid=a,o=T", "a.log", "b.log"}, timelineOptions{user: "uid=a,o=T", files: []string{"a.log", "b.log"}, format: "text", timezone: "UTC"}, false},
		{"stdin by default", []string{"--format", "json", "mmosley"}, timelineOptions{user: "mmosley", files: []string{"-"}, format: "json", timezone: "UTC"}, false},
		{"no user", nil, timelineOptions{}, true},
		{"bad format", []string{"--format", "yaml", "mmosley"}, timelineOptions{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *timelineOptions
			cmd := newTimelineCmd(streams{}, func(_ context.Context, o *timelineOptions) error { got = o; return nil })
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tc.wantErr {
				var ue usageError
				if !errors.As(err, &ue) {
					t.Fatalf("err %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.user != tc.want.user || strings.Join(got.files, ",") != strings.Join(tc.want.files, ",") ||
				got.format != tc.want.format || got.timezone != tc.want.timezone {
				t.Fatalf("options %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTimelineCommand(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "openunison.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loggen.Lifecycle(f, loggen.LifecycleConfig{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stdout, stderr, code := run(t, nil, "timeline", "botvictim0", path)
	if code != 0 || !strings.Contains(stdout, " reuse    192.0.2.66 ") || !strings.Contains(stdout, "ALERT high reuse-ip-mismatch") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	_, stderr, code = run(t, nil, "timeline", "botvictim0", filepath.Join(t.TempDir(), "missing.log"))
	if code != 1 || !strings.Contains(stderr, "missing.log") {
		t.Fatalf("a missing file: exit %d, stderr %q; want 1 naming it", code, stderr)
	}
}

// A timeline of inputs that hold no OpenUnison log says nothing was
// judged: "no refresh … of USER" alone read as a clean record. An empty
// USER is a usage error.
func TestTimelineOfNoLogSaysSo(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty.log")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "timeline", "jjackson", empty)
	if code != 0 || !strings.Contains(stderr, "nothing was judged: no OpenUnison record in the input") {
		t.Errorf("exit %d, stderr %q: want 0 and nothing judged said", code, stderr)
	}
	if _, stderr, code := run(t, nil, "timeline", " ", empty); code != exitUsage || !strings.Contains(stderr, "needs a USER") {
		t.Errorf("an empty USER: exit %d, stderr %q; want 2", code, stderr)
	}
}
