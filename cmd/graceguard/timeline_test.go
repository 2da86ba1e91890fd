package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
			// Never nil: cobra takes nil args as "use os.Args", the test
			// binary's own flags, so "no user" got "-test.run"'s value as one
			// whenever the binary was run with a spaced flag value.
			cmd.SetArgs(append([]string{}, tc.args...))
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
	startup := filepath.Join(t.TempDir(), "startup.log")
	if err := os.WriteFile(startup, []byte("[2026-11-23 09:59:58,001][main] INFO  OpenUnisonOnUndertow - Starting OpenUnison on Undertow, listening on 8443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, nil, "timeline", "jjackson", startup); code != 0 || !strings.Contains(stderr, "nothing was judged: no OpenUnison record the rules judge") {
		t.Errorf("OpenUnison's start-up lines only: exit %d, stderr %q: want 0 and nothing judged said", code, stderr)
	}
	if _, stderr, code := run(t, nil, "timeline", " ", empty); code != exitUsage || !strings.Contains(stderr, "needs a USER") {
		t.Errorf("an empty USER: exit %d, stderr %q; want 2", code, stderr)
	}
}

// What a timeline cannot show is said on stderr, as scan's summary says
// it: a rule that failed at run time raised no alert on the events it
// failed on, and JSON lines have no first line to say that the oldest
// entries of a long history were dropped.
func TestTimelineSaysWhatItCannotShow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var log bytes.Buffer
	if _, err := loggen.Lifecycle(&log, loggen.LifecycleConfig{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	lifecycle := filepath.Join(dir, "openunison.log")
	failing := filepath.Join(dir, "failing.yaml")
	long := filepath.Join(dir, "long.log")
	// The cap's note with a cap of 100 (timeline.MaxEntries' own test
	// fills the real one): a hundred thousand lines cost ten seconds here.
	const maxEntries = 100
	var many bytes.Buffer
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	for i := range maxEntries + 3 {
		fmt.Fprintf(&many, "[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=svc,o=T - NONE [203.0.113.7] - [f%040d]\n",
			at.Add(time.Duration(i)*200*time.Millisecond).Format("2006-01-02 15:04:05,000"), i)
	}
	for path, data := range map[string][]byte{
		lifecycle: log.Bytes(),
		// user.countries is empty without GeoIP: every grace reuse fails it.
		failing: []byte("rules:\n  - name: careless\n    severity: high\n    when: event.kind == \"grace_reuse\" && user.countries[0] == \"US\"\n"),
		long:    many.Bytes(),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rule errors, text", []string{"timeline", "--rules", failing, "botvictim0", lifecycle}, "graceguard: note: rule errors "},
		{"rule errors, json", []string{"timeline", "--format", "json", "--rules", failing, "botvictim0", lifecycle}, "careless "},
		{"no such user, json", []string{"timeline", "--format", "json", "uid=nosuchuser", lifecycle}, "graceguard: note: no refresh, reuse, refusal or login of uid=nosuchuser in the logs"},
		{"dropped entries, json", []string{"timeline", "--format", "json", "svc", long}, "graceguard: note: 3 earlier entries of svc dropped: a timeline keeps the latest 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			capped := func(ctx context.Context, o *timelineOptions) error {
				o.maxEntries = maxEntries
				return runTimeline(ctx, o)
			}
			_, stderr, code := runWith(t, runners{timeline: capped}, nil, tc.args...)
			if code != 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 0 and %q", code, stderr, tc.want)
			}
		})
	}
}
