package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A generation drained and left, whose writer appends to it afterwards,
// is read on from where it was left (lateline_test.go), also when
// graceguard restarted in between: the checkpoint names the file at the
// path alone, and the generations before it were finished. Read from its
// start when a later listing found it among the newer generations, its
// lines before the restart came twice (a refresh read twice is a token
// used twice).
func TestFollowLinesWrittenToAnEndedGenerationAfterARestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rotated string // the name the first file is renamed to
		// away takes the second file from the path, before a third is
		// made there.
		away func(t *testing.T, path string)
	}{
		{"named by date, renamed again", "app.log-20261201", func(t *testing.T, path string) {
			if err := os.Rename(path, filepath.Join(filepath.Dir(path), "app.log-20261202")); err != nil {
				t.Fatal(err)
			}
		}},
		{"numbered, the file read deleted", "app.log.1", func(t *testing.T, path string) {
			remove(t, path)
		}},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "app.log")
				w := newWriter(t, path, "l")
				defer w.close()
				w.write(10) // A: 0-9
				opt := Options{Patterns: []string{path}, PollOnly: m.pollOnly, DrainQuiet: 100 * time.Millisecond}
				c, cancel, done := follow(t, opt)
				c.waitLines(t, 10)
				c.waitIdle(t)
				if err := os.Rename(path, filepath.Join(dir, tt.rotated)); err != nil {
					t.Fatal(err)
				}
				writeNew(t, path, 10, 5) // B: 10-14
				c.waitLines(t, 15)
				c.waitEnded(t, 1) // A: drained, and followed no more
				c.waitIdle(t)
				cancel()
				<-done
				c.mu.Lock()
				var saved []Position // B's: A's stream ended
				for k, p := range c.last {
					if !c.ended[k] {
						saved = append(saved, p)
					}
				}
				c.mu.Unlock()

				opt.Positions = saved
				c2, _, _ := follow(t, opt)
				c2.waitIdle(t)
				// The writer has not reopened: its lines go to A, later
				// than B's last.
				w.next = 15
				w.write(5)
				tt.away(t, path)
				writeNew(t, path, 20, 5) // C: 20-24
				if !c2.linesWithin(10, 5*time.Second) {
					t.Error("not every line came")
				}
				// B, and A's late lines, drain and end: any line read
				// twice has come by then.
				if !c2.endedWithin(2, 5*time.Second) {
					t.Error("B and the late lines' stream did not both end")
				}
				c2.checkInOrder(t, "l", 15, 25)
			})
		}
	}
}
