package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// run executes graceguard with args as main would and returns what it wrote
// and its exit status.
func run(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	cmd := newRootCmd(stdin, &out, &errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	code = exitCode(&errOut, err)
	return out.String(), errOut.String(), code
}

// repoRoot makes the test run from the repository root, so paths (and the
// sources named in alerts) read as a user would type them.
func repoRoot(t *testing.T) {
	t.Helper()
	t.Chdir(filepath.Join("..", ".."))
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{"--bogus"},
		{"frobnicate"},
		{"scan"},
		{"scan", "--format", "xml", "x.log"},
		{"scan", "--min-severity", "urgent", "x.log"},
		{"scan", "--timezone", "Mars/Olympus", "x.log"},
		{"scan", "--color", "sometimes", "x.log"},
		{"scan", "--rules", "does-not-exist.yaml", "x.log"},
		{"rules", "check"},
		{"rules"},
		{"version", "extra"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := run(t, nil, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "graceguard: ") || strings.Contains(stderr, "goroutine") {
				t.Errorf("stderr %q: want one clear graceguard: line", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "graceguard ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, nil, "completion", "bash")
	if code != 0 || !strings.Contains(out, "graceguard") {
		t.Errorf("completion bash: exit %d", code)
	}
}

func TestDemoCommandRuns(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the demo takes ten to fifteen seconds")
	}
	out, stderr, code := run(t, nil, "demo", "--color", "never")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "reuse-geo-jump") || !strings.Contains(out, "benign race: 0 alerts") {
		t.Errorf("demo output:\n%s", out)
	}
}
