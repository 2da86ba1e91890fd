package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// A path that cannot be read makes /readyz say so, and is logged once, not
// at every look; once it can be read, watch is ready. A glob that matches
// nothing is said once and shown on /readyz, which stays ready.
func TestWatchReadyzTellsUnreadablePaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, why string
		make      func(t *testing.T, path string)
	}{
		{"a directory", "is a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"a FIFO", "not a regular file", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Skip("mkfifo:", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			good, bad, glob := filepath.Join(dir, "good.log"), filepath.Join(dir, "bad.log"), filepath.Join(dir, "none-*.log")
			late := filepath.Join(dir, "late-*.log")
			appendFile(t, good, replayLines("r1", 0))
			tt.make(t, bad)
			w := startWatch(t, "--format", "json", "--state-dir", "", "--listen", "127.0.0.1:0", "--poll", "5ms", good, bad, glob, late)
			addr := waitForAddr(t, w)
			testsync.WaitFor(t, "the first alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
			code, body := get(t, "http://"+addr+"/readyz")
			if code != http.StatusServiceUnavailable || !strings.Contains(body, bad) || !strings.Contains(body, tt.why) {
				t.Errorf("/readyz %d %q, want 503 naming %s and %q", code, body, bad, tt.why)
			}
			// Two more looks at the paths, each shown by a file it found
			// that was made after the one before.
			for i := 1; i <= 2; i++ {
				appendFile(t, filepath.Join(dir, fmt.Sprintf("late-%d.log", i)), replayLines(fmt.Sprintf("late%d", i), i))
				testsync.WaitFor(t, fmt.Sprintf("the alert from late-%d.log", i), func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1+i })
			}
			logs := w.errOut.String()
			if n := strings.Count(logs, "cannot follow file"); n != 1 {
				t.Errorf("the unreadable path was logged %d times, want once:\n%s", n, logs)
			}
			if n := countLines(logs, "matches no file", glob); n != 1 {
				t.Errorf("the glob matching nothing was logged %d times, want once:\n%s", n, logs)
			}

			os.Remove(bad)
			appendFile(t, bad, replayLines("r2", 3))
			testsync.WaitFor(t, "ready once the path is a file", func() bool {
				code, _ := get(t, "http://"+addr+"/readyz")
				return code == http.StatusOK
			})
			if _, body := get(t, "http://"+addr+"/readyz"); !strings.Contains(body, fmt.Sprintf("note: %s: matches no file yet", glob)) {
				t.Errorf("/readyz %q does not note the glob that matches nothing", body)
			}
			testsync.WaitFor(t, "the alert from the path now readable", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 4 })
		})
	}
}

// countLines counts the lines of s that hold every one of parts.
func countLines(s string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// graceguard_lines_read_total counts lines read, and goes on counting
// across a copytruncate rather than starting again from the new file.
func TestWatchLinesReadSurviveCopytruncate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendFile(t, logPath, replayLines("m1", 0))
	w := startWatch(t, "--format", "json", "--state-dir", "", "--listen", "127.0.0.1:0", "--poll", "5ms", logPath)
	addr := waitForAddr(t, w)
	metric := func() string {
		_, body := get(t, "http://"+addr+"/metrics")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "graceguard_lines_read_total{") {
				return l
			}
		}
		return ""
	}
	want := func(n int) string { return fmt.Sprintf(`graceguard_lines_read_total{source="%s"} %d`, logPath, n) }
	testsync.WaitFor(t, want(3), func() bool { return metric() == want(3) })
	for i := range 2 {
		copyTruncate(t, logPath) // writes one line
		appendFile(t, logPath, replayLines(fmt.Sprintf("m%d", i+2), i+1))
		testsync.WaitFor(t, want(3+4*(i+1)), func() bool { return metric() == want(3+4*(i+1)) })
	}
}

// A path a glob finds that names no file (a /var/log/containers link whose
// target the kubelet is rotating, or whose pod is gone) is not a fault:
// /readyz stays ready and notes it, as for a literal path that does not
// exist yet, and its lines are read once the file it names is there. It
// made watch not ready ("stat …: no such file or directory").
func TestWatchReadyzNotesALinkToNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	containers, pods := filepath.Join(dir, "containers"), filepath.Join(dir, "pods")
	for _, d := range []string{containers, pods} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	good, link, target := filepath.Join(dir, "good.log"), filepath.Join(containers, "ou.log"), filepath.Join(pods, "0.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	appendFile(t, good, replayLines("r1", 0))
	w := startWatch(t, "--format", "json", "--state-dir", "", "--listen", "127.0.0.1:0", "--poll", "5ms", good, filepath.Join(containers, "*.log"))
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "the first alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	code, body := get(t, "http://"+addr+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, "note: "+link+": ") {
		t.Errorf("/readyz %d %q, want 200 noting %s", code, body, link)
	}
	appendFile(t, target, replayLines("r2", 1))
	testsync.WaitFor(t, "the alert from the file the link names", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })
	if _, body := get(t, "http://"+addr+"/readyz"); strings.Contains(body, link) {
		t.Errorf("/readyz %q still notes %s, which names a file now", body, link)
	}
	if logs := w.errOut.String(); strings.Contains(logs, "cannot follow file") {
		t.Errorf("the link to no file was logged as a fault:\n%s", logs)
	}
}
