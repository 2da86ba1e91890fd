package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

func tortureReplay(n int) string {
	url := "https://k8sou.example.com/auth/idp/k8sIdp/token"
	dn := fmt.Sprintf("uid=r%d,ou=shadow,o=Tremolo", n)
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond).Format("2006-01-02 15:04:05,000")
	return fmt.Sprintf("[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.23] - [h%039d]\n", ts, url, dn, n) +
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [192.0.2.66] - [s%039d]\n", ts, url, dn, n) +
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.66] - [s%039d]\n", ts, url, dn, n)
}

// A kill -9 right after a checkpoint taken while a replay's refreshes wait
// in the merge (another file is announced and not read yet) and its reuse
// line is not known to be whole: the next run reads the reuse line again
// and must judge it after the refreshes the checkpoint kept, and alert.
func TestKillAfterCheckpointJudgesTheRereadReuseAfterItsRefreshes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state, copyDir := filepath.Join(dir, "state"), filepath.Join(dir, "copy")
	id := source.FileID{Dev: 1, Ino: 7, Fingerprint: "f"}
	var alerted mismatches
	deliver := alerted.deliver
	first := tortureReplay(1) + tortureReplay(2)
	// The last line is a record only once the next line (or the file's
	// end) says it is whole: the checkpoint resumes at its start.
	resume := int64(len(first) - len(lastLine(tortureReplay(2))))
	// Settle: the unread file holds the merge back for the whole test.
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state, CheckpointEvery: 10 * time.Millisecond, Settle: time.Hour, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan source.Batch, 8)
	in <- source.Batch{Key: "k", Path: "app.log", ID: id}
	in <- source.Batch{Key: "c", Path: "app.log", ID: source.FileID{Dev: 1, Ino: 8, Fingerprint: "c"}}
	in <- source.Batch{Key: "k", Path: "app.log", ID: id, Data: []byte(first)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, in) }()
	// The "kill": a copy of the state directory once a checkpoint covers
	// every byte read.
	copyStateAtCheckpoint(t, state, copyDir, resume, "a checkpoint at the end")
	cancel()
	<-done
	first1 := alerted.take()

	second := tortureReplay(3)
	w2, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	in2 := make(chan source.Batch, 8)
	second = lastLine(tortureReplay(2)) + second
	in2 <- source.Batch{Key: "k", Path: "app.log", ID: id, Offset: resume}
	in2 <- source.Batch{Key: "k", Path: "app.log", ID: id, Offset: resume, Data: []byte(second)}
	in2 <- source.Batch{Key: "k", Path: "app.log", ID: id, Offset: resume + int64(len(second)), Idle: true}
	close(in2)
	if err := w2.Run(context.Background(), in2); err != nil {
		t.Fatal(err)
	}
	second1 := alerted.take()
	for _, u := range []string{"uid=r1,ou=shadow,o=Tremolo", "uid=r2,ou=shadow,o=Tremolo", "uid=r3,ou=shadow,o=Tremolo"} {
		if n := first1[u] + second1[u]; n != 1 {
			t.Errorf("%s alerted %d times (first run %v, second %v), want once", u, n, first1, second1)
		}
	}
}

func lastLine(s string) string {
	i := strings.LastIndexByte(s[:len(s)-1], '\n')
	return s[i+1:]
}

