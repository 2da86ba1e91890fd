package sinks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/spf13/pflag"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	const doc = `
format: json            # a flag: not ours to read
sinks:
  - type: slack
    name: secops
    token_file: /run/secrets/slack-token
    channel: "#secops"
    api_url: https://slack.example/api/
    runbook_url: https://wiki.example/runbooks/token-replay
    min_severity: high
    rules: [reuse-geo-jump, reuse-ip-mismatch]
    max_age: 6h
    queue_size: 500
    throttle: 10m
    throttle_key: [user, ip]
    digest_after: 5
  - type: slack
    webhook_url_file: /run/secrets/slack-webhook
  - type: webhook
    url: https://soar.example/hooks/graceguard
    headers: {X-Tenant: acme}
    secret_file: /run/secrets/hmac
    timeout: 5s
  - type: file
    path: /var/log/graceguard/alerts.ecs.jsonl
    format: ecs
  - type: syslog
    network: tls
    address: siem.example:6514
    facility: authpriv
    tls:
      ca_file: /etc/graceguard/siem-ca.pem
      server_name: siem.example
`
	cfgs, err := parseConfig("graceguard.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 5 {
		t.Fatalf("%d sinks", len(cfgs))
	}
	c := cfgs[0]
	s := c.Sink.(*SlackConfig)
	if c.Name != "secops" || s.TokenFile != "/run/secrets/slack-token" || s.Channel != "#secops" || s.APIURL != "https://slack.example/api/" ||
		c.MinSeverity != alert.High || strings.Join(c.Rules, ",") != "reuse-geo-jump,reuse-ip-mismatch" ||
		c.Delivery.MaxAge != 6*time.Hour || c.Delivery.QueueSize != 500 || c.Delivery.Throttle != 10*time.Minute ||
		strings.Join(c.Delivery.ThrottleKey, ",") != "user,ip" || c.Delivery.DigestAfter != 5 || c.Origin != "graceguard.yaml:4:5: sinks[0]" {
		t.Errorf("slack bot: %+v %+v", c, s)
	}
	if cfgs[1].Name != "slack" || cfgs[1].Sink.(*SlackConfig).WebhookURLFile != "/run/secrets/slack-webhook" {
		t.Errorf("slack webhook: %+v", cfgs[1])
	}
	if w := cfgs[2].Sink.(*WebhookConfig); cfgs[2].Name != "webhook" || w.URL.Reveal() != "https://soar.example/hooks/graceguard" || w.Headers["X-Tenant"] != "acme" || w.Timeout != 5*time.Second {
		t.Errorf("webhook: %+v", w)
	}
	if f := cfgs[3].Sink.(*FileConfig); f.Format != FileECS || f.Path != "/var/log/graceguard/alerts.ecs.jsonl" {
		t.Errorf("file: %+v", f)
	}
	if y := cfgs[4].Sink.(*SyslogConfig); y.Network != "tls" || y.TLS == nil || y.TLS.ServerName != "siem.example" || y.Facility != "authpriv" {
		t.Errorf("syslog: %+v", y)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string // each a whole line of the error
	}{
		{"unknown type", "sinks:\n  - type: slak\n",
			[]string{`c.yaml:2:11: sinks[0].type: unknown sink type "slak" (want slack, webhook, file, syslog)`}},
		{"no type", "sinks:\n  - path: x\n", []string{`c.yaml:2:5: sinks[0]: no type (want slack, webhook, file, syslog)`}},
		{"not a list", "sinks: {type: file}\n", []string{`c.yaml:1:8: sinks: want a list of sinks, each a mapping with a type`}},
		{"key of another type", "sinks:\n  - type: webhook\n    url: https://x.example/\n    channel: '#c'\n",
			[]string{`c.yaml:4:5: sinks[0].channel: does not apply to a webhook sink (it is for slack)`}},
		{"typo", "sinks:\n  - type: file\n    pth: a.jsonl\n",
			[]string{`c.yaml:3:5: sinks[0].pth: unknown key for a file sink (known: backoff_max, backoff_min, delivered_ids, format, max_age, min_severity, name, path, queue_size, rules, throttle, throttle_key, type)`}},
		{"inline token", "sinks:\n  - type: slack\n    token: xoxb-123-456-secret\n    channel: C1\n",
			[]string{`c.yaml:3:12: sinks[0].token: secrets are not read from the config file; put the secret in a file and set token_file to that file's path, or give it with --slack-token or GRACEGUARD_SLACK_TOKEN`}},
		{"inline webhook secret", "sinks:\n  - type: webhook\n    url: https://x.example/\n    secret: s3cr3t\n",
			[]string{`c.yaml:4:13: sinks[0].secret: secrets are not read from the config file; put the secret in a file and set secret_file to that file's path`}},
		{"bad values", "sinks:\n  - type: slack\n    webhook_url_file: /w\n    min_severity: urgent\n    max_age: forever\n    queue_size: -1\n    throttle_key: [user, colour]\n",
			[]string{
				`c.yaml:4:19: sinks[0].min_severity: unknown severity "urgent" (want info, low, medium, high or critical)`,
				`c.yaml:5:14: sinks[0].max_age: want a positive duration such as 30s, 10m or 24h, not "forever"`,
				`c.yaml:6:17: sinks[0].queue_size: want a positive whole number, not "-1"`,
				`c.yaml:7:19: sinks[0].throttle_key: unknown field "colour" (want some of rule, user, ip, prev_ip, idp, source, severity)`,
			}},
		{"slack needs one way in", "sinks:\n  - type: slack\n    channel: C1\n",
			[]string{
				`c.yaml:2:5: sinks[0]: needs webhook_url_file (an incoming webhook) or token_file with channel (a bot)`,
				`c.yaml:2:5: sinks[0]: channel goes with a bot token (token_file); an incoming webhook posts to its own channel`,
			}},
		{"both ways in", "sinks:\n  - type: slack\n    webhook_url_file: /w\n    token_file: /t\n    channel: C1\n",
			[]string{`c.yaml:2:5: sinks[0]: give webhook_url_file (an incoming webhook) or token_file with channel (a bot), not both`}},
		{"webhook url is redacted", "sinks:\n  - type: webhook\n    url: hooks.example/T0/B0/s3cr3tpath\n",
			[]string{`c.yaml:2:5: sinks[0]: url …: want an http:// or https:// URL`}},
		{"syslog", "sinks:\n  - type: syslog\n    network: tcp\n    address: siem\n    tls: {ca_file: x}\n",
			[]string{`c.yaml:2:5: sinks[0]: address "siem": want host:port`, `c.yaml:2:5: sinks[0]: tls settings need network: tls`}},
		{"duplicate names", "sinks:\n  - type: file\n    path: a\n    name: out\n  - type: file\n    path: b\n    name: out\n",
			[]string{`c.yaml:5:5: sinks[1]: out is also the name of sinks[0]; give one a name`}},
		{"duplicate names through an alias: at the alias", "sinks:\n  - &w {type: webhook, url: 'https://x.example/h', name: out}\n  - *w\n",
			[]string{`c.yaml:3:5: sinks[1]: out is also the name of sinks[0]; give one a name`}},
		{"key twice", "sinks:\n  - type: file\n    path: a\n    path: b\n", []string{`c.yaml:4:5: sinks[0].path: given twice`}},
		{"syntax", "sinks:\n  - type: file\n   path: a\n", []string{`c.yaml:3:4: value is not allowed in this context`}},
		{"inline authorization", "sinks:\n  - type: webhook\n    url: https://x.example/\n    headers:\n      X-Tenant: acme\n      authorization: Bearer s3cr3t\n",
			[]string{`c.yaml:6:7: sinks[0].headers.authorization: secrets are not read from the config file; put the value in a file and name that under header_files (header_files: {authorization: /run/secrets/…})`}},
		{"header value with a line break", "sinks:\n  - type: webhook\n    url: https://x.example/\n    headers: {X-Tenant: \"acme\\r\\nX-Evil: 1\"}\n",
			[]string{`c.yaml:4:25: sinks[0].headers.X-Tenant: the value holds a line break or another control character`}},
		{"header given twice", "sinks:\n  - type: webhook\n    url: https://x.example/\n    headers: {x-tenant: acme}\n    header_files: {X-Tenant: /t, 'Bad Name': /b}\n",
			[]string{`c.yaml:2:5: sinks[0]: header_files: header name "Bad Name" is not a valid HTTP header name`,
				`c.yaml:2:5: sinks[0]: header X-Tenant is given by headers and by header_files; keep one`}},
		// The last value was kept without a word, and a name differing
		// in case only read "given by headers and by headers".
		{"header twice in headers", "sinks:\n  - type: webhook\n    url: https://x.example/\n    headers: {X-Tenant: acme, X-Tenant: other}\n",
			[]string{`c.yaml:4:31: sinks[0].headers.X-Tenant: given twice (first as X-Tenant on line 4; header names ignore case)`}},
		{"header twice in headers, in another case", "sinks:\n  - type: webhook\n    url: https://x.example/\n    headers:\n      X-Tenant: acme\n      x-tenant: other\n",
			[]string{`c.yaml:6:7: sinks[0].headers.x-tenant: given twice (first as X-Tenant on line 5; header names ignore case)`}},
		{"header twice in header_files", "sinks:\n  - type: webhook\n    url: https://x.example/\n    header_files: {X-Key: /a, X-KEY: /b}\n",
			[]string{`c.yaml:4:31: sinks[0].header_files.X-KEY: given twice (first as X-Key on line 4; header names ignore case)`}},
		{"bad name", "sinks:\n  - type: file\n    path: a\n    name: 'my sink'\n",
			[]string{`c.yaml:4:11: sinks[0].name: name "my sink": want letters, digits, '.', '_' or '-', at most 64`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("c.yaml", []byte(tt.doc))
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseConfigWithoutSinks(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "format: json\n", "sinks:\n", "sinks: []\n", "# nothing\n"} {
		cfgs, err := parseConfig("c.yaml", []byte(doc))
		if err != nil || len(cfgs) != 0 {
			t.Errorf("%q: %v, %v", doc, cfgs, err)
		}
	}
}

// parseFlags parses args with every sink type's flags defined.
func parseFlags(t *testing.T, args ...string) *Flags {
	t.Helper()
	f := NewFlags()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		minSev  alert.Severity
		want    []string // name:type:detail
		wantErr string
	}{
		{"none", nil, alert.Info, nil, ""},
		{"all", []string{"--slack-webhook-url", "https://hooks.slack.com/services/T/B/Hook5ecretHook5ecret", "--webhook-url", "https://soar.example/h",
			"--alerts-file", "a.jsonl", "--alerts-format", "ecs", "--syslog-addr", "tls://siem:6514"}, alert.High,
			[]string{"slack:slack:", "webhook:webhook:", "alerts-file:file:ecs", "syslog:syslog:tls siem:6514"}, ""},
		{"bot", []string{"--slack-token", testToken, "--slack-channel", "C1", "--slack-api-url", "http://127.0.0.1:9/api/"}, alert.Info, []string{"slack:slack:C1"}, ""},
		{"file is json by default", []string{"--alerts-file", "a.jsonl"}, alert.Info, []string{"alerts-file:file:json"}, ""},
		{"bare syslog is udp", []string{"--syslog-addr", "siem:514"}, alert.Info, []string{"syslog:syslog:udp siem:514"}, ""},
		{"token without channel", []string{"--slack-token", testToken}, alert.Info, nil, "--slack-token: a bot token needs a channel"},
		{"both", []string{"--slack-token", testToken, "--slack-webhook-url", "https://hooks.slack.com/x"}, alert.Info, nil, "give one"},
		// Shapes a bot token's sink only: left unused without one (the
		// command refuses it typed: TestWatchSinkFlagsWithoutTheirSink).
		{"channel without token", []string{"--slack-channel", "C1"}, alert.Info, nil, ""},
		{"channel with a webhook", []string{"--slack-webhook-url", "https://hooks.slack.com/x", "--slack-channel", "C1"}, alert.Info, []string{"slack:slack:"}, ""},
		{"bad webhook URL, redacted", []string{"--slack-webhook-url", "hooks.slack.com/services/T/B/Hook5ecretHook5ecret"}, alert.Info, nil,
			"--slack-webhook-url: webhook URL …: want an http:// or https:// URL"},
		{"bad syslog", []string{"--syslog-addr", "quic://siem:1"}, alert.Info, nil, `--syslog-addr: network "quic": want udp, tcp or tls`},
		{"bad format", []string{"--alerts-file", "a", "--alerts-format", "xml"}, alert.Info, nil, `--alerts-format: unknown file format "xml"`},
		// Blamed on the flag that holds the value, not the sink's.
		{"bad runbook URL", []string{"--slack-webhook-url", "https://hooks.slack.com/x", "--slack-runbook-url", "wiki"}, alert.Info, nil,
			"--slack-runbook-url wiki: want an http:// or https:// URL"},
		{"bad API URL", []string{"--slack-token", testToken, "--slack-channel", "C1", "--slack-api-url", "api"}, alert.Info, nil,
			"--slack-api-url api: want an http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgs, err := parseFlags(t, tt.args...).Configs(tt.minSev)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "Hook5ecret") || strings.Contains(err.Error(), "SeCrEt") {
					t.Errorf("%v leaks a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cfgs {
				detail := ""
				switch s := c.Sink.(type) {
				case *SlackConfig:
					detail = s.Channel
				case *FileConfig:
					detail = string(s.Format)
				case *SyslogConfig:
					detail = s.Network + " " + s.Address
				}
				got = append(got, c.Name+":"+c.Type+":"+detail)
				if c.MinSeverity != tt.minSev {
					t.Errorf("%s: min severity %v", c.Name, c.MinSeverity)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBuildReadsSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := newSlackServer(t)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	doc := `sinks:
  - type: slack
    token_file: ` + tokenFile + `
    channel: C0123
    api_url: ` + srv.URL + `/api/
  - type: file
    path: ` + filepath.Join(dir, "alerts.jsonl") + `
`
	cfgs, err := parseConfig("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	flagged, err := parseFlags(t, "--alerts-file", filepath.Join(dir, "more.jsonl")).Configs(alert.Info)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(append(cfgs, flagged...), DispatcherOptions{StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	sendReplayAndClose(t, d)
	if p := srv.list(); len(p) != 1 || p[0].Token != testToken {
		t.Errorf("posts %+v", p)
	}
	if n := len(readLines(t, filepath.Join(dir, "alerts.jsonl"))); n != 2 {
		t.Errorf("%d lines in the file", n)
	}
	if n := len(readLines(t, filepath.Join(dir, "more.jsonl"))); n != 2 {
		t.Errorf("%d lines in the flag's file", n)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	tests := []struct {
		cfgs []Config
		want string
	}{
		{[]Config{{Type: TypeSlack, Name: "slack", Sink: &SlackConfig{TokenFile: filepath.Join(dir, "missing"), Channel: "C1"}, Origin: "c.yaml:2:5: sinks[0]"}},
			"c.yaml:2:5: sinks[0]: token_file: no such file (its path is not shown: it may be the secret itself)"},
		{[]Config{{Type: TypeWebhook, Name: "w", Sink: &WebhookConfig{URLFile: empty}, Origin: "c.yaml:2:5: sinks[0]"}}, "url_file: " + empty + ": file is empty"},
		{[]Config{{Type: TypeFile, Name: "slack", Sink: &FileConfig{Path: filepath.Join(dir, "a")}, Origin: "c.yaml:2:5: sinks[0]"},
			{Type: TypeSlack, Name: "slack", Sink: &SlackConfig{WebhookURL: "https://hooks.slack.com/x"}, Origin: "--slack-webhook-url"}},
			`--slack-webhook-url: a sink named "slack" is also defined by c.yaml:2:5: sinks[0]; give one a name`},
		{[]Config{{Type: TypeSyslog, Name: "s", Sink: &SyslogConfig{Network: "tls", Address: "h:1", TLS: &TLSConfig{CAFile: empty}}, Origin: "o"}}, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		_, err := Build(tt.cfgs, DispatcherOptions{})
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Build: %v, want %q", err, tt.want)
		}
	}
}

// What anchors, aliases and merges may make: sinks of their own, whose
// Origin is where they are used.
func TestParseConfigAnchors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string // per sink: name type origin detail
	}{
		{"merge overriding the path",
			"sinks:\n  - &f {type: file, path: a.jsonl}\n  - <<: *f\n    path: b.jsonl\n    format: ecs\n",
			[]string{"file-1 file c.yaml:2:5: sinks[0] a.jsonl json", "file-2 file c.yaml:3:5: sinks[1] b.jsonl ecs"}},
		{"earlier merge wins, own keys win over both",
			"a: &a {type: file, path: a.jsonl, format: ecs}\nb: &b {type: webhook, path: b.jsonl}\nsinks:\n  - {<<: [*a, *b], format: json}\n",
			[]string{"file file c.yaml:4:5: sinks[0] a.jsonl json"}},
		{"nested merge", "a: &a {type: file}\nb: &b {<<: *a, path: n.jsonl}\nsinks:\n  - <<: *b\n",
			[]string{"file file c.yaml:4:5: sinks[0] n.jsonl json"}},
		// Two sinks of one endpoint are not refused: see duplicates.go.
		{"an aliased webhook is at its alias", "sinks:\n  - &w {type: webhook, url: 'https://x.example/h'}\n  - *w\n",
			[]string{"webhook-1 webhook c.yaml:2:5: sinks[0] ", "webhook-2 webhook c.yaml:3:5: sinks[1] "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfgs, err := parseConfig("c.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cfgs {
				detail := ""
				if f, ok := c.Sink.(*FileConfig); ok {
					detail = f.Path + " " + string(cmpFormat(f.Format))
				}
				got = append(got, c.Name+" "+c.Type+" "+c.Origin+" "+detail)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func cmpFormat(f FileFormat) FileFormat {
	if f == "" {
		return FileJSON
	}
	return f
}

func TestParseConfigMergeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"merge of a scalar", "sinks:\n  - {<<: 3, type: file, path: a}\n",
			[]string{"c.yaml:2:10: sinks[0].<<: want a mapping, or a list of mappings, to merge"}},
		// Reported at the merge, where the entry took the key: the anchor's
		// line is right for the anchor (helper-102 found it at the anchor).
		{"a merged key of another type", "w: &w {url: 'https://x.example/'}\nsinks:\n  - {<<: *w, type: file, path: a}\n",
			[]string{"c.yaml:3:6: sinks[0].url: does not apply to a file sink (it is for webhook)"}},
		{"a merged key of another type, block style", "sinks:\n  - &base\n    type: file\n    path: a.jsonl\n  - <<: *base\n    type: webhook\n    url: http://127.0.0.1:1/x\n",
			[]string{"c.yaml:5:5: sinks[1].path: does not apply to a webhook sink (it is for file)"}},
		{"a merged value refused, through a nested merge", "a: &a {queue_size: -1}\nb: &b {<<: *a}\nsinks:\n  - {<<: *b, type: file, path: x}\n",
			[]string{"c.yaml:4:6: sinks[0].queue_size: want a positive whole number, not \"-1\""}},
		{"merge of itself", "sinks:\n  - &s {<<: *s, type: file, path: a}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig("c.yaml", []byte(tt.doc))
			if tt.want == nil {
				// Only that it ends, without a panic: a mapping merging
				// itself is accepted as its own keys.
				return
			}
			checkProblems(t, err, tt.want)
		})
	}
}

// FuzzParseConfig: whatever the bytes, the parser neither panics nor
// accepts a sink it could not build, and every problem names the file.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{
		"sinks:\n  - type: slack\n    webhook_url_file: /w\n",
		"sinks:\n  - type: slack\n    token_file: /t\n    channel: C1\n    api_url: http://x/api\n    throttle: 1m\n    throttle_key: user\n",
		"sinks:\n  - type: webhook\n    url: https://x/\n    headers: {A: b}\n",
		"sinks:\n  - type: webhook\n    url: https://x/\n    headers: {a: \"b\\nc\", Authorization: x}\n    header_files: {A: /a, b: /b}\n",
		"sinks:\n  - type: file\n    path: a\n    format: ecs\n",
		"sinks:\n  - type: syslog\n    network: tls\n    address: h:1\n    tls: {ca_file: c, insecure_skip_verify: true}\n",
		"sinks: &a [*a]\n",
		"sinks:\n  - &e {type: file, path: p}\n  - *e\n",
		"sinks:\n  - type: [file]\n",
		"sinks:\n  - {type: file, path: a, name: x}\n  - {type: file, path: b, name: x}\n",
		"- a\n",
		"sinks: 3\n",
		// Anchors, aliases and merges: copies of one sink, changed or not.
		"sinks:\n  - &f {type: file, path: a.jsonl}\n  - <<: *f\n    path: b.jsonl\n",
		"sinks:\n  - &f {type: file, path: a.jsonl}\n  - {<<: *f, path: ./a.jsonl, name: two}\n",
		"b: &b {type: file}\np: &p {path: a}\nsinks:\n  - {<<: [*b, *p]}\n  - {<<: [*p, *b], path: b}\n",
		"sinks:\n  - &s {<<: *s, type: file, path: a}\n",
		"sinks:\n  - {<<: [3, *x], type: file}\n",
		"sinks:\n  - &w {type: webhook, url: 'https://x/h'}\n  - *w\n  - {<<: *w, rules: [r]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfgs, err := parseConfig("fuzz.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("not a ConfigError: %v", err)
			}
			for _, p := range ce.Problems {
				if !problemPlace(p, data) {
					t.Fatalf("problem without its place (fuzz.yaml:LINE:COLUMN, in the file): %q", p)
				}
			}
			return
		}
		names := map[string]bool{}
		var files []string
		for _, c := range cfgs {
			if p := c.validate(); len(p) > 0 {
				t.Fatalf("accepted an invalid sink %+v %+v: %v", c, c.Sink, p)
			}
			if c.Name == "" || names[c.Name] {
				t.Fatalf("name %q missing or repeated", c.Name)
			}
			names[c.Name] = true
			if !strings.HasPrefix(c.Origin, "fuzz.yaml:") {
				t.Fatalf("origin %q does not name the file", c.Origin)
			}
			if f, ok := c.Sink.(*FileConfig); ok {
				abs, _ := filepath.Abs(f.Path)
				if slices.Contains(files, abs) {
					t.Fatalf("two file sinks write %s", f.Path)
				}
				files = append(files, abs)
			}
		}
	})
}

// problemPlace reports whether a problem starts with fuzz.yaml:LINE:COLUMN
// of a place in data (or just past its end: a document cut short). YAML
// ends a line at a lone CR too.
func problemPlace(p string, data []byte) bool {
	rest, ok := strings.CutPrefix(p, "fuzz.yaml:")
	if !ok {
		return false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) < 3 {
		return false
	}
	line, err1 := strconv.Atoi(parts[0])
	col, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && line >= 1 && col >= 1 && line <= bytes.Count(data, []byte("\n"))+bytes.Count(data, []byte("\r"))+2
}

// checkProblems checks that err is a ConfigError listing want, in order.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	if got := strings.Join(ce.Problems, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// sendReplayAndClose sends the replay group through d and closes it,
// delivering what it holds, within 5 s.
func sendReplayAndClose(t *testing.T, d *Dispatcher) {
	t.Helper()
	d.Send(context.Background(), replayGroup())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
