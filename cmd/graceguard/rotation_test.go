package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/source"
)

// watchProc is graceguard watch run as a separate process (this test
// binary, see TestMain), its alerts appended to a file across restarts.
type watchProc struct {
	cmd     *exec.Cmd
	alerts  string
	errPath string
	state   string   // its state directory
	logs    []string // the paths it follows
}

func startWatchProc(t *testing.T, dir string, args ...string) *watchProc {
	t.Helper()
	p := &watchProc{alerts: filepath.Join(dir, "alerts.jsonl"), errPath: filepath.Join(dir, "stderr.log"), state: filepath.Join(dir, "state")}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			p.logs = append(p.logs, a)
		}
	}
	out, err := os.OpenFile(p.alerts, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errOut, err := os.OpenFile(p.errPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer errOut.Close()
	p.cmd = exec.Command(os.Args[0])
	p.cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1", "GRACEGUARD_ARGS=watch --format json --poll 5ms --checkpoint-every 100ms --state-dir "+p.state+" "+strings.Join(args, " "))
	p.cmd.Stdout, p.cmd.Stderr = out, errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			data, _ := os.ReadFile(p.errPath)
			t.Logf("stderr:\n%s", data)
		}
	})
	return p
}

func (p *watchProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("watch exited: %v", err)
	}
}

// mismatches counts reuse-ip-mismatch alerts per user.
func (p *watchProc) mismatches() map[string]int {
	data, _ := os.ReadFile(p.alerts)
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a alert.Alert
		if json.Unmarshal([]byte(line), &a) == nil && a.Rule == "reuse-ip-mismatch" {
			counts[strings.TrimSuffix(strings.TrimPrefix(a.User, "uid="), ",ou=shadow,o=Tremolo")]++
		}
	}
	return counts
}

// waitAlerts waits until users each have an alert, then checks that every
// user alerted exactly once.
func (p *watchProc) waitAlerts(t *testing.T, users ...string) {
	t.Helper()
	testsync.WaitFor(t, fmt.Sprintf("alerts for %v", users), func() bool {
		c := p.mismatches()
		for _, u := range users {
			if c[u] == 0 {
				return false
			}
		}
		return true
	})
	p.waitCheckpointed(t) // every line judged: a repeat would be out by now
	for u, n := range p.mismatches() {
		if n != 1 {
			t.Errorf("%s alerted %d times", u, n)
		}
	}
}

// waitCheckpointed waits until the checkpoint says every followed file
// was read to its end, as it is now: every line was judged by then (one
// source: nothing waits), and a restart resumes from there. The position
// must be the file's now at the path, told by its first bytes: the
// checkpoint also keeps the generations rotated away under the same path
// (and copies under the same inode), and one of those can end at the
// same offset.
func (p *watchProc) waitCheckpointed(t *testing.T) {
	t.Helper()
	type fileNow struct {
		size        int64
		fingerprint string
	}
	want := map[string]fileNow{}
	for _, path := range p.logs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data[:min(len(data), 256)])
		want[path] = fileNow{int64(len(data)), hex.EncodeToString(sum[:])}
	}
	testsync.WaitFor(t, fmt.Sprintf("a checkpoint at the end of %v", p.logs), func() bool {
		f, err := os.Open(filepath.Join(p.state, "checkpoint.gob"))
		if err != nil {
			return false
		}
		defer f.Close()
		// The checkpoint's first value; gob matches fields by name, so
		// this reads its positions and skips the rest.
		var cp struct{ Positions []source.Position }
		if gob.NewDecoder(f).Decode(&cp) != nil {
			return false
		}
		at := map[string]bool{}
		for _, pos := range cp.Positions {
			if now, ok := want[pos.Path]; ok && pos.Offset == now.size && pos.ID.Fingerprint == now.fingerprint {
				at[pos.Path] = true
			}
		}
		return len(at) == len(want)
	})
}

