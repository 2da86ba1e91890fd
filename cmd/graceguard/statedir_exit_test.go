package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A state directory that cannot be one (a file stands at its path, or at a
// parent's) is how watch was configured: exit 2 naming --state-dir. One
// that is a directory but cannot be read (its ledger is unreadable) is an
// I/O failure at run time: exit 1.
func TestWatchStateDirErrorsExitByKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state func(t *testing.T, dir string) string
		code  int
		want  string
	}{
		{"a file where the directory goes", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "state")
			appendFile(t, path, "not a directory\n")
			return path
		}, exitUsage, "--state-dir"},
		{"a file where a parent goes", func(t *testing.T, dir string) string {
			appendFile(t, filepath.Join(dir, "parent"), "not a directory\n")
			return filepath.Join(dir, "parent", "state")
		}, exitUsage, "--state-dir"},
		{"a ledger that cannot be read", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "state")
			if err := os.MkdirAll(filepath.Join(path, "delivery.ledger"), 0o750); err != nil {
				t.Fatal(err)
			}
			return path
		}, exitRuntime, "delivery ledger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath := filepath.Join(dir, "app.log")
			appendFile(t, logPath, "")
			_, stderr, code := run(t, nil, "watch", "--state-dir", tt.state(t, dir), logPath)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}
