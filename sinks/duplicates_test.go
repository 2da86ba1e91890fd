package sinks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
)

// Two file sinks writing one file, however the second names it, are
// refused where the second is written: at the alias or merge that made
// it, not at the anchor it copies.
func TestParseConfigSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "real.jsonl"), "")
	if err := os.Symlink("real.jsonl", filepath.Join(dir, "link.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "real.jsonl"), filepath.Join(dir, "hard.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("logs", filepath.Join(dir, "logs-link")); err != nil {
		t.Fatal(err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"alias", "sinks:\n  - &f {type: file, path: " + dir + "/a.jsonl}\n  - *f\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"merge", "sinks:\n  - &f {type: file, path: " + dir + "/a.jsonl}\n  - <<: *f\n    format: ecs\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"merge of a list", "base: &b {type: file}\nwhere: &w {path: " + dir + "/a.jsonl}\nsinks:\n  - {<<: [*b, *w], name: one}\n  - {<<: [*w, *b], name: two}\n",
			[]string{"c.yaml:5:5: sinks[1]: writes the same file as sinks[0] (line 4)" + sameFileWhy}},
		{"named alias: both problems at the alias", "sinks:\n  - &f {type: file, path: " + dir + "/a.jsonl, name: out}\n  - *f\n",
			[]string{
				"c.yaml:3:5: sinks[1]: out is also the name of sinks[0]; give one a name",
				"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy,
			}},
		{"cleaned", "sinks:\n  - type: file\n    path: " + dir + "/a.jsonl\n  - type: file\n    path: " + dir + "/./logs/../a.jsonl\n",
			[]string{"c.yaml:4:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"relative and absolute", "sinks:\n  - {type: file, path: alerts.jsonl}\n  - {type: file, path: " + filepath.Join(cwd, "alerts.jsonl") + "}\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"symlink to the file", "sinks:\n  - {type: file, path: " + dir + "/real.jsonl}\n  - {type: file, path: " + dir + "/link.jsonl}\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"hard link", "sinks:\n  - {type: file, path: " + dir + "/hard.jsonl}\n  - {type: file, path: " + dir + "/real.jsonl}\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"symlinked directory, no file yet", "sinks:\n  - {type: file, path: " + dir + "/logs/new.jsonl}\n  - {type: file, path: " + dir + "/logs-link/new.jsonl}\n",
			[]string{"c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)" + sameFileWhy}},
		{"each duplicate names the first", "sinks:\n  - &f {type: file, path: " + dir + "/a.jsonl}\n  - {type: file, path: " + dir + "/b.jsonl}\n  - *f\n  - *f\n",
			[]string{
				"c.yaml:4:5: sinks[2]: writes the same file as sinks[0] (line 2)" + sameFileWhy,
				"c.yaml:5:5: sinks[3]: writes the same file as sinks[0] (line 2)" + sameFileWhy,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("c.yaml", []byte(tt.doc))
			checkProblems(t, err, tt.want)
		})
	}
}

// Build sees every sink together: a flag's, the config file's and the
// dispatcher's own files. Nothing is opened (so no file is created) when
// two would share one.
func TestBuildSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	alerts := filepath.Join(dir, "alerts.jsonl")
	fromFile, err := parseConfig("c.yaml", []byte("sinks:\n  - type: file\n    path: "+dir+"/./alerts.jsonl\n"))
	if err != nil {
		t.Fatal(err)
	}
	flagged, err := parseFlags(t, "--alerts-file", alerts).Configs(alert.Info)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name, path string) Config {
		return Config{Type: TypeFile, Name: name, Origin: "test: " + name, Sink: &FileConfig{Path: path}}
	}
	tests := []struct {
		name string
		cfgs []Config
		opt  DispatcherOptions
		want string
	}{
		{"a flag's and the config file's", append(append([]Config{}, flagged...), fromFile...), DispatcherOptions{},
			"c.yaml:2:5: sinks[0]: writes the same file as --alerts-file" + sameFileWhy},
		{"made in code", []Config{file("a", alerts), file("b", alerts)}, DispatcherOptions{},
			"test: b: writes the same file as test: a" + sameFileWhy},
		{"the dead-letter file in the state directory", []Config{file("a", filepath.Join(state, DeadLetterFile))}, DispatcherOptions{StateDir: state},
			"test: a: writes the dead-letter file (" + filepath.Join(state, DeadLetterFile) + "); give the file sink a path of its own"},
		{"the dead-letter file named", []Config{file("a", filepath.Join(dir, "x", "..", "dl.jsonl"))}, DispatcherOptions{DeadLetterPath: filepath.Join(dir, "dl.jsonl")},
			"test: a: writes the dead-letter file (" + filepath.Join(dir, "dl.jsonl") + "); give the file sink a path of its own"},
		{"the sink journal", []Config{file("a", filepath.Join(state, JournalFile))}, DispatcherOptions{StateDir: state},
			"test: a: writes the sink journal (" + filepath.Join(state, JournalFile) + "); give the file sink a path of its own"},
		{"the delivery ledger", []Config{file("a", filepath.Join(state, LedgerFile))}, DispatcherOptions{StateDir: state},
			"test: a: writes the delivery ledger (" + filepath.Join(state, LedgerFile) + "); give the file sink a path of its own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Build(tt.cfgs, tt.opt)
			if err == nil {
				d.Close(context.Background())
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || err.Error() != tt.want {
				t.Errorf("Build: %v\nwant %s", err, tt.want)
			}
		})
	}
	for _, p := range []string{alerts, state} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was made by a refused Build (%v)", p, err)
		}
	}
}

