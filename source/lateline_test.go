package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A generation drained and left (quiet for DrainQuiet, its reader ended)
// can still be written to: a writer holding the renamed file open that
// reopens lazily writes a few lines there after the rotation. When a later
// rotation lists it among the generations newer than the file read
// (named by date and so ordered by time, which the late lines moved; or
// told by time, the file read gone from the listing), those late lines
// are read once, after the generation's earlier ones: skipped as a
// generation read already, they were lost without a word; read from its
// start, its earlier lines came twice.
func TestFollowLinesWrittenToAnEndedGenerationAreReadOnce(t *testing.T) {
	t.Parallel()
	lateLinesOfAnEndedGeneration(t, false)
}

// A generation drained and left, whose writer appends to it afterwards,
// is read on from where it was left also when graceguard restarted in
// between: the checkpoint names the file at the path alone, and the
// generations before it were finished. Read from its start when a later
// listing found it among the newer generations, its lines before the
// restart came twice (a refresh read twice is a token used twice).
func TestFollowLinesWrittenToAnEndedGenerationAfterARestart(t *testing.T) {
	t.Parallel()
	lateLinesOfAnEndedGeneration(t, true)
}

// lateLinesOfAnEndedGeneration runs both tests above: A (lines 0-9) is
// renamed, B (10-14) written at the path, A ends; with restart the
// follower then stops and starts again from B's position alone. The
// writer, never reopened, writes 15-19 to A; B is taken away and C
// (20-24) made. Every line after those already read comes once, in order.
func lateLinesOfAnEndedGeneration(t *testing.T, restart bool) {
	tests := []struct {
		name string
		// rotated is the name the first file is renamed to.
		rotated string
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
				// From here on: the lines and streams still to come.
				first, lines, streams := 0, 25, 3
				if restart {
					c.waitIdle(t)
					cancel()
					<-done
					opt.Positions = c.unendedPositions() // B's: A's stream ended
					c, _, _ = follow(t, opt)
					c.waitIdle(t)
					first, lines, streams = 15, 10, 2
				}
				// The writer has not reopened: its lines go to A, later
				// than B's last (DrainQuiet ago, many ticks of the clock).
				w.next = 15
				w.write(5)
				tt.away(t, path)
				writeNew(t, path, 20, 5) // C: 20-24
				if !c.linesWithin(lines, 5*time.Second) {
					t.Error("not every line came")
				}
				// B, and A's late lines, drain and end: any line read
				// twice has come by then.
				if !c.endedWithin(streams, 5*time.Second) {
					t.Error("B and the late lines' stream did not both end")
				}
				c.checkInOrder(t, "l", first, 25)
			})
		}
	}
}

// unendedPositions are the positions of c's streams that have not ended,
// as a watcher's checkpoint keeps them.
func (c *collector) unendedPositions() []Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	var saved []Position
	for k, p := range c.last {
		if !c.ended[k] {
			saved = append(saved, p)
		}
	}
	return saved
}

// Where a listed generation is read from, by what was read of the file
// its device and inode name, where birth times do not tell a file made
// since in that inode (other systems, some filesystems): its first bytes
// and the last bytes read do, as they tell the file rewritten.
func TestResumeAt(t *testing.T) {
	t.Parallel()
	banner := "# " + strings.Repeat("=", fingerprintLen) + "\n"
	read := banner + "l 000000\nl 000001\n"
	tests := []struct {
		name string
		now  string // the file's bytes now
		// other: what was read names another inode.
		other bool
		from  int64
		done  bool
	}{
		{"written to since", read + "l 000002\n", false, int64(len(read)), false},
		{"the line left unfinished, finished since", read[:len(read)-1] + " more\n", false, int64(len(read) - 1), false},
		{"nothing new", read, false, int64(len(read)), true},
		{"rewritten longer, the same first bytes", banner + "l 000007\nl 000008\nl 000009\n", false, 0, false},
		{"rewritten shorter", banner + "l 000007\n", false, 0, false},
		{"another inode", read + "l 000002\n", true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log.1")
			wasRead := read
			if strings.HasPrefix(tt.name, "the line left") {
				wasRead = read[:len(read)-1]
			}
			if err := os.WriteFile(path, []byte(wasRead), 0o644); err != nil {
				t.Fatal(err)
			}
			file, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			seen, err := sight(file)
			if err != nil {
				t.Fatal(err)
			}
			p := &tailer{f: file, id: seen.id, offset: int64(len(read)), tail: []byte(read[len(read)-tailLen:])}
			p.dev, p.ino = seen.id.Dev, seen.id.Ino
			if wasRead != read {
				// Read to its end, its last line unfinished.
				p.offset, p.tail, p.partial = int64(len(banner)), []byte(banner[len(banner)-tailLen:]), []byte(wasRead[len(banner):])
			}
			if tt.other {
				p.ino++
			}
			n := &tailer{}
			n.learnReadBefore(p)
			p.leave()
			p.left.born = time.Time{} // unknown
			if err := os.WriteFile(path, []byte(tt.now), 0o644); err != nil {
				t.Fatal(err)
			}
			if seen, err = sight(file); err != nil {
				t.Fatal(err)
			}
			from, done := resumeAt(n.readMarks(), file, seen)
			if from != tt.from || done != tt.done {
				t.Errorf("resumeAt = %d, %v; want %d, %v", from, done, tt.from, tt.done)
			}
		})
	}
}
