package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Values a user may type wrong, from the command line, the environment or
// a config file: each is refused with words that say what is wanted and
// where the value came from, never with the parser's own words.
func TestSettingsRefusedClearly(t *testing.T) {
	repoRoot(t)
	const log = "testdata/openunison/sample.log"
	tests := []struct {
		name   string
		env    map[string]string
		config string
		args   []string
		want   []string // in stderr
	}{
		{name: "negative settle", args: []string{"watch", "--settle", "-1s", log}, want: []string{"--settle: must be above zero, not -1s"}},
		{name: "zero settle", args: []string{"watch", "--settle", "0", log}, want: []string{"--settle: must be above zero, not 0s"}},
		{name: "zero poll", args: []string{"watch", "--poll", "0s", log}, want: []string{"--poll: must be above zero, not 0s"}},
		{name: "negative poll", args: []string{"watch", "--poll", "-5ms", log}, want: []string{"--poll: must be above zero, not -5ms"}},
		{name: "zero checkpoint interval", args: []string{"watch", "--checkpoint-every", "0", log}, want: []string{"--checkpoint-every: must be above zero"}},
		{name: "env names the variable", env: map[string]string{"GRACEGUARD_SETTLE": "5"}, args: []string{"watch", log},
			want: []string{"GRACEGUARD_SETTLE: want a duration with its unit, such as 500ms, 2s or 5m, not \"5\""}},
		{name: "env negative", env: map[string]string{"GRACEGUARD_POLL": "-1s"}, args: []string{"watch", log},
			want: []string{"GRACEGUARD_POLL: must be above zero, not -1s"}},
		// A float setting is a rate or a share: NaN, an infinity or a
		// negative one is refused where it was written, before running.
		{name: "env NaN", env: map[string]string{"GRACEGUARD_RATE": "NaN"}, args: []string{"simulate"},
			want: []string{"GRACEGUARD_RATE: want a finite number, not NaN"}},
		{name: "config negative share", config: "race: -0.1\n", args: []string{"simulate"},
			want: []string{":1:7: race: must not be negative, not -0.1"}},
		{name: "config bool", config: "format: json\nquiet: maybe\n", args: []string{"scan", log},
			want: []string{":2:8: quiet: want true or false, not \"maybe\""}},
		{name: "config duration without unit", config: "settle: 5\n", args: []string{"watch", log},
			want: []string{":1:9: settle: want a duration with its unit"}},
		{name: "config syntax error placed", config: "format: json\nmin-severity: [high\n", args: []string{"scan", log},
			want: []string{":2:"}},
		{name: "unknown key still an error", config: "formt: json\n", args: []string{"scan", log},
			want: []string{":1:1: unknown setting \"formt\" (did you mean format?)"}},
		{name: "unknown key like none", config: "frobnicate: 1\n", args: []string{"scan", log},
			want: []string{":1:1: unknown setting \"frobnicate\" (settings are flag names: "}},
		{name: "unknown key in the file's style", config: "stat_dir: x\n", args: []string{"watch", log},
			want: []string{":1:1: unknown setting \"stat_dir\" (did you mean state_dir?)"}},
		// help is a flag but no setting: it was taken and did nothing.
		{name: "help is no setting", config: "format: json\nhelp: true\n", args: []string{"scan", log},
			want: []string{":2:1: unknown setting \"help\""}},
		// Each of these was taken without a word: the last value of a key
		// set twice, "" or "~" for a key without a value, and nothing of a
		// second document.
		{name: "a key set twice", config: "format: json\nmin_severity: high\nformat: text\nmin-severity: low\n", args: []string{"scan", log},
			want: []string{`:3:1: "format" is set again (first at line 1`, `:4:1: "min-severity" is set again (first at line 2, as "min_severity")`}},
		{name: "a key without a value", config: "format:\nmin-severity: ~\n", args: []string{"scan", log},
			want: []string{`:1:1: "format" has no value`, `:2:1: "min-severity" has no value`}},
		{name: "a second document", config: "format: json\n---\nmin-severity: high\n", args: []string{"scan", log},
			want: []string{":3:1: a second YAML document"}},
		{name: "a second document after an empty one", config: "format: json\n---\n---\nmin-severity: high\n", args: []string{"scan", log},
			want: []string{":4:1: a second YAML document"}},
		// An alias is the value its anchor names, as in the sinks: list
		// (it was "want a single value or a list"), placed where it is used.
		{name: "an alias is its anchor's value", config: "format: &f json\nmin-severity: *f\n", args: []string{"scan", log},
			want: []string{`graceguard.yaml:2:15: min-severity: unknown severity "json"`}},
		{name: "an alias as a list item", config: "geoip-city: &g nope.mmdb\nrules: [*g]\n", args: []string{"scan", log},
			want: []string{`graceguard.yaml:2:8: rules: open nope.mmdb`}},
		// A file a setting names that cannot be used is blamed on where it
		// was named: these said "rule file: …" and "GeoIP City database
		// …", no line of the config file and no flag.
		{name: "config rule file missing", config: "format: json\nrules: [nope.yaml]\n", args: []string{"scan", log},
			want: []string{`graceguard.yaml:2:8: rules: open nope.yaml: no such file or directory`}},
		{name: "config GeoIP database missing", config: "geoip-city: nope.mmdb\n", args: []string{"timeline", "u", log},
			want: []string{`graceguard.yaml:1:13: geoip-city: GeoIP City database nope.mmdb: `}},
		{name: "config GeoIP database of another kind", config: "geoip-asn: testdata/geoip/graceguard-test-city.mmdb\n", args: []string{"scan", log},
			want: []string{`graceguard.yaml:1:12: geoip-asn: GeoIP ASN database testdata/geoip/graceguard-test-city.mmdb: it is a`}},
		{name: "env rule file missing", env: map[string]string{"GRACEGUARD_RULES": "nope.yaml"}, args: []string{"watch", "--state-dir", "", log},
			want: []string{`GRACEGUARD_RULES: open nope.yaml: no such file or directory`}},
		{name: "flag GeoIP database missing", args: []string{"scan", "--geoip-asn", "nope.mmdb", log},
			want: []string{`graceguard: --geoip-asn: GeoIP ASN database nope.mmdb: `}},
		{name: "config kubeconfig missing", config: "kube-pod: p\nkubeconfig: nope.yaml\n", args: []string{"watch", "--state-dir", ""},
			want: []string{`graceguard.yaml:2:13: kubeconfig: open nope.yaml: no such file or directory`}},
		// It was blamed on revoke's line, which was right.
		{name: "config kubeconfig missing, for revoke", config: "revoke: high\nkubeconfig: nope.yaml\n", args: []string{"watch", "--state-dir", "", log},
			want: []string{`graceguard.yaml:2:13: kubeconfig: open nope.yaml: no such file or directory`}},
		{name: "flag kubeconfig missing", args: []string{"watch", "--state-dir", "", "--kube-selector", "a=b", "--kubeconfig", "nope.yaml"},
			want: []string{`graceguard: --kubeconfig: open nope.yaml: no such file or directory`}},
		// A value refused only when the command runs names where it was
		// written, not a flag nobody gave.
		{name: "config value refused at run", config: "format: xml\n", args: []string{"scan", log},
			want: []string{`graceguard.yaml:1:9: format: unknown format "xml"`}},
		{name: "env value refused at run", env: map[string]string{"GRACEGUARD_TIMEZONE": "Mars/Y"}, args: []string{"scan", log},
			want: []string{`GRACEGUARD_TIMEZONE "Mars/Y": unknown time zone`}},
		{name: "flag value refused at run", args: []string{"scan", "--min-severity", "dire", log},
			want: []string{`--min-severity: `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.config != "" {
				path := filepath.Join(t.TempDir(), "graceguard.yaml")
				if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{args[0], "--config", path}, args[1:]...)
			}
			_, stderr, code := run(t, nil, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			for _, goSpeak := range []string{"strconv.", "time: ", "ParseBool", "invalid syntax"} {
				if strings.Contains(stderr, goSpeak) {
					t.Errorf("stderr speaks Go (%q): %s", goSpeak, stderr)
				}
			}
		})
	}
}

