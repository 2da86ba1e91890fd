package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// mountTmpfs mounts a tmpfs of size bytes at dir, unmounted at cleanup. It
// skips where mounting is not permitted (not root, a container without
// CAP_SYS_ADMIN), and fails instead under CI=true.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (needs root and CAP_SYS_ADMIN; mount is in util-linux): %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// fill writes into dir until the file system is full.
func fill(t *testing.T, dir, name string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// A state directory that cannot be written (full, then read-only) stops
// nothing: alerts reach stdout and the alerts file elsewhere, /readyz says
// not ready and why, the failures are counted, and once the directory
// takes writes again the watcher is ready again on its own.
func TestWatchStateDirCannotBeWritten(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"full", "read-only"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			mountTmpfs(t, state, 256<<10)
			logPath, alertsPath := filepath.Join(dir, "app.log"), filepath.Join(dir, "alerts.jsonl")
			switch mode {
			case "full":
				fill(t, state, "filler")
			case "read-only":
				if out, err := exec.Command("mount", "-o", "remount,ro", state).CombinedOutput(); err != nil {
					t.Fatalf("remount read-only: %v %s", err, out)
				}
			}
			appendFile(t, logPath, replayLines("d01", 0))
			w := startWatch(t, "--format", "json", "--poll", "5ms", "--checkpoint-every", "50ms", "--state-dir", state,
				"--alerts-file", alertsPath, "--listen", "127.0.0.1:0", logPath)
			defer func() {
				if t.Failed() {
					t.Log(w.errOut.String())
				}
			}()
			testsync.WaitFor(t, "the alert on stdout", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
			testsync.WaitFor(t, "the alert in the alerts file", func() bool { return len(idsIn(t, alertsPath)) == 2 })
			if mode == "full" {
				// What failed writes freed (a temporary file removed) is
				// taken again, so the directory stays full.
				fill(t, state, "filler2")
			}
			addr := waitForAddr(t, w)
			var body string
			testsync.WaitFor(t, "/readyz naming the state directory", func() bool {
				var code int
				code, body = get(t, "http://"+addr+"/readyz")
				return code == 503 && strings.Contains(body, "state directory")
			})
			testsync.WaitFor(t, "/metrics counting the ledger's and the checkpoint's failures", func() bool {
				_, metrics := get(t, "http://"+addr+"/metrics")
				return strings.Contains(metrics, `graceguard_state_write_failures_total{file="ledger"}`) &&
					strings.Contains(metrics, `graceguard_state_write_failures_total{file="checkpoint"}`)
			})

			// The directory takes writes again.
			switch mode {
			case "full":
				os.Remove(filepath.Join(state, "filler"))
				os.Remove(filepath.Join(state, "filler2"))
			case "read-only":
				if out, err := exec.Command("mount", "-o", "remount,rw", state).CombinedOutput(); err != nil {
					t.Fatalf("remount read-write: %v %s", err, out)
				}
			}
			testsync.WaitFor(t, "/readyz ready again", func() bool {
				code, _ := get(t, "http://"+addr+"/readyz")
				return code == 200
			})
			appendFile(t, logPath, replayLines("d02", 1))
			testsync.WaitFor(t, "the next alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })
			if code := w.stop(t); code != 0 {
				t.Errorf("exit %d", code)
			}
			ledger, _ := os.ReadFile(filepath.Join(state, "delivery.ledger"))
			// The ids recorded as printed; a group's "leaving" line precedes them.
			printed := 0
			for _, line := range strings.Split(string(ledger), "\n") {
				if len(line) == 20 {
					printed++
				}
			}
			if printed != 4 {
				t.Errorf("the ledger holds %d ids printed, want the 4 alerts sent, those of the outage too:\n%s", printed, ledger)
			}
		})
	}
}

// A damaged checkpoint is not a reason to stop (exit 2) nor to send past
// alerts again: watch falls back to the checkpoint before it, or, with both
// damaged, starts afresh and the delivery ledger keeps every alert sent
// from going out again.
func TestWatchDamagedCheckpoint(t *testing.T) {
	for _, damage := range []string{"newest", "both"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "state")
			args := []string{"--format", "json", "--poll", "5ms", "--state-dir", state, logPath}
			for i := range 2 { // two runs: two checkpoints, the newest and the one before
				appendFile(t, logPath, replayLines(fmt.Sprintf("e%02d", i), i))
				w := startWatch(t, args...)
				testsync.WaitFor(t, "the replay's alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
				if code := w.stop(t); code != 0 {
					t.Fatalf("exit %d: %s", code, w.errOut.String())
				}
			}
			garbage := []byte("this is not a checkpoint\n")
			os.WriteFile(filepath.Join(state, "checkpoint.gob"), garbage, 0o640)
			if damage == "both" {
				os.WriteFile(filepath.Join(state, "checkpoint.gob.prev"), garbage[:7], 0o640)
			}
			appendFile(t, logPath, replayLines("e02", 2))
			w := startWatch(t, args...)
			testsync.WaitFor(t, "the new replay's alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") >= 1 })
			if code := w.stop(t); code != 0 {
				t.Fatalf("exit %d: %s", code, w.errOut.String())
			}
			got := w.alerts(t)
			for _, a := range got {
				if a.User != "uid=e02,ou=shadow,o=Tremolo" {
					t.Errorf("an alert sent before was sent again: %s %s", a.Rule, a.User)
				}
			}
			if !strings.Contains(w.errOut.String(), "checkpoint is damaged") {
				t.Errorf("the damage was not logged:\n%s", w.errOut.String())
			}
			if _, err := os.Stat(filepath.Join(state, "checkpoint.gob.damaged")); err != nil {
				t.Errorf("the damaged checkpoint was not set aside: %v", err)
			}
		})
	}
}
