package main

import (
	"strings"
	"testing"
)

// Completion offers the words a flag takes, not file names.
func TestFlagCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"scan", "--format", ""}, []string{"text", "json"}},
		{[]string{"watch", "--from", ""}, []string{"start", "end"}},
		{[]string{"scan", "--min-severity", ""}, []string{"info", "low", "medium", "high", "critical"}},
		{[]string{"watch", "--color", ""}, []string{"auto", "always", "never"}},
		{[]string{"watch", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"geo", "lookup", "--format", ""}, []string{"table", "json"}},
		{[]string{"simulate", "--source", ""}, []string{"auto", "bind", "xff"}},
		{[]string{"watch", "--revoke", ""}, []string{"high", "critical", "rules", "off"}},
		{[]string{"watch", "--alerts-format", ""}, []string{"json", "ecs"}},
		{[]string{"idp", "serve", "--session-store", ""}, []string{"memory", "kube"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, nil, append([]string{"__complete"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			directive := lines[len(lines)-1]
			got := lines[:len(lines)-1]
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("completions %q, want %q", got, tt.want)
			}
			// :4 is ShellCompDirectiveNoFileComp.
			if directive != ":4" {
				t.Errorf("directive %s: want :4 (no file names)", directive)
			}
		})
	}
}
