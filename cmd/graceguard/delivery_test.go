package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
)

// A copytruncate keeps the inode and starts offsets again at 0: a new
// replay written where an old one was must still alert, not be dropped as
// the old alert's duplicate.
func TestWatchAlertsAfterCopytruncateAtAnOldOffset(t *testing.T) {
	t.Parallel()
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

// crashEnv names where a child watch (GRACEGUARD_RUN_MAIN) kills itself
// with SIGKILL: "before-stdout" right before stdout takes a group (the
// ledger has recorded it as leaving), "stdout" right after stdout took it
// (and before the ledger records it as printed), "sink:NAME" right
// after that sink took one and before its journal says so, and
// "unjournalled:NAME" the same, but with the dispatcher held just before it
// journals the group it queued, for as long as the sink might take it
// first (2 s): the kill then lands where the sink has written a group the
// journal does not know yet, if the sink can ever get there.
const crashEnv = "GRACEGUARD_TEST_CRASH_AT"

func init() {
	at := os.Getenv(crashEnv)
	if os.Getenv("GRACEGUARD_RUN_MAIN") != "1" || at == "" {
		return
	}
	die := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	switch at {
	case "before-stdout":
		beforeStdout = die
	case "stdout":
		afterStdout = die
	}
	if name, ok := strings.CutPrefix(at, "sink:"); ok {
		afterSinkSend = func(sink string) {
			if sink == name {
				die()
			}
		}
	}
	if name, ok := strings.CutPrefix(at, "unjournalled:"); ok {
		taken := make(chan struct{})
		afterSinkSend = func(sink string) {
			if sink == name {
				close(taken)
				die()
			}
		}
		beforeSinkJournal = func() {
			select {
			case <-taken:
			case <-time.After(2 * time.Second):
			}
		}
	}
}

// idsIn counts each alert id in a JSON lines file.
func idsIn(t *testing.T, path string) map[string]int {
	t.Helper()
	data, _ := os.ReadFile(path)
	ids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a alert.Alert
		if json.Unmarshal([]byte(line), &a) == nil && a.ID != "" {
			ids[a.ID]++
		}
	}
	return ids
}

// kill -9 around an alert's write, to stdout or to the alerts file, and
// before anything else happens: the restart reads the lines again (no
// checkpoint was written). The alerts file must hold each alert once.
// Stdout is at least once: it must hold every alert, and may repeat only
// the group the kill cut between its write and the ledger's "printed"
// (kill -9 before the write lost it on stdout until this release).
func TestWatchKill9AroundWritesLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	for _, crashAt := range []string{"before-stdout", "stdout", "sink:alerts-file", "unjournalled:alerts-file"} {
		t.Run(crashAt, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath, outPath, alertsPath := filepath.Join(dir, "app.log"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "alerts.jsonl")
			state := filepath.Join(dir, "state")
			errOut := &testsync.Buffer{}
			run := func(env ...string) *exec.Cmd {
				out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(append(os.Environ(), "GRACEGUARD_RUN_MAIN=1",
					"GRACEGUARD_ARGS=watch --format json --poll 5ms --checkpoint-every 1h --state-dir "+state+" --alerts-file "+alertsPath+" "+logPath), env...)
				cmd.Stdout, cmd.Stderr = out, errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				return cmd
			}
			defer func() {
				if t.Failed() {
					t.Log(errOut.String())
				}
			}()
			appendFile(t, logPath, replayLines("c01", 0))
			crashing := run(crashEnv + "=" + crashAt)
			timer := time.AfterFunc(20*time.Second, func() { crashing.Process.Signal(syscall.SIGTERM) })
			err := crashing.Wait()
			timer.Stop()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the first run should kill itself at %s: %v", crashAt, err)
			}
			first := idsIn(t, alertsPath)
			// What stdout printed before the kill: a kill anywhere between
			// its write and the ledger's "printed" record (a sink's worker
			// kills concurrently with stdout's write) prints it again.
			printed := idsIn(t, outPath)
			switch crashAt {
			case "stdout":
				first = idsIn(t, outPath)
			case "before-stdout":
				if n := len(idsIn(t, outPath)); n != 0 {
					t.Fatalf("the first run printed %d alerts before it died before printing", n)
				}
			}
			if len(first) == 0 && crashAt != "before-stdout" {
				t.Fatal("the first run wrote nothing before it died")
			}

			cmd := run()
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
			}()
			// A second replay marks that the restart has read past the first.
			appendFile(t, logPath, replayLines("c02", 1))
			testsync.WaitFor(t, "the second replay in both outputs", func() bool {
				return len(idsIn(t, outPath)) >= 4 && len(idsIn(t, alertsPath)) >= 4
			})
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			for id, n := range idsIn(t, alertsPath) {
				if n != 1 {
					t.Errorf("alerts file: alert %s written %d times", id, n)
				}
			}
			for id, n := range idsIn(t, outPath) {
				// Only the group printed just before the kill may come again.
				if n > 2 || (n == 2 && printed[id] == 0) {
					t.Errorf("stdout: alert %s written %d times", id, n)
				}
			}
			if n := len(idsIn(t, alertsPath)); n != 4 {
				t.Errorf("alerts file holds %d alerts, want 4 (two replays, two rules each)", n)
			}
			if n := len(idsIn(t, outPath)); n != 4 {
				t.Errorf("stdout holds %d alerts, want 4", n)
			}
		})
	}
}
