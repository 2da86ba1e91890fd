package pipeline

import (
	"context"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// runBatches runs a Watcher with a state directory over batches to the end
// and returns the positions the next run would start from.
func runBatches(t *testing.T, dir string, batches []source.Batch) []source.Position {
	t.Helper()
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir, Deliver: func(context.Context, []alert.Alert) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan source.Batch, len(batches))
	for _, b := range batches {
		in <- b
	}
	close(in)
	if err := w.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	next, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return next.Positions()
}

// A stream resumed by cursor (a container's log) is checkpointed at the
// cursor and virtual offset of the record still being assembled, or of the
// end its Idle batch named; an Ended one is forgotten.
func TestCheckpointKeepsCursors(t *testing.T) {
	t.Parallel()
	id := source.FileID{Fingerprint: "containerd://abc"}
	line := func(off int64, cur, text string) source.Batch {
		return source.Batch{Key: "kube:ns/p/c#x", Path: "ns/p/c", ID: id, Offset: off, Cursor: cur, Data: []byte(text + "\n")}
	}
	rec := "2026-11-23T10:00:00Z [2026-11-23 10:00:00,000][main] ERROR x - failed"
	cont := "2026-11-23T10:00:00Z \tat y"
	first := line(100, "c100", rec)
	second := line(first.Offset+int64(len(first.Data)), "c101", rec)
	third := line(second.Offset+int64(len(second.Data)), "c102", cont)
	end := third.Offset + int64(len(third.Data))
	idle := source.Batch{Key: first.Key, Path: first.Path, ID: id, Offset: end, Cursor: "cEnd", Idle: true}
	ended := idle
	ended.Idle, ended.Ended = false, true

	tests := []struct {
		name    string
		batches []source.Batch
		off     int64
		cur     string
		gone    bool
	}{
		{"the record being assembled", []source.Batch{first, second, third}, second.Offset, "c101", false},
		{"the end after an Idle flush", []source.Batch{first, second, third, idle}, end, "cEnd", false},
		{"an ended stream is forgotten", []source.Batch{first, second, third, idle, ended}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pos := runBatches(t, dir, tt.batches)
			if tt.gone {
				if len(pos) != 0 {
					t.Errorf("positions %+v", pos)
				}
				return
			}
			if len(pos) != 1 || pos[0].Offset != tt.off || pos[0].Cursor != tt.cur || pos[0].ID != id || pos[0].Path != "ns/p/c" {
				t.Fatalf("positions %+v, want offset %d cursor %q", pos, tt.off, tt.cur)
			}
			// A run that resumes there and sees the stream end forgets it:
			// the position the last run restored does not linger.
			resumed := ended
			resumed.Offset, resumed.Cursor = tt.off, tt.cur
			if pos := runBatches(t, dir, []source.Batch{resumed}); len(pos) != 0 {
				t.Errorf("after the stream ended: positions %+v", pos)
			}
		})
	}
}

// Alert ids name a container's log by its container id, not its path.
func TestSourceIDOfAContainer(t *testing.T) {
	t.Parallel()
	b := source.Batch{Path: "ns/p/c", ID: source.FileID{Fingerprint: "containerd://abc"}, Cursor: "x"}
	if got := sourceID(b); got != "containerd://abc" {
		t.Errorf("sourceID %q", got)
	}
	b.Cursor = ""
	if got := sourceID(b); got != "ns/p/c" {
		t.Errorf("sourceID of a stream without an inode or cursor %q", got)
	}
}

// Two containers' positions are told apart by their ids: both are 0/0.
func TestSameStream(t *testing.T) {
	t.Parallel()
	a, b := source.FileID{Fingerprint: "containerd://a"}, source.FileID{Fingerprint: "containerd://b"}
	if sameStream(a, b) || !sameStream(a, a) {
		t.Error("container ids not compared")
	}
	f1, f2 := source.FileID{Dev: 1, Ino: 2, Fingerprint: "x"}, source.FileID{Dev: 1, Ino: 2, Fingerprint: "y"}
	if !sameStream(f1, f2) {
		t.Error("a file whose fingerprint grew is another file")
	}
}

// A file rotated away and drained is forgotten like a pod once another
// file is read (until then its position, at its end, stands for where the
// reading got to: TestCheckpointKeepsADrainedGenerationUntilTheNextIsRead).
func TestCheckpointForgetsEndedFiles(t *testing.T) {
	t.Parallel()
	id := source.FileID{Dev: 1, Ino: 2, Fingerprint: "fp", FingerprintLen: 2}
	next := source.FileID{Dev: 1, Ino: 3, Fingerprint: "nx", FingerprintLen: 2}
	line := refreshLine("10:00:00,000", "198.51.100.40", "fa")
	read := source.Batch{Key: "app.log#1", Path: "app.log", ID: id, Data: []byte(line)}
	ended := source.Batch{Key: "app.log#1", Path: "app.log", ID: id, Offset: int64(len(line)), Ended: true}
	readNext := source.Batch{Key: "app.log#2", Path: "app.log", ID: next, Data: []byte(refreshLine("10:00:01,000", "198.51.100.40", "fb"))}
	dir := t.TempDir()
	if pos := runBatches(t, dir, []source.Batch{read}); len(pos) != 1 || pos[0].ID != id {
		t.Fatalf("after the first run: positions %+v", pos)
	}
	if pos := runBatches(t, dir, []source.Batch{ended, readNext}); len(pos) != 1 || pos[0].ID != next {
		t.Fatalf("the ended file's position lingers: %+v", pos)
	}
}
