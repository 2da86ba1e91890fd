package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
	"github.com/graceguard/graceguard/source"
)

// A checkpoint that cannot be written is retried, each time waiting twice
// as long up to a minute, makes the watcher unready with the reason, and
// clears both once a write succeeds.
func TestCheckpointRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state, CheckpointEvery: 5 * time.Second,
		now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w.ready.Store(true)
	// Where the directory was, a file: every write into it fails.
	os.RemoveAll(state)
	os.WriteFile(state, nil, 0o640)
	w.changed = true
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute} {
		now = now.Add(time.Hour)
		if !w.checkpointDue() {
			t.Fatalf("try %d: not due an hour later", i+1)
		}
		w.retryableCheckpoint()
		if got := w.cpState.retryAt.Sub(now); got != want {
			t.Errorf("try %d: next in %v, want %v", i+1, got, want)
		}
		if !strings.Contains(w.Unready(), "state directory") {
			t.Errorf("try %d: Unready() = %q, want the state directory named", i+1, w.Unready())
		}
		now = now.Add(want - time.Millisecond)
		if w.checkpointDue() {
			t.Errorf("try %d: due before the backoff ended", i+1)
		}
	}
	os.Remove(state)
	os.MkdirAll(state, 0o750)
	now = now.Add(time.Hour)
	w.retryableCheckpoint()
	if w.cpState.err != nil || w.Unready() != "" || w.changed {
		t.Errorf("after a good write: err %v, unready %q, changed %v", w.cpState.err, w.Unready(), w.changed)
	}
	if _, err := os.Stat(filepath.Join(state, checkpointFile)); err != nil {
		t.Error(err)
	}
}

