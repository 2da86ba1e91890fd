package source

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A writer that holds the renamed file open and appends to it after its
// drain ended (one that reopens lazily, or never: log4j behind a
// logrotate create rule with no working reopen) has every late line read
// once, from where reading stopped, whatever name the generation has and
// whether or not a later listing finds it: numbered generations sort
// before the file being read, and a quiet log may see no rotation for a
// day. A restart in between keeps watching it (its position is kept).
func TestFollowLinesAppendedToAnEndedGenerationAreNeverLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rotated string // the name the writer's file is renamed to
		// again rotates once more after the first file's drain ended
		// (renaming it again), writing lines 15-19 to a third file.
		again bool
		// restart stops the follower after the drain ended and starts it
		// again from the positions a watcher would have kept.
		restart bool
	}{
		{"numbered", "app.log.1", false, false},
		{"numbered, rotated again", "app.log.1", true, false},
		{"named by date, no later rotation", "app.log-20261201", false, false},
		{"numbered, after a restart", "app.log.1", false, true},
		{"numbered, rotated again, after a restart", "app.log.1", true, true},
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
				if err := os.Rename(path, filepath.Join(dir, tt.rotated)); err != nil {
					t.Fatal(err)
				}
				writeNew(t, path, 10, 5) // B: 10-14
				c.waitLines(t, 15)
				c.waitEnded(t, 1) // A drained: its reader ended
				last := 15
				if tt.again {
					renumber(t, path, 1, 1)  // A to .2, B to .1
					writeNew(t, path, 15, 5) // C: 15-19
					c.waitLines(t, 20)
					c.waitEnded(t, 2) // B drained too
					last = 20
				}
				first := 0
				if tt.restart {
					c.waitIdle(t)
					cancel()
					<-done
					opt.Positions = c.unendedPositions()
					c, _, _ = follow(t, opt)
					c.waitIdle(t)
					first = last
				}
				// The writer never reopened: its lines go to A, through
				// the descriptor it has held since before the rotation.
				w.next = last
				w.write(5)
				if !c.linesWithin(last+5-first, 5*time.Second) {
					t.Errorf("the lines appended to the ended generation did not come")
				}
				// Any line read twice comes in the same look.
				time.Sleep(50 * time.Millisecond)
				c.checkInOrder(t, "l", first, last+5)
			})
		}
	}
}

// With events, the ended generation's own watch wakes the follower for
// its late lines: nothing else would look (the safety look, the poll and
// the rescan are an hour away).
func TestFollowAnEndedGenerationsEventWakesTheFollower(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	defer w.close()
	w.write(10)
	c, _, _ := follow(t, eventsOnly(path))
	c.waitLines(t, 10)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeNew(t, path, 10, 5)
	c.waitLines(t, 15)
	c.waitEnded(t, 1)
	w.next = 15
	w.write(5)
	if !c.linesWithin(20, 5*time.Second) {
		t.Error("no event brought the lines appended to the ended generation")
	}
	c.checkInOrder(t, "l", 0, 20)
}

// The ended generations watched are bounded: endedKept a log, the one
// changed longest ago going first (a writer that never reopens keeps its
// file the one changed last), and each for endedFor unchanged. Each that
// goes while it still exists is counted, and its stream ends (a
// checkpoint keeps its position no longer).
func TestFollowEndedGenerationsWatchedAreBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rotations int
		endedFor  time.Duration
		// unwatched: how many a cap drops (counted); agedOut: how many
		// watches end unchanged too long (not counted: every rotated
		// file ends so); late: the writers (by rotation, 0 the first)
		// whose lines appended after the drains are read.
		unwatched, agedOut int
		late               []int
	}{
		{"over the cap, the first writer's file changed last", endedKept + 2, time.Hour, 2, 0, []int{0, endedKept + 1}},
		{"unchanged too long", 1, 200 * time.Millisecond, 0, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			var f *Follower
			c, _, _ := followWith(t, Options{Patterns: []string{path}, DrainQuiet: 50 * time.Millisecond}, func(fl *Follower) {
				f, fl.endedFor = fl, tt.endedFor
			})
			// Each rotation's writer keeps its descriptor; the first
			// writes to its file once more at the fourth rotation (before
			// the cap is reached, which would take its file), as one that
			// never reopens does, so it is not one changed longest ago:
			// the second's and the third's files go.
			var writers []*writer
			lines := 0
			for i := range tt.rotations {
				w := newWriter(t, path, "l")
				defer w.close()
				w.next = lines
				w.write(5)
				lines += 5
				writers = append(writers, w)
				c.waitLines(t, lines)
				if i > 0 && i == endedKept-1 {
					writers[0].next = lines
					writers[0].write(1)
					lines++
					c.waitLines(t, lines)
				}
				renumber(t, path, i, 1)
			}
			writeNew(t, path, lines, 1)
			lines++
			c.waitLines(t, lines)
			c.waitEnded(t, tt.rotations+tt.agedOut)
			if !c.countWithin(tt.unwatched, 5*time.Second, func() int { return int(f.GenerationsUnwatched()) }) {
				t.Fatalf("%d ended generations went unwatched, want %d", f.GenerationsUnwatched(), tt.unwatched)
			}
			for _, i := range tt.late {
				writers[i].next = lines
				writers[i].write(1)
				lines++
				c.waitLines(t, lines)
			}
			time.Sleep(50 * time.Millisecond)
			c.checkExactlyOnce(t, "l", lines)
			if got := f.GenerationsUnwatched(); got != uint64(tt.unwatched) {
				t.Errorf("%d ended generations went unwatched, want %d", got, tt.unwatched)
			}
		})
	}
}

// The ended generations watched are bounded in all, not only a log at a
// time: a pattern matching thousands of files (a node's container logs)
// kept endedKept descriptors and inotify watches for each, and the
// watches a user has are few (8,192 by default on older kernels, shared
// by every process of the user): the files followed next found none
// left. Beyond the bound, the one changed longest ago of any log goes,
// counted.
func TestFollowEndedGenerationsWatchedAreBoundedInAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const logs, total = 3, 4
	var f *Follower
	c, _, _ := followWith(t, Options{Patterns: []string{filepath.Join(dir, "*.log")}, DrainQuiet: 30 * time.Millisecond}, func(fl *Follower) {
		f, fl.endedTotal = fl, total
	})
	lines := 0
	for r := range 3 {
		for i := range logs {
			writeNew(t, filepath.Join(dir, fmt.Sprintf("app%d.log", i)), lines, 1)
			lines++
		}
		c.waitLines(t, lines)
		if r < 2 {
			for i := range logs {
				renumber(t, filepath.Join(dir, fmt.Sprintf("app%d.log", i)), r, 1)
			}
		}
	}
	c.waitEnded(t, 2*logs)
	// 6 generations ended, each its log's first or second (under endedKept).
	if !c.countWithin(2*logs-total, 5*time.Second, func() int { return int(f.GenerationsUnwatched()) }) {
		t.Fatalf("%d ended generations went unwatched, want %d", f.GenerationsUnwatched(), 2*logs-total)
	}
	c.checkExactlyOnce(t, "l", lines)
}
