package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
)

// A file the checkpoint does not name, copied and truncated while watch
// was down: its copy made since the checkpoint is read from its start
// with FromEnd, but a generation made before the checkpoint (history) is
// not read at all.
func TestFollowFromEndSkipsGenerationsMadeBeforeTheCheckpoint(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			other := filepath.Join(dir, "other.log")
			wo := newWriter(t, other, "o")
			wo.write(3)
			saved := stopAndSave(t, Options{Patterns: []string{other}, PollOnly: m.pollOnly}, 3)
			path := filepath.Join(dir, "app.log")
			wh := newWriter(t, path+".2", "h") // history: made before the checkpoint
			wh.write(5)
			wh.close()
			time.Sleep(50 * time.Millisecond) // past the coarse clock of file times
			wa := newWriter(t, path+".1", "a")
			wa.write(5)
			wa.close()
			bornH, ok1 := bornAt(path + ".2")
			bornA, ok2 := bornAt(path + ".1")
			if !ok1 || !ok2 {
				t.Skip("no birth times on this filesystem")
			}
			written := bornA.Add(bornSlack - time.Millisecond)
			if !bornH.Before(written.Add(-bornSlack)) {
				t.Skip("the two generations were made in the same clock tick")
			}
			w := newWriter(t, path, "a")
			w.next = 5
			w.write(5)
			w.close()
			c, _, _ := follow(t, Options{Patterns: []string{other, path}, PollOnly: m.pollOnly, FromEnd: true, Positions: saved, PositionsWritten: written})
			c.waitLine(t, "a 000009")
			c.waitIdle(t)
			c.checkEachOnceInOrderFrom(t, map[string][2]int{"a": {0, 10}})
		})
	}
}

// A file truncated to zero and written again by a writer that starts it
// with the same banner (longer than the fingerprint) and goes on with new
// lines before the follower looks: the new lines are not taken for bytes
// the truncation kept.
func TestFollowTruncatedAndRewrittenWithTheSameBanner(t *testing.T) {
	t.Parallel()
	banner := "banner " + strings.Repeat("=", 2*fingerprintLen) + "\n"
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			if err := os.WriteFile(path, []byte(banner), 0o644); err != nil {
				t.Fatal(err)
			}
			w := newWriter(t, path, "l")
			w.write(100)
			w.close()
			var armed atomic.Bool
			rewritten := make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				// Every look that finds the idle file's end goes on to the
				// look for a rotation: each poll, each safety look. A look
				// at a file whose size and time have settled reads nothing,
				// so the read's hook (checkedBeforeRead) came only while
				// the follower's first looks were within mtimeGrain of the
				// write: a follower started later (a loaded machine) never
				// called it, and the test waited for ever.
				f.hooks.checkingRotation = func() {
					if !armed.CompareAndSwap(true, false) {
						return
					}
					// Between two looks: the writer truncates and writes
					// its banner and a few lines at once.
					var b strings.Builder
					b.WriteString(banner)
					for i := range 5 {
						fmt.Fprintf(&b, "n %06d\n", i)
					}
					if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
						t.Error(err)
					}
					close(rewritten)
				}
			})
			c.waitLines(t, 101)
			c.waitIdle(t)
			armed.Store(true)
			// With events the safety looks back off to SafetyMax (10 s)
			// while nothing happens: Patience, not awaitHook's 10 s.
			select {
			case <-rewritten:
			case <-time.After(testsync.Patience):
				t.Fatal("no look at the idle file looked for a rotation")
			}
			c.waitLine(t, "n 000004")
			c.mu.Lock()
			defer c.mu.Unlock()
			if n := c.lines[strings.TrimSuffix(banner, "\n")]; n != 2 {
				t.Errorf("the banner was read %d times, want 2", n)
			}
		})
	}
}

// A file made just after the checkpoint was written, by the clocks as
// they are: the kernel stamps a file's birth with its coarse clock, a
// tick behind the time the checkpoint took, so it looks made before.
// Its lines are read from its start with FromEnd all the same.
func TestFollowFromEndReadsAFileMadeJustAfterTheCheckpoint(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			other := filepath.Join(dir, "other.log")
			wo := newWriter(t, other, "o")
			wo.write(3)
			opt := Options{Patterns: []string{filepath.Join(dir, "*.log")}, PollOnly: m.pollOnly}
			saved := stopAndSave(t, opt, 3)
			written := time.Now()
			path := filepath.Join(dir, "app.log")
			w := newWriter(t, path, "a")
			if _, ok := bornAt(path); !ok {
				t.Skip("no birth times on this filesystem")
			}
			w.write(5)
			w.close()
			opt.FromEnd, opt.Positions, opt.PositionsWritten = true, saved, written
			c, _, _ := follow(t, opt)
			c.waitLine(t, "a 000004")
			c.waitIdle(t)
			c.checkEachOnceInOrderFrom(t, map[string][2]int{"a": {0, 5}})
		})
	}
}
