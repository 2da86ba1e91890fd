package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A copytruncate's copy holds only the lines written before it was made:
// the follower read past it, from the file, the lines written between the
// copy and the truncation. That copy is still the truncated file's, and
// the copies made after it are newer: a follower descheduled after the
// truncation (a loaded machine) finds the file copied, truncated and
// refilled again, to the same size, before it looks at the file now at
// the path, or after a look that found it empty. The lines the newer copy
// took are read, before the file's. Taken for no copy at all (it is
// shorter than what was read), nothing tied the newer copy to the file,
// and its lines were never read (TestFollowCopytruncateWhileWriting lost
// 21 lines so, and 7, about once in 200 runs under load).
func TestFollowCopiedBeforeTheLastReadThenCopytruncatedAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// at sets the hook the follower is descheduled at.
		at func(f *Follower, pause func())
		// emptyWhenLooked: lines 14-20 are written once it is.
		emptyWhenLooked bool
	}{
		{"before the look at the file", func(f *Follower, pause func()) { f.hooks.soughtCopy = pause }, false},
		{"after a look that found it empty", func(f *Follower, pause func()) { f.hooks.lookedAgain = pause }, true},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.log")
				w := newWriter(t, path, "l")
				w.write(10)
				h := followHeld(t, path, m.pollOnly, tt.at)
				h.release()
				// copytruncate's copy: lines 0-9.
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path+".1", data, 0o644); err != nil {
					t.Fatal(err)
				}
				w.write(4) // 10-13: in no copy, read from the file
				h.c.waitLines(t, 14)
				// Its truncation, and the writer goes on.
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				if !tt.emptyWhenLooked {
					w.write(7) // 14-20, copied to .1 while the follower is away
				}
				h.waitPaused(t)
				if tt.emptyWhenLooked {
					w.write(7)
				}
				copytruncate(t, path)
				w.write(7) // 21-27: as long as 14-20
				w.close()
				close(h.resume)
				h.c.waitLine(t, "l 000027")
				time.Sleep(50 * time.Millisecond) // any duplicate
				h.c.checkInOrder(t, "l", 0, 28)
			})
		}
	}
}

// A follower that notices a copytruncate, looks at the file now at the
// path and is descheduled before it lists the copies made since finds the
// file copytruncated twice more meanwhile: the older of the two new
// copies starts with the lines it looked at (the file's own lines, which
// its tailer reads from that copy once it finds the file truncated), the
// newer holds lines written after them. The newer copy is read after the
// older, not before: chained before the file's tailer, as a copy made
// before the look, its lines came before the ones they followed
// (TestFollowCopytruncateWhileWriting read lines 114-120 before 100-113,
// polling, under load).
func TestFollowCopytruncatedTwiceWhileLookingAtTheFile(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			h := followHeld(t, path, m.pollOnly, func(f *Follower, pause func()) { f.hooks.lookedAgain = pause })
			// The follower reads 10-14 and waits to hand them on, or
			// finds them in the copy and waits so: either way it looks at
			// the file again only once it holds 15-21.
			w.write(5)
			copytruncate(t, path) // 0-14
			w.write(7)            // 15-21, looked at
			h.release()
			h.waitPaused(t)
			w.write(7)            // 22-28
			copytruncate(t, path) // 15-28: starts as the file looked at did
			w.write(7)            // 29-35
			copytruncate(t, path) // 29-35
			w.write(7)            // 36-42
			w.close()
			close(h.resume)
			h.c.waitLine(t, "l 000042")
			time.Sleep(50 * time.Millisecond) // any duplicate
			h.c.checkInOrder(t, "l", 0, 43)
		})
	}
}
