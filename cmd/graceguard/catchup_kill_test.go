package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// alertsBySession counts the alerts in a JSON lines file by their request's
// session id (each line of the backlog has its own).
func alertsBySession(path string) map[string]int {
	counts := map[string]int{}
	data, _ := os.ReadFile(path)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var a alert.Alert
		if json.Unmarshal([]byte(line), &a) == nil && a.Rule == "every-line" {
			counts[a.Session]++
		}
	}
	return counts
}

// alertTally counts, as a JSON lines file that only grows is appended to,
// its lines and its alerts by session, reading at each look only what was
// appended since the last. The output of a 20,000-line backlog grows to
// some 17 MB; read whole and parsed at each poll of a wait (every 5 ms),
// it took most of this test's CPU and a core from the watcher it waited
// for.
type alertTally struct {
	path      string
	off       int64 // how much of the file was counted: up to a line's end
	lines     int
	bySession map[string]int
}

func newAlertTally(path string) *alertTally {
	return &alertTally{path: path, bySession: map[string]int{}}
}

// update counts the whole lines appended since the last update; a line
// still being written waits for the next.
func (a *alertTally) update() {
	f, err := os.Open(a.path)
	if err != nil {
		return
	}
	defer f.Close()
	data, _ := io.ReadAll(io.NewSectionReader(f, a.off, 1<<62))
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	a.off += int64(len(data))
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		a.lines++
		var al alert.Alert
		if json.Unmarshal(line, &al) == nil && al.Rule == "every-line" {
			a.bySession[al.Session]++
		}
	}
}

