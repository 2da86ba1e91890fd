package main

import (
	"os"
	"strings"
	"testing"
)

// rules test names the file each test stands in: the built-in rules' as
// <built-in>, never as builtin.yaml, which is a name a user's own rule file
// may have (it was the built-in set's, so a failing test could not be told
// to be the user's or graceguard's).
func TestRulesTestTellsTheBuiltinsFromAFileCalledBuiltinYAML(t *testing.T) {
	t.Chdir(t.TempDir())
	const own = "rules:\n" +
		"  - name: mine\n    severity: low\n    when: event.kind == \"login\"\n    tests:\n" +
		"      - name: passes\n        events: [{kind: login, time: \"2026-11-23T10:00:00Z\"}]\n        expect: [{severity: low}]\n" +
		"      - name: fails\n        events: [{kind: login, time: \"2026-11-23T10:00:00Z\"}]\n        expect: []\n"
	if err := os.WriteFile("builtin.yaml", []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, nil, "rules", "test", "-v", "builtin.yaml")
	if code != exitRuntime {
		t.Fatalf("exit %d, want %d (one test fails); stderr %q", code, exitRuntime, stderr)
	}
	builtins := 0
	for line := range strings.Lines(stdout) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "ok   mine / passes "):
			if !strings.HasSuffix(line, "(builtin.yaml:6)") {
				t.Errorf("the user's passing test: %q, want it placed at builtin.yaml:6", line)
			}
		case strings.HasPrefix(line, "FAIL mine / fails "):
			if !strings.HasSuffix(line, "(builtin.yaml:9)") {
				t.Errorf("the user's failing test: %q, want it placed at builtin.yaml:9", line)
			}
		case strings.HasPrefix(line, "ok   "), strings.HasPrefix(line, "FAIL "):
			builtins++
			if !strings.Contains(line, " (<built-in>:") {
				t.Errorf("a built-in rule's test: %q, want it placed in <built-in>", line)
			}
		}
	}
	if builtins == 0 || !strings.Contains(stdout, "FAIL mine / fails (builtin.yaml:9)") {
		t.Errorf("stdout %q: want the built-in tests and the user's failing one", stdout)
	}
}
