package source

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The file found at the path when a rotation is seen, rotated again before
// the generations are listed, has newer generations by then: they were
// opened by the listing and are read after it. Deleted by the keep count
// before its tailer looks at the path again (logrotate's rotate 1, or a
// reader slow to take the file's lines), they are still read, from the
// files opened then: closed at the listing, their lines were lost without
// a word.
func TestFollowNewerGenerationsOfARotatedAgainFileOutliveTheKeepCount(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			w.close()
			var armed, listing, again atomic.Bool
			rotated, deleted := make(chan struct{}), make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if armed.CompareAndSwap(true, false) {
						renumber(t, path, 0, 1)
						writeNew(t, path, 10, 5) // B: the file the look finds
						listing.Store(true)
						return
					}
					if again.CompareAndSwap(true, false) {
						// B's tailer looks at the path: by now the keep
						// count (1) has deleted B and C, and D is renamed.
						for _, g := range []string{".3", ".2", ".1"} {
							remove(t, path+g)
						}
						renumber(t, path, 0, 1)
						writeNew(t, path, 25, 5) // E
						close(deleted)
					}
				}
				f.hooks.statingGeneration = func(string) {
					if listing.CompareAndSwap(true, false) {
						// Newer than B by the clock the kernel stamps with.
						time.Sleep(3 * mtimeGrain / 2)
						renumber(t, path, 1, 1)
						writeNew(t, path, 15, 5) // C
						time.Sleep(3 * mtimeGrain / 2)
						renumber(t, path, 2, 1)
						writeNew(t, path, 20, 5) // D
						again.Store(true)
						close(rotated)
					}
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			armed.Store(true)
			nudgeDir(t, path)
			for _, ch := range []chan struct{}{rotated, deleted} {
				awaitHook(t, ch, "the rotations never came")
			}
			if !c.linesWithin(30, 5*time.Second) {
				t.Error("not every line came")
			}
			c.checkInOrder(t, "l", 0, 30)
		})
	}
}