func renameRotate(t *testing.T, path string) {
	t.Helper()
	shiftGenerations(t, path)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

// shiftGenerations renames path.N to path.N+1, as logrotate does first.
func shiftGenerations(t *testing.T, path string) {
	t.Helper()
	for i := 8; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func copyTruncate(t *testing.T, path string) {
	t.Helper()
	shiftGenerations(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// A line of another length first: the new generation's offsets then
	// differ from the old one's, as alert ids are made of offsets.
	appendFile(t, path, "x\n")
}

// Lines written while watch was stopped (SIGTERM or kill -9) or frozen
// (SIGSTOP), across rotations, each make their alert once on the restart
// or SIGCONT: the generations in between are read, oldest first.
func TestWatchReadsEveryGeneration(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	tests := []struct {
		name   string
		pause  func(t *testing.T, p *watchProc) // stop or freeze it
		resume func(t *testing.T, p *watchProc, dir, logPath string) *watchProc
		rotate func(t *testing.T, path string)
	}{
		{"rename twice while stopped", sigterm, restart, renameRotate},
		{"rename twice after kill -9", kill9, restart, renameRotate},
		{"rename twice while SIGSTOPped", sigstop, sigcont, renameRotate},
		{"copytruncate twice while stopped", sigterm, restart, copyTruncate},
		{"copytruncate twice while SIGSTOPped", sigstop, sigcont, copyTruncate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath := filepath.Join(dir, "app.log")
			appendFile(t, logPath, replayLines("u0", 0))
			p := startWatchProc(t, dir, logPath)
			p.waitAlerts(t, "u0") // and its checkpoint
			tt.pause(t, p)
			appendFile(t, logPath, replayLines("u1", 1))
			tt.rotate(t, logPath)
			appendFile(t, logPath, replayLines("u2", 2))
			tt.rotate(t, logPath)
			appendFile(t, logPath, replayLines("u3", 3))
			p = tt.resume(t, p, dir, logPath)
			p.waitAlerts(t, "u0", "u1", "u2", "u3")
		})
	}
}

func kill9(t *testing.T, p *watchProc) {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func restart(t *testing.T, _ *watchProc, dir, logPath string) *watchProc {
	return startWatchProc(t, dir, logPath)
}

// sigstop freezes p and waits until every thread of it is stopped: a
// signal takes effect when the kernel next has each thread, and a watcher
// still running through two copytruncates a millisecond apart cannot tell
// the second one's copy from any other file (the README's copytruncate).
func sigstop(t *testing.T, p *watchProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	tasks := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	if _, err := os.Stat(tasks); err != nil {
		return // no procfs: the stop is as soon as it is
	}
	testsync.WaitFor(t, "the watcher stopped", func() bool {
		stats, _ := filepath.Glob(tasks + "/*/stat")
		for _, stat := range stats {
			data, err := os.ReadFile(stat)
			// The state follows the command's name, in parentheses.
			i := bytes.LastIndexByte(data, ')')
			if err != nil || i < 0 || i+2 >= len(data) || data[i+2] != 'T' {
				return false
			}
		}
		return len(stats) > 0
	})
}

func sigcont(t *testing.T, p *watchProc, _, _ string) *watchProc {
	p.cmd.Process.Signal(syscall.SIGCONT)
	return p
}

func sigterm(t *testing.T, p *watchProc) { p.stop(t) }

// A generation deleted before watch read it (stopped while the log was
// rotated past the generations kept) is said once, naming the file and
// where reading stopped, and the generations after it are read; a second
// restart does not say it again.
func TestWatchSaysOnceAGenerationWasDeletedUnread(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops processes")
	}
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendFile(t, logPath, replayLines("u0", 0))
	p := startWatchProc(t, dir, logPath)
	p.waitAlerts(t, "u0")
	p.stop(t)
	appendFile(t, logPath, replayLines("u1", 1)) // lost with its file
	renameRotate(t, logPath)
	appendFile(t, logPath, replayLines("u2", 2))
	renameRotate(t, logPath)
	if err := os.Remove(logPath + ".2"); err != nil { // rotate 1: u0 and u1's file deleted
		t.Fatal(err)
	}
	appendFile(t, logPath, replayLines("u3", 3))
	p = startWatchProc(t, dir, logPath)
	p.waitAlerts(t, "u0", "u2", "u3")
	p.stop(t)
	said := func() int {
		data, _ := os.ReadFile(p.errPath)
		return strings.Count(string(data), "deleted before graceguard read it")
	}
	if n := said(); n != 1 {
		t.Errorf("the lost generation was said %d times, want once", n)
	}
	if c := p.mismatches(); c["u1"] != 0 {
		t.Errorf("u1's lines, deleted unread, alerted %d times", c["u1"])
	}
	appendFile(t, logPath, replayLines("u4", 4))
	p = startWatchProc(t, dir, logPath)
	p.waitAlerts(t, "u0", "u2", "u3", "u4") // it started, past the files it had
	p.stop(t)
	if n := said(); n != 1 {
		t.Errorf("after another restart the lost generation was said %d times in all, want once", n)
	}
}
