package source

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A glob that also matches the followed file's rotated generations
// (access.log*, as an operator writes for a directory of nginx logs) reads
// each line once: a generation drained and then renamed again by the next
// rotation (logrotate shifts .1 to .2) is the file already read, and a
// copytruncate's copy holds lines already read from the file at the path.
func TestFollowGlobMatchingGenerationsReadsEachLineOnce(t *testing.T) {
	t.Parallel()
	for _, rot := range []struct {
		name   string
		rotate func(t *testing.T, w *writer, path string)
	}{
		{"rename", func(t *testing.T, w *writer, path string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			rename(t, path)
			w.reopen()
		}},
		{"copytruncate", func(t *testing.T, w *writer, path string) {
			w.mu.Lock()
			defer w.mu.Unlock()
			copytruncate(t, path)
		}},
	} {
		for _, m := range modes {
			t.Run(rot.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "access.log")
				w := newWriter(t, path, "l")
				// Safety looks often: a drained file is quiet, and with file
				// events its drain ends at a safety look.
				c, _, _ := follow(t, Options{Patterns: []string{path + "*"}, PollOnly: m.pollOnly, Safety: 50 * time.Millisecond, SafetyMax: 100 * time.Millisecond})
				const rounds, per = 4, 10
				for r := range rounds {
					w.write(per)
					c.waitLines(t, (r+1)*per)
					c.waitIdle(t)
					rot.rotate(t, w, path)
					if rot.name == "rename" {
						// The generation drains and its reader ends
						// before the next rotation renames it again.
						c.waitEnded(t, r+1)
					}
				}
				w.write(per)
				c.waitLines(t, (rounds+1)*per)
				// Renamed generations drain for DrainQuiet; the glob is
				// matched again every Rescan: give both time to act.
				time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond))
				c.checkExactlyOnce(t, "l", (rounds+1)*per)
				c.mu.Lock()
				defer c.mu.Unlock()
				if len(c.order) != (rounds+1)*per {
					t.Errorf("%d lines read, want %d: %v", len(c.order), (rounds+1)*per, fmt.Sprint(c.order))
				}
			})
		}
	}
}

// waitEnded waits until n streams have ended.
func (c *collector) waitEnded(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.ended)
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("fewer than %d streams ended", n)
}

// A restart with such a glob reads neither the generations its checkpoint
// says were finished nor, at a first start, any line twice: the
// generations are then files seen for the first time, read oldest first
// before the file (none with FromEnd, which skips what files hold).
func TestFollowGlobMatchingGenerationsAtStart(t *testing.T) {
	t.Parallel()
	t.Run("restart", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "access.log")
		w := newWriter(t, path, "l")
		opt := Options{Patterns: []string{path + "*"}, Safety: 50 * time.Millisecond, SafetyMax: 100 * time.Millisecond}
		c, cancel, done := follow(t, opt)
		w.write(10)
		c.waitLines(t, 10)
		w.mu.Lock()
		rename(t, path)
		w.reopen()
		w.mu.Unlock()
		w.write(10)
		c.waitLines(t, 20)
		c.waitEnded(t, 1)
		cancel()
		<-done
		c.mu.Lock()
		var saved []Position
		for k, p := range c.last {
			if !c.ended[k] {
				saved = append(saved, p)
			}
		}
		c.mu.Unlock()
		w.write(5)
		opt.Positions = saved
		again, _, _ := follow(t, opt)
		again.waitLines(t, 5)
		time.Sleep(200 * time.Millisecond) // two rescans
		again.checkInOrder(t, "l", 20, 25)
	})
	for _, fromEnd := range []bool{false, true} {
		t.Run(fmt.Sprintf("first start, FromEnd %v", fromEnd), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "access.log")
			w := newWriter(t, path, "l")
			w.write(10)
			rename(t, path)
			w.reopen()
			w.write(10)
			rename(t, path)
			w.reopen()
			w.write(10)
			c, _, _ := follow(t, Options{Patterns: []string{path + "*"}, FromEnd: fromEnd})
			want := 0
			if !fromEnd {
				want = 30
				c.waitLines(t, want)
			} else {
				c.waitIdle(t)
			}
			w.write(5)
			c.waitLines(t, want+5)
			time.Sleep(200 * time.Millisecond) // two rescans
			c.checkInOrder(t, "l", 30-want, 35)
		})
	}
}
