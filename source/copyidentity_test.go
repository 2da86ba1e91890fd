package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Lines a run read from the file at the path after its last checkpoint are
// read again after a kill -9. When a copytruncate moved them to a copy while
// graceguard was down, the restart reads them from that copy: under the
// identity they were first read under (the path's inode, whose content the
// copy is), at the same offsets, or their alerts get other ids and are sent
// twice (the copytruncate torture's lines delivered twice: a generation
// begun just before a checkpoint, read for half a second, killed, copied
// away while down and read again under the copy's inode).
func TestFollowCopyReadAgainUnderThePathsIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// save leaves lines 0-9 copied to path.1, the file at path empty,
		// and returns the positions a checkpoint then held.
		save func(t *testing.T, path string, pollOnly bool) []Position
	}{
		{"saved at the end of the generation copied", func(t *testing.T, path string, pollOnly bool) []Position {
			saved := stopAndSave(t, Options{Patterns: []string{path}, PollOnly: pollOnly}, 10)
			copytruncate(t, path)
			return saved
		}},
		{"saved while the file was empty after the copytruncate", func(t *testing.T, path string, pollOnly bool) []Position {
			opt := Options{Patterns: []string{path}, Poll: 5 * time.Millisecond, PollOnly: pollOnly, DrainQuiet: 300 * time.Millisecond}
			return savedLikeWatcher(t, opt, func() { copytruncate(t, path) }, func(pos []Position) bool {
				return len(pos) == 1 && pos[0].Offset == 0 && pos[0].ID.FingerprintLen == 0
			})
		}},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(fmt.Sprintf("%s/%s", tt.name, m.name), func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.log")
				w := newWriter(t, path, "l")
				w.write(10)
				saved := tt.save(t, path, m.pollOnly)
				w.write(5) // 10-14: read after the checkpoint, then killed
				first := map[string]string{}
				run(t, path, saved, func(b Batch) bool {
					eachLine(b, func(l, at string) { first[l] = at })
					return len(first) == 5
				})
				if len(first) != 5 {
					t.Fatalf("the run after the checkpoint read %d of lines 10-14", len(first))
				}
				copytruncate(t, path) // while down: 10-14 to .1, 0-9 to .2
				w.write(5)            // 15-19
				w.close()
				again := map[string]string{}
				run(t, path, saved, func(b Batch) bool {
					eachLine(b, func(l, at string) { again[l] = at })
					return len(again) == 10
				})
				for i := 10; i < 20; i++ {
					l := fmt.Sprintf("l %06d", i)
					switch at, ok := again[l]; {
					case !ok:
						t.Errorf("%q not read after the restart", l)
					case i < 15 && at != first[l]:
						t.Errorf("%q read again as %s, first as %s: its alert would be sent twice", l, at, first[l])
					}
				}
				if len(again) != 10 {
					t.Errorf("the restart read %d lines, want lines 10-19: %v", len(again), again)
				}
			})
		}
	}
}

// A follower that looks only after two copytruncates reads the copy in
// between as it notices it, under the inode of the file at the path: the
// lines a restart would read again from a copy are then read under the
// same identity, whichever way they were first read.
func TestFollowReadsNoticedCopiesUnderThePathsInode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	c, _, _ := follow(t, Options{Patterns: []string{path}, Poll: 400 * time.Millisecond, PollOnly: true})
	c.waitLines(t, 10)
	c.waitIdle(t)
	for range 2 {
		w.write(5)
		copytruncate(t, path)
	}
	w.write(5)
	w.close()
	c.waitLines(t, 25)
	c.checkInOrder(t, "l", 0, 25)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dev, ino := devIno(st)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.last {
		if p.ID.Dev != dev || p.ID.Ino != ino {
			t.Errorf("%s read as %s, not under the inode of %s (%d:%d)", p.Path, p.ID, path, dev, ino)
		}
	}
}