// After a rename rotation the old file drains while the new one, under the
// same name, is read: a replay's refreshes read from the old file wait for
// their reuse line, which comes only when the old file is known ended. The
// new file's clock, ahead, must not end their wait: they are the old
// file's. (Each source's clock was found by name, and either file could
// answer.)
func TestRotatedFileKeepsItsOwnClock(t *testing.T) {
	t.Parallel()
	for i := range 20 {
		var alerted mismatches
		deliver := alerted.deliver
		w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Settle: time.Hour, Deliver: deliver})
		if err != nil {
			t.Fatal(err)
		}
		old, cur := source.FileID{Dev: 1, Ino: 1, Fingerprint: "old"}, source.FileID{Dev: 1, Ino: 2, Fingerprint: "new"}
		r1, later := tortureReplay(1), tortureReplay(30_000)
		in := make(chan source.Batch, 8)
		in <- source.Batch{Key: "old", Path: "app.log", ID: old}
		in <- source.Batch{Key: "new", Path: "app.log", ID: cur}
		in <- source.Batch{Key: "old", Path: "app.log", ID: old, Data: []byte(r1)}
		in <- source.Batch{Key: "new", Path: "app.log", ID: cur, Data: []byte(later)}
		in <- source.Batch{Key: "old", Path: "app.log", ID: old, Offset: int64(len(r1)), Ended: true}
		in <- source.Batch{Key: "new", Path: "app.log", ID: cur, Offset: int64(len(later)), Idle: true}
		close(in)
		if err := w.Run(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if got := alerted.take(); got["uid=r1,ou=shadow,o=Tremolo"] != 1 {
			t.Fatalf("round %d: the old file's replay alerted %d times, want once (%v)", i, got["uid=r1,ou=shadow,o=Tremolo"], got)
		}
	}
}

