package source

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A rotation seen late, its file renamed away again and deleted by the
// keep count before the generations are listed: the generations newer
// than it are told by their time, and one last written within the same
// tick of the kernel's clock as that file has its very time. Taken for
// an older one, it was skipped, and its lines lost without a word (seen
// with generations written milliseconds apart). The tie is made with
// Chtimes, not left to a race with the clock.
func TestFollowNewerGenerationWithTheTimeOfTheFileGone(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			writeNew(t, path, 0, 10) // A
			var armed atomic.Bool
			rotated := make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if !armed.CompareAndSwap(true, false) {
						return
					}
					since := modTime(t, path)
					renumber(t, path, 0, 1)
					writeNew(t, path, 10, 5) // G, written in A's tick
					setModTime(t, path, since)
					renumber(t, path, 1, 1)
					removeInHook(t, path+".2") // keep count 1: A
					writeNew(t, path, 15, 5)   // H
					close(rotated)
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			armed.Store(true)
			nudgeDir(t, path)
			awaitHook(t, rotated, "the rotations never came")
			if !c.linesWithin(20, 5*time.Second) {
				t.Error("not every line came")
			}
			c.checkInOrder(t, "l", 0, 20)
		})
	}
}

// The file read gone from the listing, a generation with its time may
// also be an older one, read to its end already: it is not read again.
// The follower knows it by its identity, not by its time.
func TestFollowOlderGenerationWithTheTimeOfTheFileGoneIsNotReadAgain(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			writeNew(t, path, 0, 10) // P
			var armed atomic.Bool
			rotated := make(chan struct{})
			opt := Options{Patterns: []string{path}, PollOnly: m.pollOnly, DrainQuiet: 100 * time.Millisecond}
			c, _, _ := followWith(t, opt, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if !armed.CompareAndSwap(true, false) {
						return
					}
					// P gets A's time; A is deleted (by its writer, or
					// anything but a keep count, which takes P first).
					setModTime(t, path+".1", modTime(t, path))
					removeInHook(t, path)
					writeNew(t, path, 15, 5) // G
					close(rotated)
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			rename(t, path)
			writeNew(t, path, 10, 5) // A
			c.waitLines(t, 15)
			c.waitEnded(t, 1) // P: drained, and followed no more
			armed.Store(true)
			nudgeDir(t, path)
			awaitHook(t, rotated, "the deletion never came")
			if !c.linesWithin(20, 5*time.Second) {
				t.Error("not every line came")
			}
			c.checkInOrder(t, "l", 0, 20)
		})
	}
}

// modTime is path's modification time; in a hook, it fails t without
// stopping it.
func modTime(t *testing.T, path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return time.Time{}
	}
	return st.ModTime()
}

// setModTime gives path the modification time mt, as a write within the
// same tick of the kernel's clock does.
func setModTime(t *testing.T, path string, mt time.Time) {
	if err := os.Chtimes(path, time.Time{}, mt); err != nil {
		t.Error(err)
	}
}

// removeInHook deletes path from a hook: it fails t without stopping it.
func removeInHook(t *testing.T, path string) {
	if err := os.Remove(path); err != nil {
		t.Error(err)
	}
}
