package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/demo"
	"github.com/graceguard/graceguard/geo/testdb"
)

// runRoot runs args through the whole command tree (flags, environment,
// --config) with run replacing the commands' run functions.
func runRoot(t *testing.T, run runners, args ...string) error {
	t.Helper()
	root := newRootCmdWith(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, run)
	root.SetArgs(args)
	return root.Execute()
}

// capture is a runF that keeps the options it is given in *dst.
func capture[O any](dst **O) func(context.Context, *O) error {
	return func(_ context.Context, o *O) error { *dst = o; return nil }
}

// checkParsed holds what parsing a command's arguments gave to its case:
// with wantErr a usage error (exit 2) found before running, else no error
// and, once clean has zeroed what the case cannot know (streams), want.
func checkParsed[O any](t *testing.T, err error, got *O, want O, wantErr bool, clean func(*O)) {
	t.Helper()
	if wantErr {
		var ue usageError
		if !errors.As(err, &ue) || got != nil {
			t.Fatalf("err %v (ran: %v), want a usage error before running", err, got != nil)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("runF was not called")
	}
	if clean != nil {
		clean(got)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("options\n %+v\nwant\n %+v", *got, want)
	}
}

// clearEnv drops the GRACEGUARD_* variables of the test's environment.
func clearEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestScanFlags(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    scanOptions
		wantErr bool
	}{
		{"defaults", []string{"scan", "a.log"}, nil,
			scanOptions{files: []string{"a.log"}, alertFlags: alertFlags{format: "text", minSeverity: "info", timezone: "UTC", color: "auto"},
				proxies: proxyFlags{skew: 5 * time.Millisecond}}, false},
		{"every flag", []string{"scan", "--format", "json", "--rules", "r1.yaml", "--rules", "r2.yaml", "--min-severity", "high",
			"--timezone", "Europe/Berlin", "--color", "never", "-q", "--geoip-city", "c.mmdb", "--geoip-asn", "a.mmdb",
			"--proxies", "10.0.0.0/8,10.1.2.3", "--proxy-clock-skew", "20ms", "a.log", "-"}, nil,
			scanOptions{files: []string{"a.log", "-"}, alertFlags: alertFlags{format: "json", ruleFiles: []string{"r1.yaml", "r2.yaml"}, minSeverity: "high",
				timezone: "Europe/Berlin", color: "never"}, quiet: true, geo: geoFlags{city: "c.mmdb", asn: "a.mmdb"},
				proxies: proxyFlags{cidrs: []string{"10.0.0.0/8", "10.1.2.3"}, skew: 20 * time.Millisecond}}, false},
		{"environment", []string{"scan", "a.log"}, map[string]string{"GRACEGUARD_FORMAT": "json", "GRACEGUARD_MIN_SEVERITY": "critical"},
			scanOptions{files: []string{"a.log"}, alertFlags: alertFlags{format: "json", minSeverity: "critical", timezone: "UTC", color: "auto"},
				proxies: proxyFlags{skew: 5 * time.Millisecond}}, false},
		{"no file", []string{"scan"}, nil, scanOptions{}, true},
		{"unknown flag", []string{"scan", "--formt", "json", "a.log"}, nil, scanOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *scanOptions
			err := runRoot(t, runners{scan: capture(&got)}, tt.args...)
			checkParsed(t, err, got, tt.want, tt.wantErr, func(o *scanOptions) { o.io = streams{} })
		})
	}
}

func TestDemoFlags(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    demoOptions
		wantErr bool
	}{
		{"defaults", []string{"demo"}, nil, demoOptions{color: "auto"}, false},
		{"flags", []string{"demo", "--color", "always", "-q", "--geoip-city", "c.mmdb"}, nil,
			demoOptions{color: "always", quiet: true, geo: geoFlags{city: "c.mmdb"}}, false},
		// One variable configures Slack for every command.
		{"slack from the environment", []string{"demo"}, map[string]string{"GRACEGUARD_SLACK_WEBHOOK_URL": "https://hooks.slack.com/x"},
			demoOptions{color: "auto", slackURL: "https://hooks.slack.com/x"}, false},
		{"no arguments", []string{"demo", "extra"}, nil, demoOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *demoOptions
			err := runRoot(t, runners{demo: capture(&got)}, tt.args...)
			checkParsed(t, err, got, tt.want, tt.wantErr, func(o *demoOptions) { o.io = streams{} })
		})
	}
}