// A kill -9 while a group is on its way out (after the ledger wrote it as
// leaving, before it recorded it as printed: the state directory as it is
// at the moment stdout is written) must not lose it: the restart hands it
// to stdout and to the queued sinks again, even when no line is read
// again, and a line read again raises nothing more. A further restart
// hands out nothing. (The ledger once recorded the ids before stdout's
// write, and a kill there lost the group on stdout.)
func TestKillWhileAGroupLeavesHandsItOutAtRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state, copyDir := filepath.Join(dir, "state"), filepath.Join(dir, "copy")
	data := []byte(tortureReplay(1))
	feed := func(w *Watcher) {
		t.Helper()
		in := make(chan source.Batch, 2)
		id := source.FileID{Dev: 1, Ino: 7, Fingerprint: "f"}
		in <- source.Batch{Key: "k", Path: "app.log", ID: id, Data: data}
		in <- source.Batch{Key: "k", Path: "app.log", ID: id, Offset: int64(len(data)), Idle: true}
		close(in)
		if err := w.Run(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	var first []alert.Alert
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state, Deliver: func(_ context.Context, g []alert.Alert) error {
		if first == nil {
			first = g
			if err := os.CopyFS(copyDir, os.DirFS(state)); err != nil {
				t.Error(err)
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	feed(w)
	if len(first) == 0 {
		t.Fatal("the first run raised no alert")
	}

	type run struct{ printed, queued []string }
	restart := func(readAgain bool) run {
		t.Helper()
		var r run
		ids := func(to *[]string) Deliver {
			return func(_ context.Context, g []alert.Alert) error {
				for _, a := range g {
					*to = append(*to, a.ID)
				}
				return nil
			}
		}
		w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Deliver: ids(&r.printed), Enqueue: ids(&r.queued)})
		if err != nil {
			t.Fatal(err)
		}
		if readAgain {
			feed(w)
		} else {
			in := make(chan source.Batch)
			close(in)
			if err := w.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	var want []string
	for _, a := range first {
		want = append(want, a.ID)
	}
	if r := restart(true); !slices.Equal(r.printed, want) || !slices.Equal(r.queued, want) {
		t.Errorf("restart after the kill printed %v and queued %v, want %v each, once", r.printed, r.queued, want)
	}
	if r := restart(false); len(r.printed)+len(r.queued) != 0 {
		t.Errorf("a further restart printed %v and queued %v, want nothing", r.printed, r.queued)
	}
}

// A kill -9 right after a checkpoint taken while a replay's reuse line was
// the last of a generation and not known to be whole: its twin (the
// reuse's own AzSuccess) waits in the checkpoint for it. At the restart
// another file (the one now at the path) may be read first: the old
// generation, not read yet this run, must not count as read to its end,
// or the twin is committed as a refresh from the thief's address and the
// reuse read again raises nothing (2 of 93,600 replays in the rotation
// torture).
func TestRestoredTwinWaitsForItsGenerationToBeReadAgain(t *testing.T) {
	t.Parallel()
	old, cur := source.FileID{Dev: 1, Ino: 7, Fingerprint: "f"}, source.FileID{Dev: 1, Ino: 9, Fingerprint: "n"}
	var alerted mismatches
	deliver := alerted.deliver
	copyDir, resume := killAtReuseLine(t, old, deliver)
	first1 := alerted.take()

	w2, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	later, rest := tortureReplay(30_000), lastLine(tortureReplay(2))
	in2 := make(chan source.Batch, 8)
	// The file now at the path first, then the old generation's rest.
	in2 <- source.Batch{Key: "n", Path: "app.log", ID: cur, Data: []byte(later)}
	in2 <- source.Batch{Key: "k", Path: "app.log", ID: old, Offset: resume, Data: []byte(rest)}
	in2 <- source.Batch{Key: "k", Path: "app.log", ID: old, Offset: resume + int64(len(rest)), Ended: true}
	in2 <- source.Batch{Key: "n", Path: "app.log", ID: cur, Offset: int64(len(later)), Idle: true}
	close(in2)
	if err := w2.Run(context.Background(), in2); err != nil {
		t.Fatal(err)
	}
	second1 := alerted.take()
	for _, u := range []string{"uid=r1,ou=shadow,o=Tremolo", "uid=r2,ou=shadow,o=Tremolo", "uid=r30000,ou=shadow,o=Tremolo"} {
		if n := first1[u] + second1[u]; n != 1 {
			t.Errorf("%s alerted %d times (first run %v, second %v), want once", u, n, first1, second1)
		}
	}
}

// mismatches counts reuse-ip-mismatch alerts by user: deliver is a
// WatchOptions.Deliver, take returns the counts so far and starts anew.
type mismatches struct {
	mu    sync.Mutex
	users map[string]int
}

func (m *mismatches) deliver(_ context.Context, g []alert.Alert) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range g {
		if a.Rule == "reuse-ip-mismatch" {
			if m.users == nil {
				m.users = map[string]int{}
			}
			m.users[a.User]++
		}
	}
	return nil
}

func (m *mismatches) take() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	got := m.users
	m.users = nil
	return got
}

// copyStateAtCheckpoint is a kill -9 right after a checkpoint: it waits
// until the watcher writing state has saved a position at offset, then
// copies the state directory to copyDir, which a restart then reads.
func copyStateAtCheckpoint(t *testing.T, state, copyDir string, offset int64, what string) {
	t.Helper()
	testsync.WaitFor(t, what, func() bool {
		next, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state})
		if err != nil {
			return false
		}
		next.ledger.Close()
		for _, p := range next.Positions() {
			if p.Offset == offset {
				return os.CopyFS(copyDir, os.DirFS(state)) == nil
			}
		}
		return false
	})
}

// killAtReuseLine reads two replays from the file old until a checkpoint
// stands at the second's reuse line (its last line, not known whole), and
// returns a copy of the state directory as a kill -9 then leaves it, and
// the offset the checkpoint resumes at.
func killAtReuseLine(t *testing.T, old source.FileID, deliver func(context.Context, []alert.Alert) error) (copyDir string, resume int64) {
	t.Helper()
	dir := t.TempDir()
	state, copyDir := filepath.Join(dir, "state"), filepath.Join(dir, "copy")
	first := tortureReplay(1) + tortureReplay(2)
	resume = int64(len(first) - len(lastLine(tortureReplay(2))))
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state, CheckpointEvery: 10 * time.Millisecond, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan source.Batch, 8)
	in <- source.Batch{Key: "k", Path: "app.log", ID: old, Data: []byte(first)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, in) }()
	copyStateAtCheckpoint(t, state, copyDir, resume, "a checkpoint at the reuse line")
	cancel()
	<-done
	return copyDir, resume
}