// The ids an older version left in sent.log move into the ledger: they are
// not sent again, and the old file is gone.
func TestLegacySentLogMovesIntoTheLedger(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	id := alert.ID("reuse-ip-mismatch", "1:2", 10, "raw")
	os.WriteFile(filepath.Join(state, legacySentLogFile), []byte(id+"\n"), 0o640)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if !w.ledger.Has(id) {
		t.Error("the old sent id is not in the ledger")
	}
	if _, err := os.Stat(filepath.Join(state, legacySentLogFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sent.log is still there: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(state, sinks.LedgerFile))
	if strings.TrimSpace(string(data)) != id {
		t.Errorf("ledger file %q", data)
	}
}

// A kill -9 while the checkpoint or the ledger was being replaced leaves a
// temporary file as large as it; a watcher starting removes them, so a
// restart loop does not fill the state directory.
func TestStartRemovesTemporaryFilesOfAKill(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	left := []string{checkpointFile + ".tmp123456", checkpointFile + ".tmp7", sinks.LedgerFile + ".tmp99"}
	for _, name := range append(left, "notes.txt") {
		if err := os.WriteFile(filepath.Join(state, name), []byte("half a file"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer w.ledger.Close()
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(state, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "notes.txt")); err != nil {
		t.Errorf("a file that is not a temporary one was removed: %v", err)
	}
}

// While the follower drains a generation rotated away, the file now at the
// path is announced and waits, unread, at offset 0. Checkpointed there, it
// would tell the next start that the file at the path was reached, so every
// generation between the draining one and it was finished: a kill -9 then
// lost them all (whole generations in the rotation torture). It is left out
// until it is read, but for a mark that it is unread (the next start says
// so if it is gone by then); the draining one is kept.
func TestCheckpointLeavesOutAFileWaitingForAnOlderGeneration(t *testing.T) {
	t.Parallel()
	gen := source.FileID{Dev: 1, Ino: 3, Fingerprint: "gen3"}
	cur := source.FileID{Dev: 1, Ino: 9, Fingerprint: "current"}
	line := refreshLine("10:00:00,000", "198.51.100.23", "f1")
	tests := []struct {
		name       string
		batches    []source.Batch
		wantPath   []string
		wantUnread []string
	}{
		{"waiting, announced only", []source.Batch{
			{Key: "g", Path: "app.log.3", ID: gen, Offset: 100},
			{Key: "c", Path: "app.log", ID: cur, Offset: 0, Size: 300},
			{Key: "g", Path: "app.log.3", ID: gen, Offset: 100, Data: []byte(line)},
		}, []string{"app.log.3"}, []string{"app.log"}},
		{"read once its turn came, even with nothing in it", []source.Batch{
			{Key: "g", Path: "app.log.3", ID: gen, Offset: 100},
			{Key: "c", Path: "app.log", ID: cur, Offset: 0},
			{Key: "g", Path: "app.log.3", ID: gen, Offset: 100, Data: []byte(line)},
			{Key: "c", Path: "app.log", ID: cur, Offset: 0, Idle: true},
		}, []string{"app.log", "app.log.3"}, nil},
		{"resumed at a position, announced only", []source.Batch{
			{Key: "c", Path: "app.log", ID: cur, Offset: 4096},
		}, []string{"app.log"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, unread []string
			resume, marked := splitUnread(runBatches(t, t.TempDir(), tt.batches))
			for _, p := range resume {
				got = append(got, p.Path)
			}
			for _, p := range marked {
				unread = append(unread, p.Path)
				if p.Offset != 0 || p.Size != 300 {
					t.Errorf("the unread file is marked at %d with size %d, want 0 and 300", p.Offset, p.Size)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantPath) || !slices.Equal(unread, tt.wantUnread) {
				t.Errorf("checkpointed %v and unread %v, want %v and %v", got, unread, tt.wantPath, tt.wantUnread)
			}
		})
	}
}

// splitUnread parts checkpointed positions into those a start resumes
// from and those of files announced and unread (source.Position.Unread).
func splitUnread(all []source.Position) (resume, unread []source.Position) {
	for _, p := range all {
		if p.Unread {
			unread = append(unread, p)
		} else {
			resume = append(resume, p)
		}
	}
	return resume, unread
}

// A generation that drained stays in the checkpoint, at its end, until the
// next one is read: between the two (the next not yet opened, the file at
// the path waiting behind it), a checkpoint without it named nothing, and
// the next start began afresh at the path, skipping the generations still
// to read.
func TestCheckpointKeepsADrainedGenerationUntilTheNextIsRead(t *testing.T) {
	t.Parallel()
	gen := source.FileID{Dev: 1, Ino: 4, Fingerprint: "gen4"}
	cur := source.FileID{Dev: 1, Ino: 9, Fingerprint: "current"}
	line := refreshLine("10:00:00,000", "198.51.100.23", "f1")
	end := int64(100 + len(line))
	got, _ := splitUnread(runBatches(t, t.TempDir(), []source.Batch{
		{Key: "g", Path: "app.log.4", ID: gen, Offset: 100},
		{Key: "c", Path: "app.log", ID: cur, Offset: 0},
		{Key: "g", Path: "app.log.4", ID: gen, Offset: 100, Data: []byte(line)},
		{Key: "g", Path: "app.log.4", ID: gen, Offset: end, Ended: true},
	}))
	if len(got) != 1 || got[0].ID != gen || got[0].Offset != end {
		t.Errorf("checkpointed %+v, want only the drained generation at its end (%d)", got, end)
	}
}

// Another file's data (a second pod's log) between the drain and the next
// generation's first data does not make the drained generation's position
// go: the file at the path still waits, unread, behind it.
func TestCheckpointKeepsADrainedGenerationWhileAnotherFileIsRead(t *testing.T) {
	t.Parallel()
	gen := source.FileID{Dev: 1, Ino: 4, Fingerprint: "gen4"}
	cur := source.FileID{Dev: 1, Ino: 9, Fingerprint: "current"}
	other := source.FileID{Dev: 1, Ino: 12, Fingerprint: "other pod"}
	line := refreshLine("10:00:00,000", "198.51.100.23", "f1")
	end := int64(100 + len(line))
	got := runBatches(t, t.TempDir(), []source.Batch{
		{Key: "g", Path: "app.log.4", ID: gen, Offset: 100},
		{Key: "c", Path: "app.log", ID: cur, Offset: 0},
		{Key: "o", Path: "other.log", ID: other, Offset: 0},
		{Key: "g", Path: "app.log.4", ID: gen, Offset: 100, Data: []byte(line)},
		{Key: "g", Path: "app.log.4", ID: gen, Offset: end, Ended: true},
		{Key: "o", Path: "other.log", ID: other, Offset: 0, Data: []byte(line)},
	})
	var kept bool
	for _, p := range got {
		kept = kept || (p.ID == gen && p.Offset == end)
		if p.ID == cur && !p.Unread {
			t.Errorf("checkpointed the unread file at the path: %+v", p)
		}
	}
	if !kept {
		t.Errorf("checkpointed %+v, want the drained generation at its end (%d) among them", got, end)
	}
}

// A copy a copytruncate left is read under the identity of the file it was
// copied from (its inode is the path's file's, the fingerprint its old
// first bytes). Drained, it stays in the checkpoint while the file now at
// the path waits, announced and unread, behind the copies after it: that
// file shares its inode but is not saved, and without the copy's position
// the next start skipped the copies still to read.
func TestCheckpointKeepsADrainedCopyBesideTheFileItWasCopiedFrom(t *testing.T) {
	t.Parallel()
	copied := source.FileID{Dev: 1, Ino: 7, Fingerprint: "first generation"}
	next := source.FileID{Dev: 1, Ino: 8, Fingerprint: "next copy"}
	now := source.FileID{Dev: 1, Ino: 7, Fingerprint: "third generation"}
	line := refreshLine("10:00:00,000", "198.51.100.23", "f1")
	end := int64(100 + len(line))
	got, _ := splitUnread(runBatches(t, t.TempDir(), []source.Batch{
		{Key: "c", Path: "app.log.2", ID: copied, Offset: 100},
		{Key: "n", Path: "app.log.1", ID: next, Offset: 0},
		{Key: "p", Path: "app.log", ID: now, Offset: 0},
		{Key: "c", Path: "app.log.2", ID: copied, Offset: 100, Data: []byte(line)},
		{Key: "c", Path: "app.log.2", ID: copied, Offset: end, Ended: true},
	}))
	if len(got) != 1 || got[0].ID != copied || got[0].Offset != end {
		t.Errorf("checkpointed %+v, want only the drained copy at its end (%d)", got, end)
	}
}

// A checkpointed file the follower found gone at start-up (said once and
// counted there) is ended by a lone Ended batch: the next checkpoint names
// it neither as restored nor as drained, even while another generation
// waits unread, or every later start would say it was lost again.
func TestCheckpointForgetsAFileGoneBeforeTheStart(t *testing.T) {
	t.Parallel()
	gone := source.FileID{Dev: 1, Ino: 4, Fingerprint: "deleted unread"}
	next := source.FileID{Dev: 1, Ino: 5, Fingerprint: "next generation"}
	line := refreshLine("10:00:00,000", "198.51.100.23", "f1")
	end := int64(len(line))
	dir := t.TempDir()
	first := runBatches(t, dir, []source.Batch{
		{Key: "g", Path: "app.log", ID: gone, Offset: 0},
		{Key: "g", Path: "app.log", ID: gone, Offset: 0, Data: []byte(line), Size: 2 * end},
	})
	if len(first) != 1 || first[0].ID != gone || first[0].Size != 2*end {
		t.Fatalf("the first run checkpointed %+v, want the file at %d with its size %d", first, end, 2*end)
	}
	got := runBatches(t, dir, []source.Batch{
		{Key: "app.log#gone#1", Path: "app.log", ID: gone, Offset: end, Size: 2 * end, Ended: true},
		{Key: "n", Path: "app.log.1", ID: next, Offset: 0},
	})
	for _, p := range got {
		if p.ID == gone {
			t.Errorf("checkpointed the file gone before the start: %+v", got)
		}
	}
}

// The log line a restart writes counts the users the checkpoint restored:
// they are read after its first value, and the line said users=0 whatever
// the history held.
func TestCheckpointLoadedCountsItsUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var data strings.Builder
	for i := range 3 {
		data.WriteString(strings.ReplaceAll(refreshLine(fmt.Sprintf("10:00:%02d,000", 5*i), "198.51.100.23", fmt.Sprintf("f%d", i)), "uid=", fmt.Sprintf("uid=u%d", i)))
	}
	runBatches(t, dir, []source.Batch{{Key: "a", Path: "app.log", ID: source.FileID{Dev: 1, Ino: 2}, Data: []byte(data.String())}})
	var logged bytes.Buffer
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	restored := w.local.Stats().Users
	if want := fmt.Sprintf(" users=%d", restored); restored == 0 || !strings.Contains(logged.String(), "checkpoint loaded") || !strings.Contains(logged.String(), want) {
		t.Errorf("log %q: want the %d users the checkpoint restored counted", logged.String(), restored)
	}
}