// Through the root command, so the config file and environment apply as
// they do for a user (timeline_test.go tests the command alone).
func TestTimelineFlagsFromConfig(t *testing.T) {
	clearEnv(t)
	cfg := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("timezone: Europe/Paris\nrules: [a.yaml]\nproxies: [10.1.67.0/24]\nproxy-clock-skew: 30ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got *timelineOptions
	err := runRoot(t, runners{timeline: func(_ context.Context, o *timelineOptions) error { got = o; return nil }},
		"timeline", "--config", cfg, "--format", "json", "mmosley", "a.log")
	if err != nil {
		t.Fatal(err)
	}
	got.io = streams{}
	want := timelineOptions{user: "mmosley", files: []string{"a.log"}, format: "json", ruleFiles: []string{"a.yaml"}, timezone: "Europe/Paris",
		proxies: proxyFlags{cidrs: []string{"10.1.67.0/24"}, skew: 30 * time.Millisecond}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v\nwant %+v", *got, want)
	}
}

func TestWatchFlags(t *testing.T) {
	clearEnv(t)
	cfg := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("settle: 500ms\nlisten: 127.0.0.1:9090\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRACEGUARD_STATE_DIR", "/var/lib/graceguard")
	var got *watchOptions
	err := runRoot(t, runners{watch: func(_ context.Context, o *watchOptions) error { got = o; return nil }},
		"watch", "--config", cfg, "--format", "json", "--from", "end", "--revoke", "critical", "--revoke-dry-run", "a.log", "b*.log")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"patterns", got.patterns, []string{"a.log", "b*.log"}},
		{"format", got.format, "json"},
		{"from", got.from, "end"},
		{"settle (config)", got.settle, 500 * time.Millisecond},
		{"listen (config)", got.listen, "127.0.0.1:9090"},
		{"state-dir (environment)", got.stateDir, "/var/lib/graceguard"},
		{"config path", got.configPath, cfg},
		{"revoke", got.revoke.severity, "critical"},
		{"revoke dry run", got.revoke.dryRun, true},
		{"poll (default)", got.poll, 20 * time.Millisecond},
		{"checkpoint-every (default)", got.checkpointEvery, 5 * time.Second},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if _, err := got.checkStart(); err != nil {
		t.Errorf("checkStart: %v", err)
	}
	// A bad setting is found before any state is touched.
	got.from = "middle"
	if _, err := got.checkStart(); err == nil || !strings.Contains(err.Error(), `--from "middle"`) {
		t.Errorf("checkStart with --from middle: %v", err)
	}
}

// watch wakes on file events unless told not to, by flag, variable or
// config key; --inotify=false polls every file every --poll.
func TestWatchInotifyDefault(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    string
		config string
		want   bool
	}{
		{"default", nil, "", "", true},
		{"flag off", []string{"--inotify=false"}, "", "", false},
		{"variable off", nil, "false", "", false},
		{"config off", nil, "", "inotify: false\n", false},
		{"flag over config", []string{"--inotify"}, "", "inotify: false\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			args := []string{"watch"}
			if tt.config != "" {
				cfg := filepath.Join(t.TempDir(), "graceguard.yaml")
				if err := os.WriteFile(cfg, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cfg)
			}
			if tt.env != "" {
				t.Setenv("GRACEGUARD_INOTIFY", tt.env)
			}
			var got *watchOptions
			err := runRoot(t, runners{watch: func(_ context.Context, o *watchOptions) error { got = o; return nil }},
				append(append(args, tt.args...), "a.log")...)
			if err != nil {
				t.Fatal(err)
			}
			if got.inotify != tt.want {
				t.Errorf("inotify %v, want %v", got.inotify, tt.want)
			}
		})
	}
}

// The demo's help names the place of every address of its story, as the
// demo GeoIP databases place them: it named four when the story had gone
// on to São Paulo too.
func TestDemoHelpNamesTheStorysPlaces(t *testing.T) {
	t.Parallel()
	long := newDemoCmd(streams{}, nil).Long
	flat := strings.Join(strings.Fields(long), " ")
	for _, addr := range demo.Cast() {
		i := slices.IndexFunc(testdb.Layout, func(n testdb.Network) bool { return n.Prefix.Contains(addr) })
		if i < 0 {
			t.Fatalf("the demo databases place no network holding %s", addr)
		}
		if city := testdb.Layout[i].City; !strings.Contains(flat, city) {
			t.Errorf("demo --help does not name %s, where the story's %s is:\n%s", city, addr, long)
		}
	}
}
