package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// A copytruncate keeps the inode and starts offsets again at 0: a new
// replay written where an old one was must still alert, not be dropped as
// the old alert's duplicate.
func TestWatchAlertsAfterCopytruncateAtAnOldOffset(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	first, second := replayLines("c01", 0), replayLines("c02", 1)
	if len(first) != len(second) {
		t.Fatalf("the replays differ in length (%d, %d): the test needs the same offsets", len(first), len(second))
	}
	appendFile(t, logPath, first)
	w := startWatch(t, "--format", "json", "--poll", "5ms", "--state-dir", filepath.Join(dir, "state"), logPath)
	testsync.WaitFor(t, "the first replay's alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })

	// logrotate's copytruncate: copy, then truncate in place.
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(logPath, 0); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the truncation noticed", func() bool { return strings.Contains(w.errOut.String(), "file truncated") })
	appendFile(t, logPath, second)
	defer func() {
		if t.Failed() {
			t.Log(w.errOut.String(), w.out.String())
		}
	}()
	testsync.WaitFor(t, "the second replay's alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })
	as := w.alerts(t)
	if as[0].ID == as[len(as)-1].ID {
		t.Errorf("two replays share the id %s", as[0].ID)
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d: %s", code, w.errOut.String())
	}
}