// waitForBacklog waits for the restarted child to have read the backlog. A
// race-detector build (the child is this test binary) reads it several times
// slower, close to testsync.Patience on a loaded machine, and reading the
// growing output every 5 ms takes a core from it: so under -race it waits
// longer and looks less often.
func waitForBacklog(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !raceEnabled {
		testsync.WaitFor(t, what, cond)
		return
	}
	deadline := time.Now().Add(4 * testsync.Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill -9 in the middle of catching up on a backlog, its batches parsed
// ahead on other cores: the restart resumes from the checkpoint and every
// line of the backlog alerts exactly once across the two runs (a line
// lost would have no alert, a line the ledger let through twice two).
// Stdout may print again the one group it had printed when the kill landed
// and the ledger had not recorded as printed yet (sinks/ledger.go), never
// more.
func TestWatchKill9MidBacklogLosesNoLine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	t.Parallel()
	dir := t.TempDir()
	logPath, outPath, rulesPath, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(rulesPath, []byte("rules:\n  - name: every-line\n    severity: info\n    when: event.kind == \"token_ok\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const lines = 20_000
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range lines {
		fmt.Fprintf(w, "[2026-11-23 %02d:%02d:%02d,%03d][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=u%05d,ou=shadow,o=Tremolo - NONE [198.51.100.%d] - [s%039d]\n",
			10+i/3_600_000, i/60_000%60, i/1000%60, i%1000, i%500, i%250, i)
		if i%7 == 0 {
			fmt.Fprintf(w, "[2026-11-23 %02d:%02d:%02d,%03d][XNIO-1 task-3] DEBUG Noise - between\n\tat a.b.C.d(C.java:1)\n", 10+i/3_600_000, i/60_000%60, i/1000%60, i%1000)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	errOut := &testsync.Buffer{}
	run := func(stdout *os.File) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1",
			"GRACEGUARD_ARGS=watch --format json --log-level warn --checkpoint-every 10ms --rules "+rulesPath+" --state-dir "+state+" "+logPath)
		cmd.Stdout, cmd.Stderr = stdout, errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	openOut := func() *os.File {
		out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	defer func() {
		if t.Failed() {
			t.Log(errOut.String())
		}
	}()
	// The first run prints into a pipe this test copies to the output
	// file, and the copying stops before the kill: the child then blocks on
	// stdout a pipe's worth of alerts (64 KiB, some 70) past what was
	// copied, so however late the kill lands on a loaded machine it lands
	// mid-backlog (it once found the whole backlog read). The copying also
	// stops by itself at three quarters of the backlog: the watcher
	// checkpoints only between batches, and a tick losing the select to
	// the next batch each time leaves no checkpoint until the end (the kill
	// then finds none, and the restart reads from the start, its ledger
	// dropping what was printed). What the child wrote before the kill is
	// all copied after it, as a file would have kept it.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := openOut()
	first := run(pw)
	defer first.Process.Kill() // a failed wait leaves it blocked on the pipe
	pw.Close()
	const copyAtMost = lines * 3 / 4
	stop, capped, drain, copied := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		var err error
		defer func() { copied <- err }()
		buf := make([]byte, 32<<10)
		alerts, stopped := 0, false
		for {
			if !stopped && alerts >= copyAtMost {
				close(capped)
				stopped = true
				<-drain
			}
			if !stopped {
				select {
				case <-stop:
					stopped = true
					<-drain
				default:
				}
			}
			var n int
			n, err = pr.Read(buf)
			alerts += bytes.Count(buf[:n], []byte("\n"))
			if _, werr := out.Write(buf[:n]); werr != nil {
				err = werr
				return
			}
			if err == io.EOF {
				err = nil
				return
			}
			if err != nil {
				return
			}
		}
	}()
	checkpointed := func() bool {
		_, err := os.Stat(filepath.Join(state, "checkpoint.gob"))
		return err == nil
	}
	firstPart := newAlertTally(outPath)
	testsync.WaitFor(t, "a checkpoint and a first part of the backlog's alerts", func() bool {
		select {
		case <-capped:
			return true
		default:
			firstPart.update()
			return checkpointed() && firstPart.lines >= lines/5
		}
	})
	close(stop)
	first.Process.Kill() // SIGKILL: no last checkpoint
	first.Wait()
	resumed := checkpointed()
	close(drain)
	if err := <-copied; err != nil {
		t.Fatalf("copying the first run's stdout: %v", err)
	}
	pr.Close()
	// A kill can cut a write short (a file's at a page boundary, seen
	// under load; a pipe's past 4 KiB): the ledger has not recorded that
	// group as printed, so the restart prints it again. End the cut line,
	// which parses as no alert, so the reprint is a line of its own.
	if data, _ := os.ReadFile(outPath); len(data) > 0 && data[len(data)-1] != '\n' {
		t.Logf("the kill cut the last alert's write short: %q", data[bytes.LastIndexByte(data, '\n')+1:])
		if _, err := out.Write([]byte("\n")); err != nil {
			t.Fatal(err)
		}
	}
	out.Close()
	before := len(alertsBySession(outPath))
	if before >= lines {
		t.Fatalf("the first run read the whole backlog (%d alerts) before it was killed: nothing resumed mid-backlog", before)
	}
	out = openOut()
	second := run(out)
	out.Close()
	defer func() {
		second.Process.Signal(syscall.SIGTERM)
		second.Wait()
	}()
	tally := newAlertTally(outPath)
	var counts map[string]int
	seen := 0
	defer func() {
		if t.Failed() {
			t.Logf("at the end: %d alert lines, %d lines alerted of %d (%d before the kill); the second run still running: %v", seen, len(counts), lines, before, second.ProcessState == nil)
			var missing []string
			for i, c := 0, alertsBySession(outPath); i < lines && len(missing) < 5; i++ {
				if id := fmt.Sprintf("s%039d", i); c[id] == 0 {
					missing = append(missing, id)
				}
			}
			t.Logf("lines with no alert: %v", missing)
		}
	}()
	waitForBacklog(t, "every line's alert", func() bool {
		tally.update()
		seen, counts = tally.lines, tally.bySession
		return len(counts) == lines // read again, a line makes no alert: only fewer can mean a line lost
	})
	twice := 0
	for id, n := range counts {
		if n != 1 {
			twice++
			if n > 2 || twice > 1 {
				t.Errorf("line %s alerted %d times (%d lines more than once; one group may come again after the kill)", id, n, twice)
			}
		}
	}
	t.Logf("killed after %d of %d lines' alerts (a checkpoint written: %v); %d lines alerted, %d more than once", before, lines, resumed, len(counts), twice)
}
