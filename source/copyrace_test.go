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
// truncation (a loaded machine), before it looks at the file now at the
// path, finds the file copied, truncated and refilled again, to the same
// size. The lines the newer copy took are read, before the file's. Taken
// for no copy at all (it is shorter than what was read), nothing tied the
// newer copy to the file, and its lines were never read
// (TestFollowCopytruncateWhileWriting lost 21 so, about once in 150 runs
// under load).
func TestFollowCopiedBeforeTheLastReadThenCopytruncatedAgain(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			h := followHeld(t, path, m.pollOnly, func(f *Follower, pause func()) { f.hooks.soughtCopy = pause })
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
			w.write(7) // 14-20, copied to .1 while the follower is away
			h.waitPaused(t)
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