// One config file serves scan and watch: the keys only watch takes are
// ignored by scan with a note, and GRACEGUARD_CONFIG names the file as
// --config does.
func TestOneConfigForScanAndWatch(t *testing.T) {
	repoRoot(t)
	path := filepath.Join(t.TempDir(), "graceguard.yaml")
	config := "format: json\nmin-severity: high\nstate-dir: /var/lib/graceguard\nlisten: 0.0.0.0:9090\nsinks:\n  - type: file\n    path: /tmp/x.json\n"
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, viaEnv := range []bool{false, true} {
		name := map[bool]string{false: "--config", true: "GRACEGUARD_CONFIG"}[viaEnv]
		t.Run(name, func(t *testing.T) {
			args := []string{"scan", "--config", path, "testdata/openunison/sample.log"}
			if viaEnv {
				t.Setenv("GRACEGUARD_CONFIG", path)
				args = []string{"scan", "testdata/openunison/sample.log"}
			}
			stdout, stderr, code := run(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr %s", code, stderr)
			}
			if !strings.Contains(stderr, "scan ignores the settings of other commands: state-dir, listen, sinks") {
				t.Errorf("no note of the ignored keys: %s", stderr)
			}
			// The file's format: json took effect.
			if stdout != "" && !strings.HasPrefix(stdout, "{") {
				t.Errorf("stdout is not JSON: %.200s", stdout)
			}
		})
	}
}

