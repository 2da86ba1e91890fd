package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A generation read to its end, its reader ended and its file deleted,
// frees its inode, and the kernel gives that number to the next file
// made: a newer generation can have the device and inode of one the
// follower knows it read. Found by a listing (here on the open() path:
// the file at the path renamed away before its successor came), it is
// another file all the same, and every line of it is read once, however
// it starts: with other bytes; with the same first bytes (a banner longer
// than the fingerprint), where only the bytes read last tell; or as the
// old file did, all of it (a short banner), where only its birth tells.
//
// Not parallel with other tests: a file they make can take the inode
// freed before this test's does (its cases make theirs one at a time,
// apart from the deletion and the file made in its place).
func TestFollowNewerGenerationInTheInodeOfAnEndedOne(t *testing.T) {
	longBanner := "# " + strings.Repeat("=", fingerprintLen+40)
	tests := []struct {
		name string
		// x is the first file's banner, g the reused inode's ("": none).
		x, g string
		// birth: only the file's birth tells it from the old one.
		birth bool
	}{
		{"other first bytes", "", "", false},
		{"the same long banner", longBanner, longBanner, false},
		{"the old file's bytes, all of them", "# started", "# started", true},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				var dir string
				alone(func() { dir = t.TempDir() })
				path := filepath.Join(dir, "app.log")
				if tt.birth {
					if _, ok := bornAt(dir); !ok {
						t.Skip("files' birth times are unknown here")
					}
				}
				// Made now: nudgeDir makes no file later, to take the
				// inode freed.
				alone(func() { nudgeDir(t, path) })
				var want []string
				write := func(name, banner string, from, n int) {
					t.Helper()
					var lines []string
					if banner != "" {
						lines = append(lines, banner)
					}
					for i := from; i < from+n; i++ {
						lines = append(lines, fmt.Sprintf("l %06d", i))
					}
					want = append(want, lines...)
					alone(func() {
						if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
							t.Error(err)
						}
					})
				}
				xLines := 10
				if tt.birth {
					xLines = 0 // nothing but the banner
				}
				write(path, tt.x, 0, xLines) // X
				var armed atomic.Bool
				away := make(chan struct{})
				c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly, DrainQuiet: 100 * time.Millisecond}, func(f *Follower) {
					f.hooks.checkingRotation = func() {
						if armed.CompareAndSwap(true, false) {
							// B renamed away, its successor not made yet:
							// the path names nothing at this look.
							renumber(t, path, 0, 1)
							close(away)
						}
					}
				})
				c.waitTotal(t, len(want))
				c.waitIdle(t)
				x := inodeOf(t, path)
				rename(t, path)
				write(path, "", 10, 5) // B
				c.waitTotal(t, len(want))
				c.waitEnded(t, 1) // X: drained, its file closed
				g := fileInInode(t, path+".1", x)
				armed.Store(true)
				nudgeDir(t, path)
				awaitHook(t, away, "the rename never came")
				// G: longer than X, so that only the bytes where X was left
				// tell G from X written to since.
				write(g, tt.g, 15, 12)
				// B, renamed by the hook.
				if err := os.Rename(path+".1", path+".2"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(g, path+".1"); err != nil {
					t.Fatal(err)
				}
				write(path, "", 27, 5) // C
				if !c.totalWithin(len(want), 5*time.Second) {
					t.Error("not every line came")
				}
				// X, B and G end: any line read twice has come by then.
				if !c.endedWithin(3, 5*time.Second) {
					t.Error("B and G did not both end")
				}
				c.mu.Lock()
				defer c.mu.Unlock()
				if !slices.Equal(c.order, want) {
					t.Errorf("read %d lines %q\nwant %d lines %q", len(c.order), c.order, len(want), want)
				}
			})
		}
	}
}

// waitTotal waits until n lines have been seen, repeats counted.
func (c *collector) waitTotal(t *testing.T, n int) {
	t.Helper()
	if !c.totalWithin(n, 15*time.Second) {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("saw %d lines, want %d: %q", len(c.order), n, c.order)
	}
}

// totalWithin waits up to d for n lines, repeats counted, and reports
// whether they came.
func (c *collector) totalWithin(n int, d time.Duration) bool {
	return c.countWithin(n, d, func() int { return len(c.order) })
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ino := devIno(st)
	return ino
}

// inodeReuseTries bounds the files made to be given a freed inode again.
// ext4 gives the lowest free inode of the directory's group: inodes freed
// below it (temporary directories of tests run before) go first.
const inodeReuseTries = 5000

// reusingInodes keeps the tests that wait for a freed inode from taking
// one another's: ext4 gives a new file the lowest free inode of its
// directory's group, and their directories may share one.
var reusingInodes sync.Mutex

// alone makes files (create) while no test waits for a freed inode.
func alone(create func()) {
	reusingInodes.Lock()
	defer reusingInodes.Unlock()
	create()
}

// fileInInode deletes old, whose inode is ino (closed, or about to be), and makes
// files beside it until one is given that inode, and returns its name,
// the others deleted; the test is skipped when none is given that number
// (tmpfs never reuses one; a file another test makes may take it first).
func fileInInode(t *testing.T, old string, ino uint64) string {
	t.Helper()
	reusingInodes.Lock()
	defer reusingInodes.Unlock()
	remove(t, old)
	var made []string
	defer func() {
		for _, name := range made {
			os.Remove(name)
		}
	}()
	for i := range inodeReuseTries {
		name := filepath.Join(filepath.Dir(old), fmt.Sprintf("probe-%d", i))
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if inodeOf(t, name) == ino {
			return name
		}
		made = append(made, name)
		if i%100 == 99 {
			// The follower may not have closed old yet: its reader
			// has the end of its stream before the close.
			time.Sleep(time.Millisecond)
		}
	}
	t.Skipf("none of %d new files was given the inode freed: the filesystem does not reuse one at once (tmpfs), or another file took it", inodeReuseTries)
	return ""
}