// A reload that would make two sinks share a file is refused, and the
// sinks in force stay.
func TestReloadSameFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgs, err := parseConfig("c.yaml", []byte("sinks:\n  - {type: file, path: "+dir+"/a.jsonl}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(cfgs, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	before := d.Destinations()
	twice, err := parseConfig("c.yaml", []byte("sinks:\n  - {type: file, path: "+dir+"/a.jsonl, name: file}\n  - {type: file, path: "+dir+"/b.jsonl}\n"))
	if err != nil {
		t.Fatal(err)
	}
	twice[1].Sink.(*FileConfig).Path = dir + "/a.jsonl" // as a symlink swapped in after the decode would
	err = d.Reload(context.Background(), twice)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "c.yaml:3:5: sinks[1]: writes the same file as sinks[0] (line 2)") {
		t.Fatalf("Reload: %v", err)
	}
	if after := d.Destinations(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("sinks now %v, want %v", after, before)
	}
}

// Two network sinks of one destination are allowed (see
// warnSameDestination), and warned about when an alert would reach it
// twice, without the URL's secret parts.
func TestBuildWarnsSameDestination(t *testing.T) {
	t.Parallel()
	const secretURL = "http://127.0.0.1:9/hooks/T0/B0/s3cr3tpathS3CR3T?token=qu3rys3cr3t"
	hook := func(name string, rules []string, headers map[string]string) Config {
		c := webhookCfg(name, secretURL, alert.Info)
		c.Rules = rules
		c.Sink.(*WebhookConfig).Headers = headers
		return c
	}
	slackHook := func(name string) Config {
		c := SlackWebhookConfig(secretURL, "", alert.Info)
		c.Name, c.Origin = name, "test: "+name
		return c
	}
	slackBot := func(name, channel string) Config {
		return Config{Type: TypeSlack, Name: name, Origin: "test: " + name,
			Sink: &SlackConfig{Token: testToken, Channel: channel, APIURL: "http://127.0.0.1:9/api/"}}
	}
	syslog := func(name, facility string) Config {
		return Config{Type: TypeSyslog, Name: name, Origin: "test: " + name, Sink: &SyslogConfig{Network: "udp", Address: "127.0.0.1:9", Facility: facility}}
	}
	tests := []struct {
		name string
		cfgs []Config
		want string // the warning's text after msg=; "" for none
	}{
		{"the same webhook twice", []Config{hook("a", nil, nil), hook("b", nil, nil)},
			`sink=b origin="test: b" same_as="test: a" to="webhook http://127.0.0.1:9/…"`},
		{"the same webhook, overlapping rules", []Config{hook("a", []string{"r1", "r2"}, nil), hook("b", []string{"r2"}, nil)},
			`sink=b origin="test: b" same_as="test: a" to="webhook http://127.0.0.1:9/…"`},
		{"the same webhook, other rules", []Config{hook("a", []string{"r1"}, nil), hook("b", []string{"r2"}, nil)}, ""},
		{"the same URL, other headers (another tenant)", []Config{hook("a", nil, map[string]string{"X-Tenant": "a"}), hook("b", nil, map[string]string{"X-Tenant": "b"})}, ""},
		{"the same Slack webhook", []Config{slackHook("a"), slackHook("b")},
			`sink=b origin="test: b" same_as="test: a" to="slack webhook http://127.0.0.1:9/…"`},
		{"the same Slack channel", []Config{slackBot("a", "C1"), slackBot("b", "C1")},
			`sink=b origin="test: b" same_as="test: a" to="slack C1"`},
		{"another Slack channel", []Config{slackBot("a", "C1"), slackBot("b", "C2")}, ""},
		{"the same syslog collector", []Config{syslog("a", ""), syslog("b", "auth")},
			`sink=b origin="test: b" same_as="test: a" to="syslog udp://127.0.0.1:9"`},
		{"another facility", []Config{syslog("a", "auth"), syslog("b", "local0")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logged := newTestLogger()
			d, err := Build(tt.cfgs, DispatcherOptions{Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			d.Close(context.Background())
			out := logged.String()
			if strings.Contains(out, "s3cr3t") || strings.Contains(out, "S3CR3T") || strings.Contains(out, "SeCrEt") {
				t.Errorf("the log leaks the URL's secret parts:\n%s", out)
			}
			const msg = `level=WARN msg="two sinks deliver to the same place; an alert both take arrives there twice" `
			if tt.want == "" {
				if strings.Contains(out, "level=WARN") {
					t.Errorf("warned:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, msg+tt.want+"\n") {
				t.Errorf("log:\n%s\nwant a line ending %s", out, msg+tt.want)
			}
		})
	}
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