// Empty documents after the settings (a trailing "---", comments, "~"),
// as generated YAML often has, are no second mapping: accepted.
func TestConfigWithEmptyDocumentsAfterIt(t *testing.T) {
	repoRoot(t)
	path := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(path, []byte("format: json\n---\n# nothing\n---\n~\n---\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, nil, "scan", "--config", path, "testdata/openunison/sample.log"); code != 0 {
		t.Errorf("exit %d, stderr %q: want 0", code, stderr)
	}
}

// An empty list variable is an empty list, as "rules: []" in the config
// file is: GRACEGUARD_RULES= was a rule file named "", refused as
// "rule file: open : no such file or directory", naming nothing.
func TestAnEmptyListVariableIsAnEmptyList(t *testing.T) {
	repoRoot(t)
	const log = "testdata/openunison/sample.log"
	want, _, _ := run(t, nil, "scan", "-q", log)
	for _, v := range []string{"", " ", ", ,"} {
		t.Setenv("GRACEGUARD_RULES", v)
		stdout, stderr, code := run(t, nil, "scan", "-q", log)
		if code != 0 || stdout != want {
			t.Errorf("GRACEGUARD_RULES=%q: exit %d, stderr %q; want 0 and the built-in rules' alerts", v, code, stderr)
		}
	}
}

// A secret in the config file is refused as a sinks: entry's token: is:
// config files get committed and pasted into tickets. slack-webhook-url:
// and slack-token: were taken, while the README says secrets come from
// files, flags and the environment only.
func TestConfigFileHoldsNoSecret(t *testing.T) {
	t.Parallel()
	stub := func(context.Context) error { return nil }
	with := runners{
		scan:  func(ctx context.Context, _ *scanOptions) error { return stub(ctx) },
		watch: func(ctx context.Context, _ *watchOptions) error { return stub(ctx) },
		demo:  func(ctx context.Context, _ *demoOptions) error { return stub(ctx) },
	}
	const hook = "https://hooks.slack.com/services/T0/B0/Hook5ecret"
	tests := []struct {
		name   string
		config string
		args   []string
		want   string // the whole of stderr after "graceguard: FILE:"
	}{
		{"webhook URL", "format: json\nslack_webhook_url: " + hook + "\n", []string{"watch", "x.log"},
			`2:1: "slack_webhook_url" is a secret, which the config file may not hold: give it with --slack-webhook-url or GRACEGUARD_SLACK_WEBHOOK_URL, or as webhook_url_file in a sinks: entry`},
		{"token", "slack-token: xoxb-Hook5ecret\nslack-channel: C1\n", []string{"watch", "x.log"},
			`1:1: "slack-token" is a secret, which the config file may not hold: give it with --slack-token or GRACEGUARD_SLACK_TOKEN, or as token_file in a sinks: entry`},
		{"demo's webhook URL", "slack-webhook-url: " + hook + "\n", []string{"demo"},
			`1:1: "slack-webhook-url" is a secret, which the config file may not hold: give it with --slack-webhook-url or GRACEGUARD_SLACK_WEBHOOK_URL, or as webhook_url_file in a sinks: entry`},
		// scan would ignore the key, as another command's: the file holds
		// the secret all the same.
		{"read by another command", "slack-token: xoxb-Hook5ecret\n", []string{"scan", "x.log"},
			`1:1: "slack-token" is a secret, which the config file may not hold: give it with --slack-token or GRACEGUARD_SLACK_TOKEN, or as token_file in a sinks: entry`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "graceguard.yaml")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{tt.args[0], "--config", path}, tt.args[1:]...)
			_, stderr, code := runWith(t, with, nil, args...)
			want := "graceguard: " + path + ":" + tt.want + "\n"
			if code != exitUsage || stderr != want {
				t.Errorf("exit %d, stderr %q; want %d and\n%s", code, stderr, exitUsage, want)
			}
		})
	}
}

// demo posts to one Slack webhook and delivers to no sinks: list: it said
// nothing of the list it was given, as if its sinks got the alerts.
func TestDemoNotesTheSinksItIgnores(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(path, []byte("sinks:\n  - type: file\n    path: /tmp/x.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := runners{demo: func(context.Context, *demoOptions) error { return nil }}
	_, stderr, code := runWith(t, with, nil, "demo", "--config", path)
	if want := path + ": demo ignores the settings of other commands: sinks\n"; code != 0 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 0 and %q", code, stderr, want)
	}
}
