package main

import (
	"strings"
	"testing"
)

// A mistyped flag is answered with the flags meant: the command's own
// within two edits or sharing the typed stem, or, for a flag another
// command has, that command's name ("scan --state" is watch's flag). A
// flag like nothing stays plainly unknown (TestUnknownFlagIsStillNamed).
func TestUnknownFlagSuggestsTheFlagMeant(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"scan", "--formt", "json", "a.log"}, "graceguard: unknown flag: --formt (did you mean --format?)"},
		{[]string{"watch", "--stat-dir", "x", "a.log"}, "graceguard: unknown flag: --stat-dir (did you mean --state-dir?)"},
		{[]string{"watch", "--STATE-DIR", "x", "a.log"}, "graceguard: unknown flag: --STATE-DIR (did you mean --state-dir?)"},
		{[]string{"watch", "--from-start", "a.log"}, "graceguard: unknown flag: --from-start (did you mean --from?)"},
		{[]string{"watch", "--state-pass", "f", "a.log"}, "graceguard: unknown flag: --state-pass (did you mean --state-password-file?)"},
		{[]string{"scan", "--state", "redis://127.0.0.1", "a.log"}, "graceguard: unknown flag: --state (a flag of watch, not of scan)"},
		{[]string{"idp", "serve", "--adr", "127.0.0.1:0"}, "graceguard: unknown flag: --adr (did you mean --addr?)"},
		{[]string{"rules", "test", "x.yaml", "--nope"}, "graceguard: unknown flag: --nope"},
		{[]string{"--formt", "scan"}, "graceguard: unknown flag: --formt"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			wantUsageError(t, tt.args, tt.want+"\n")
		})
	}
}

// A GRACEGUARD_ variable that names no setting of any command is said,
// with the variable meant, instead of silently leaving its setting at the
// default; one that names another command's setting (a sidecar's
// environment shared by every command) is not.
func TestUnknownEnvironmentVariableIsSaid(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string // stderr's first line, or "" for none
	}{
		{map[string]string{"GRACEGUARD_STAT_DIR": "/tmp/x"}, "graceguard: GRACEGUARD_STAT_DIR names no setting: ignored (did you mean GRACEGUARD_STATE_DIR?)"},
		{map[string]string{"GRACEGUARD_FROBNICATE": "1"}, "graceguard: GRACEGUARD_FROBNICATE names no setting: ignored"},
		{map[string]string{"GRACEGUARD_SLACK_TOKEN": "xoxb-1"}, ""},
		{map[string]string{"GRACEGUARD_REDIS_PASSWORD": "pw"}, ""},
		{map[string]string{"GRACEGUARD_PROXY_JSON_KEYS": "client=ip"}, ""},
	} {
		for k, v := range tt.env {
			t.Run(k, func(t *testing.T) {
				t.Setenv(k, v)
				stdout, stderr, code := run(t, nil, "version")
				if code != exitOK || !strings.Contains(stdout, "graceguard") {
					t.Fatalf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
				}
				first, _, _ := strings.Cut(stderr, "\n")
				if first != tt.want {
					t.Errorf("stderr %q, want its first line %q", stderr, tt.want)
				}
				if strings.Contains(stderr, v) {
					t.Errorf("stderr %q shows the variable's value", stderr)
				}
			})
		}
	}
}

// Kubernetes gives every container variables naming each Service of its
// namespace (enableServiceLinks, on unless turned off): the chart's own
// Services, graceguard (its /metrics) and graceguard-redis, make
// GRACEGUARD_ ones. They are no one's typo, and are not said; a typo among
// them still is.
func TestKubernetesServiceLinksAreNoUnknownVariables(t *testing.T) {
	links := map[string]string{
		"GRACEGUARD_SERVICE_HOST":               "10.96.0.6",
		"GRACEGUARD_SERVICE_PORT":               "9090",
		"GRACEGUARD_SERVICE_PORT_GRACEGUARD":    "9090",
		"GRACEGUARD_PORT":                       "tcp://10.96.0.6:9090",
		"GRACEGUARD_PORT_9090_TCP":              "tcp://10.96.0.6:9090",
		"GRACEGUARD_PORT_9090_TCP_PROTO":        "tcp",
		"GRACEGUARD_PORT_9090_TCP_PORT":         "9090",
		"GRACEGUARD_PORT_9090_TCP_ADDR":         "10.96.0.6",
		"GRACEGUARD_REDIS_SERVICE_HOST":         "10.96.0.5",
		"GRACEGUARD_REDIS_SERVICE_PORT":         "6379",
		"GRACEGUARD_REDIS_SERVICE_PORT_REDIS":   "6379",
		"GRACEGUARD_REDIS_PORT":                 "tcp://10.96.0.5:6379",
		"GRACEGUARD_REDIS_PORT_6379_TCP":        "tcp://10.96.0.5:6379",
		"GRACEGUARD_REDIS_PORT_6379_TCP_PROTO":  "tcp",
		"GRACEGUARD_REDIS_PORT_6379_TCP_PORT":   "6379",
		"GRACEGUARD_REDIS_PORT_6379_TCP_ADDR":   "10.96.0.5",
		"GRACEGUARD_DEV_REDIS_PORT_6379_UDP":    "udp://10.96.0.7:6379",
		"GRACEGUARD_DEV_REDIS_PORT_6379_SCTP":   "sctp://10.96.0.7:6379",
		"GRACEGUARD_DEV_REDIS_SERVICE_PORT_TLS": "6380",
	}
	for k, v := range links {
		t.Setenv(k, v)
	}
	t.Setenv("GRACEGUARD_STAT_DIR", "/tmp/x")
	stdout, stderr, code := run(t, nil, "version")
	if code != exitOK || !strings.Contains(stdout, "graceguard") {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want := "graceguard: GRACEGUARD_STAT_DIR names no setting: ignored (did you mean GRACEGUARD_STATE_DIR?)\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant only:\n%s", stderr, want)
	}
}
