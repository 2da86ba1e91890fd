package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sink flag that only shapes another flag's sink, typed without that
// sink, does nothing: watch ran, the file never written in ECS and no
// Slack message linking the runbook, and said nothing. Set in the config
// file or the environment it is a default, as the --revoke-* flags are.
func TestWatchSinkFlagsWithoutTheirSink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("alerts-format: ecs\nslack-runbook-url: https://wiki.example/runbook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alerts := filepath.Join(dir, "alerts.jsonl")
	tests := []struct {
		args []string
		want string // "" for a watch that runs
	}{
		{[]string{"--alerts-format", "ecs"}, "graceguard: --alerts-format: given without --alerts-file"},
		{[]string{"--slack-runbook-url", "https://wiki.example/runbook"}, "graceguard: --slack-runbook-url: given without --slack-webhook-url or --slack-token"},
		{[]string{"--slack-channel", "C1"}, "graceguard: --slack-channel: given without --slack-token: it shapes a bot token's sink only"},
		{[]string{"--slack-webhook-url", "http://127.0.0.1:1/hook", "--slack-api-url", "http://127.0.0.1:1/api/"}, "graceguard: --slack-api-url: given without --slack-token"},
		{[]string{"--alerts-format", "ecs", "--alerts-file", alerts}, ""},
		{[]string{"--config", cfg}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			checkWatchRunsOrRefuses(t, tt.args, tt.want)
		})
	}
}

// The same flags from the environment are defaults, left unused without
// their sink: GRACEGUARD_SLACK_CHANNEL alone stopped watch (exit 2), where
// GRACEGUARD_SLACK_RUNBOOK_URL alone did not.
func TestWatchSinkFlagsFromTheEnvironmentAreDefaults(t *testing.T) {
	for k, v := range map[string]string{
		"GRACEGUARD_ALERTS_FORMAT": "ecs", "GRACEGUARD_SLACK_RUNBOOK_URL": "https://wiki.example/runbook",
		"GRACEGUARD_SLACK_CHANNEL": "C1", "GRACEGUARD_SLACK_API_URL": "http://127.0.0.1:1/api/",
	} {
		t.Setenv(k, v)
	}
	checkWatchRunsOrRefuses(t, nil, "")
}

// A bad value of a flag that shapes a flag's sink is blamed on that flag,
// or on the variable or config key it came from: it was blamed on the
// flag that made the sink (--alerts-file, --slack-webhook-url), which the
// user had given right, and from the environment on that flag's variable.
func TestWatchSinkFlagProblemsNameTheSettingGiven(t *testing.T) {
	dir := t.TempDir()
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := filepath.Join(dir, "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("slack-runbook-url: wiki/runbook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"format flag", nil, []string{"--alerts-file", alerts, "--alerts-format", "bogus"},
			`graceguard: --alerts-format: unknown file format "bogus"`},
		{"format variable", map[string]string{"GRACEGUARD_ALERTS_FORMAT": "bogus"}, []string{"--alerts-file", alerts},
			`graceguard: GRACEGUARD_ALERTS_FORMAT: unknown file format "bogus"`},
		{"runbook flag", nil, []string{"--slack-webhook-url", "http://127.0.0.1:1/hook", "--slack-runbook-url", "wiki/runbook"},
			"graceguard: --slack-runbook-url wiki/runbook: want an http:// or https:// URL"},
		{"runbook variable", map[string]string{"GRACEGUARD_SLACK_WEBHOOK_URL": "http://127.0.0.1:1/hook", "GRACEGUARD_SLACK_RUNBOOK_URL": "wiki/runbook"}, nil,
			"graceguard: GRACEGUARD_SLACK_RUNBOOK_URL wiki/runbook: want an http:// or https:// URL"},
		{"runbook config key", nil, []string{"--config", cfg, "--slack-webhook-url", "http://127.0.0.1:1/hook"},
			"graceguard: " + cfg + ":1:20: slack-runbook-url wiki/runbook: want an http:// or https:// URL"},
		{"api flag", nil, []string{"--slack-token", "xoxb-1", "--slack-channel", "C1", "--slack-api-url", "slack/api"},
			"graceguard: --slack-api-url slack/api: want an http:// or https:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			checkWatchRunsOrRefuses(t, tt.args, tt.want)
		})
	}
}
