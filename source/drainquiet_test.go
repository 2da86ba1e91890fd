package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file renamed or deleted after a quiet spell longer than DrainQuiet is
// drained all the same: its writer appends to it until it reopens, which
// it does after the rotation, however long it was quiet before. Quiet
// counted from the file's last change alone, the look that found it gone
// closed it at once, and the lines its writer wrote before reopening were
// lost (deleted: for good; renamed: until a later rotation listed it). A
// loaded machine showed it in TestFollowRotation (a writer descheduled for
// 300 ms, the test's DrainQuiet, around a deletion); an idle log rotated
// at night with the default 2 s is the everyday case.
func TestFollowQuietFileDrainedAfterItLeavesItsPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		leave func(path string) error
	}{
		{"deleted", os.Remove},
		{"renamed", func(path string) error { return os.Rename(path, path+".1") }},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.log")
				w := newWriter(t, path, "line")
				w.write(3)
				// Quiet far longer than DrainQuiet, without waiting for it.
				long := time.Now().Add(-time.Hour)
				if err := os.Chtimes(path, long, long); err != nil {
					t.Fatal(err)
				}
				left := make(chan struct{})
				opt := Options{Patterns: []string{path}, PollOnly: m.pollOnly, DrainQuiet: time.Minute}
				c, _, _ := followWith(t, opt, func(f *Follower) {
					once := false
					f.hooks.leftPath = func() {
						if !once {
							once = true
							close(left)
						}
					}
				})
				c.waitLines(t, 3)
				if err := tt.leave(path); err != nil {
					t.Fatal(err)
				}
				awaitHook(t, left, "the follower never saw the file leave its path")
				w.write(2) // before the writer reopens
				w.mu.Lock()
				w.reopen()
				w.mu.Unlock()
				w.write(2)
				w.close()
				c.waitLines(t, w.next)
				c.checkExactlyOnce(t, "line", w.next)
			})
		}
	}
}
