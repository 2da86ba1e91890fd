package source

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineLen is the length of a writer's line ("l 000000\n").
const lineLen = int64(len("l 000000\n"))

// syncBuffer is a log destination several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A file a checkpoint names that was deleted before graceguard read it to
// its end (it fell more generations behind than are kept) is said once,
// naming it, the offset reached and the bytes known lost, and counted; the
// generations after it are read all the same. One read to its end and
// deleted since was finished: nothing is said.
func TestFollowReportsAGenerationDeletedBeforeItWasRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// down, with lines 0-9 in path, returns the position saved before
		// and leaves lines 10-19 to read, 0-9 deleted.
		down      func(t *testing.T, path string, w *writer) (Position, *writer)
		lost      int
		wantInLog []string
		// copies: the generations left are a copytruncate's copies, read
		// under the inode of the file at the path (as the lines read
		// before the kill were; their alerts keep their ids).
		copies bool
	}{
		{"rename, half read", func(t *testing.T, path string, w *writer) (Position, *writer) {
			pos := positionOf(t, path, 5)
			w.close()
			rename(t, path) // 0-9 to .1
			w = continued(t, path, w)
			w.write(5) // 10-14
			w.close()
			rename(t, path) // 0-9 to .2, 10-14 to .1
			remove(t, path+".2")
			w = continued(t, path, w)
			return pos, w
		}, 1, []string{"offset=45", "lost_bytes=45", "app.log"}, false},
		{"copytruncate, half read", func(t *testing.T, path string, w *writer) (Position, *writer) {
			pos := positionOf(t, path, 5)
			copytruncate(t, path) // 0-9 to .1
			w.write(5)            // 10-14
			copytruncate(t, path) // 0-9 to .2, 10-14 to .1
			remove(t, path+".2")
			return pos, w
		}, 1, []string{"offset=45", "lost_bytes=45", "app.log"}, true},
		{"rename, read to its end", func(t *testing.T, path string, w *writer) (Position, *writer) {
			pos := positionOf(t, path, 10)
			w.close()
			rename(t, path)
			w = continued(t, path, w)
			w.write(5) // 10-14
			w.close()
			rename(t, path)
			remove(t, path+".2")
			w = continued(t, path, w)
			pos.Path = path + ".1" // a rotated generation, drained, when saved
			return pos, w
		}, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			pos, w := tt.down(t, path, w)
			w.write(5) // 15-19
			w.close()
			var logs syncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			var f *Follower
			c, _, _ := followWith(t, Options{Patterns: []string{path}, Positions: []Position{pos}, Logger: logger}, func(fl *Follower) { f = fl })
			c.waitLines(t, 10)
			time.Sleep(50 * time.Millisecond)
			c.checkInOrder(t, "l", 10, 20)
			if got := f.GenerationsLost(); got != uint64(tt.lost) {
				t.Errorf("GenerationsLost() = %d, want %d; log:\n%s", got, tt.lost, logs.String())
			}
			warned := strings.Count(logs.String(), "was deleted before graceguard read it")
			if warned != tt.lost {
				t.Errorf("said %d times that the file was lost, want %d; log:\n%s", warned, tt.lost, logs.String())
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			dev, ino := devIno(st)
			c.mu.Lock()
			for _, p := range c.last {
				if under := p.ID.Dev == dev && p.ID.Ino == ino; under != (tt.copies || p.Path == path) {
					t.Errorf("%s read as %s; under the inode of the file at the path: %v, want %v", p.Path, p.ID, under, tt.copies || p.Path == path)
				}
			}
			c.mu.Unlock()
			for _, s := range tt.wantInLog {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("the log does not say %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

// positionOf is where a checkpoint saved path read to its nth line, with
// its size then.
func positionOf(t *testing.T, path string, n int) Position {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, err := identify(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Position{Path: path, ID: id, Offset: int64(n) * lineLen, Size: st.Size()}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(fmt.Errorf("deleting a generation: %w", err))
	}
}

// continued is a writer of path that goes on numbering after w's lines.
func continued(t *testing.T, path string, w *writer) *writer {
	n := newWriter(t, path, "l")
	n.next = w.next
	return n
}

// A generation listed to be read from its start and deleted before it
// could be opened (a rotation under way while graceguard is behind) is
// said and counted with all its bytes; one that could not be opened for
// another reason is not lost.
func TestFollowReportsAListedGenerationGoneBeforeItWasOpened(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path+".3", "l")
	w.write(10)
	w.close()
	gens := generations(path)
	if len(gens) != 1 {
		t.Fatalf("generations %v, want app.log.3", gens)
	}
	remove(t, path+".3")
	var logs syncBuffer
	f := New(Options{Patterns: []string{path}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	_, err := openRegular(gens[0].name)
	f.listedGone(gens[0], err)
	f.listedGone(gens[0], os.ErrPermission)
	if got := f.GenerationsLost(); got != 1 {
		t.Errorf("GenerationsLost() = %d, want 1; log:\n%s", got, logs.String())
	}
	if want := fmt.Sprintf("path=%s.3", path); !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "lost_bytes=90") {
		t.Errorf("the log does not name %s and its 90 bytes:\n%s", want, logs.String())
	}
}

// A checkpoint names the generations announced and not read yet (waiting
// for an older one) as Unread: one gone at the next start is said and
// counted with its size; one still there is read from its start, and
// never taken for the newest generation read (which would make the
// generations before it look finished).
func TestFollowUnreadPositions(t *testing.T) {
	t.Parallel()
	t.Run("gone", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "app.log")
		w := newWriter(t, path, "l")
		w.write(10) // X: 0-9, read to its end
		read := positionOf(t, path, 10)
		read.Path = path + ".1"
		w.close()
		rename(t, path)
		w = continued(t, path, w)
		w.write(5) // Y: 10-14, announced, unread
		unread := positionOf(t, path, 0)
		unread.Unread = true
		w.close()
		rename(t, path) // X .2, Y .1
		w = continued(t, path, w)
		w.write(5) // Z: 15-19
		w.close()
		rename(t, path) // X .3, Y .2, Z .1
		remove(t, path+".3")
		remove(t, path+".2")
		w = continued(t, path, w)
		w.write(5) // 20-24
		w.close()
		var logs syncBuffer
		var f *Follower
		c, _, _ := followWith(t, Options{Patterns: []string{path}, Positions: []Position{read, unread}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(fl *Follower) { f = fl })
		c.waitLines(t, 10)
		time.Sleep(50 * time.Millisecond)
		c.checkInOrder(t, "l", 15, 25)
		if got := f.GenerationsLost(); got != 1 {
			t.Errorf("GenerationsLost() = %d, want 1 (the unread one); log:\n%s", got, logs.String())
		}
		if !strings.Contains(logs.String(), "lost_bytes=45") {
			t.Errorf("the log does not say the unread generation's 45 bytes were lost:\n%s", logs.String())
		}
	})
	t.Run("there", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "app.log")
		w := newWriter(t, path, "l")
		w.write(10) // A: 0-9, read to 5
		half := positionOf(t, path, 5)
		w.close()
		rename(t, path)
		w = continued(t, path, w)
		w.write(5) // C: 10-14, announced after the checkpoint
		w.close()
		rename(t, path) // A .2, C .1
		w = continued(t, path, w)
		w.write(5) // B: 15-19 at the path, announced, unread
		unread := positionOf(t, path, 0)
		unread.Unread = true
		w.close()
		var f *Follower
		c, _, _ := followWith(t, Options{Patterns: []string{path}, Positions: []Position{half, unread}}, func(fl *Follower) { f = fl })
		c.waitLines(t, 15)
		time.Sleep(50 * time.Millisecond)
		c.checkInOrder(t, "l", 5, 20)
		if got := f.GenerationsLost(); got != 0 {
			t.Errorf("GenerationsLost() = %d, want 0", got)
		}
	})
}

// A checkpoint can name one file twice: taken while the file was empty
// (no fingerprint) and again once it had lines, after kill -9s between
// (helper-76: a sidecar started before OpenUnison logged anything, killed
// twice). The file is resumed from the position read furthest, and the
// other is not reported as a deleted generation with its lines lost.
func TestFollowResumesAFileNamedTwiceOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	empty := positionOf(t, path, 0)
	w.write(10)
	read := positionOf(t, path, 10)
	w.write(5) // 10-14, written while down
	w.close()
	for _, order := range [][]Position{{empty, read}, {read, empty}} {
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		var f *Follower
		c, cancel, done := followWith(t, Options{Patterns: []string{path}, Positions: order, Logger: logger}, func(fl *Follower) { f = fl })
		c.waitLines(t, 5)
		time.Sleep(50 * time.Millisecond)
		c.checkInOrder(t, "l", 10, 15)
		if got := f.GenerationsLost(); got != 0 || strings.Contains(logs.String(), "was deleted before graceguard read it") {
			t.Errorf("GenerationsLost() = %d; the file followed was reported lost:\n%s", got, logs.String())
		}
		cancel()
		<-done
	}
}