// A restart after a checkpoint taken at a replay's reuse line, its twin
// waiting in the checkpoint, with the file rotated while watch was down:
// the follower finds the file under its new name and reads the rest of it
// from the checkpoint's offset. It is the log the checkpoint named, and the
// twin waits for its reuse on that log's thread: read under the new name,
// the reuse met no twin, the twin was committed as a refresh from the
// thief's address, and the replay raised nothing (a fault-injection run: 3
// of 3 restarts, rename and copytruncate alike).
func TestRestoredTwinMeetsItsReuseReadUnderTheFilesNewName(t *testing.T) {
	t.Parallel()
	old, cur := source.FileID{Dev: 1, Ino: 7, Fingerprint: "f"}, source.FileID{Dev: 1, Ino: 9, Fingerprint: "n"}
	var alerted mismatches
	copyDir, resume := killAtReuseLine(t, old, alerted.deliver)
	first := alerted.take()

	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: copyDir, Deliver: alerted.deliver})
	if err != nil {
		t.Fatal(err)
	}
	rest, later := lastLine(tortureReplay(2)), tortureReplay(3)
	in := make(chan source.Batch, 8)
	// As the follower sends them: the rotated file under the name it has
	// now, the file now at the path announced behind it.
	in <- source.Batch{Key: "g", Path: "app.log.1", ID: old, Offset: resume}
	in <- source.Batch{Key: "p", Path: "app.log", ID: cur, Behind: "g"}
	in <- source.Batch{Key: "g", Path: "app.log.1", ID: old, Offset: resume, Data: []byte(rest)}
	in <- source.Batch{Key: "g", Path: "app.log.1", ID: old, Offset: resume + int64(len(rest)), Ended: true}
	in <- source.Batch{Key: "p", Path: "app.log", ID: cur, Data: []byte(later)}
	in <- source.Batch{Key: "p", Path: "app.log", ID: cur, Offset: int64(len(later)), Idle: true}
	close(in)
	if err := w.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	second := alerted.take()
	for _, u := range []string{"uid=r1,ou=shadow,o=Tremolo", "uid=r2,ou=shadow,o=Tremolo", "uid=r3,ou=shadow,o=Tremolo"} {
		if n := first[u] + second[u]; n != 1 {
			t.Errorf("%s alerted %d times (first run %v, second %v), want once", u, n, first, second)
		}
	}
}

// A file whose inode a file the checkpoint named left behind (deleted
// while watch was down) is another log: it keeps its own name, where it
// was read, and saved, under the deleted one's.
func TestAFileReusingACheckpointedInodeKeepsItsName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := source.FileID{Dev: 1, Ino: 5, Fingerprint: "aaaa", FingerprintLen: 4}
	runBatches(t, dir, []source.Batch{
		{Key: "a", Path: "/logs/a.log", ID: a, Data: []byte(refreshLine("10:00:00,000", "198.51.100.1", "f1"))},
		{Key: "a", Path: "/logs/a.log", ID: a, Offset: 100, Idle: true},
	})
	b := source.FileID{Dev: 1, Ino: 5, Fingerprint: "bbbb", FingerprintLen: 4}
	saved := runBatches(t, dir, []source.Batch{
		{Key: "b", Path: "/logs/b.log", ID: b, Data: []byte(refreshLine("10:00:01,000", "198.51.100.2", "f2"))},
		{Key: "b", Path: "/logs/b.log", ID: b, Offset: 100, Idle: true},
	})
	for _, p := range saved {
		if p.ID.Fingerprint == "bbbb" && p.Path != "/logs/b.log" {
			t.Errorf("b.log saved as %+v, under another file's name", p)
		}
	}
}
