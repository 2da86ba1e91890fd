package source

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// overflowNotifier is inotify whose every wake reports its queue
// overflowed (IN_Q_OVERFLOW): which watches saw events is lost, only
// that something changed is known.
// Outside Linux there are no events to wrap, and the mode is polling.
type overflowNotifier struct{ notifier }

func (n overflowNotifier) take() (map[int]bool, bool) {
	n.notifier.take()
	return nil, true
}

// Faults injected into a followed file, each compared with what was
// written: every line once, in order.
func TestFollowFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fault runs once the follower has read w's first 10 lines; it
		// writes through w (or a writer it returns) and returns the
		// writer of the lines after it.
		fault func(t *testing.T, w *writer, path string) *writer
	}{
		{"a line half written when the file is renamed", func(t *testing.T, w *writer, path string) *writer {
			w.mu.Lock()
			w.w.WriteString("l 0000")
			w.w.Flush()
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			w.w.WriteString("10\n") // the writer keeps its descriptor
			w.next++
			w.w.Flush()
			w.mu.Unlock()
			w.write(3) // still to the renamed file
			n := continued(t, path, w)
			w.close()
			return n
		}},
		{"deleted and made again twice at once", func(t *testing.T, w *writer, path string) *writer {
			// The file in between holds nothing: one written and
			// deleted before any look leaves no trace to read.
			w.write(3)
			w.close()
			for range 2 {
				remove(t, path)
				w = continued(t, path, w)
				w.close()
			}
			return continued(t, path, w)
		}},
		{"its directory deleted and made again, the old file still written to", func(t *testing.T, w *writer, path string) *writer {
			dir := filepath.Dir(path)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			w.write(3) // to the deleted file, through the writer's descriptor
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			n := continued(t, path, w)
			w.close()
			return n
		}},
		{"renamed and still written to after the new file is", func(t *testing.T, w *writer, path string) *writer {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			n := newWriter(t, path, "m")
			n.write(2) // the new file's first lines
			w.write(3) // the old writer's last ones, to the renamed file
			w.close()
			return n
		}},
	}
	for _, tt := range tests {
		for _, m := range faultModes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.log")
				w := newWriter(t, path, "l")
				w.write(10)
				opt := Options{Patterns: []string{path}, PollOnly: m.pollOnly}
				c, _, _ := followWith(t, opt, func(f *Follower) { overflowIn(m.name, f) })
				c.waitLines(t, 10)
				c.waitIdle(t)
				w = tt.fault(t, w, path)
				w.write(5)
				w.close()
				want := map[string]int{"l": w.next}
				if w.prefix == "m" {
					want["l"] = 13
					want["m"] = w.next
				}
				c.waitLines(t, want["l"]+want["m"])
				time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond)) // any duplicate
				c.checkEachOnceInOrder(t, want)
			})
		}
	}
}

// A file truncated to a size other than zero (truncate -s) keeps the lines
// before that size, read already; the lines written after it are read
// once, and those it kept are not read again.
func TestFollowTruncatedToANonZeroSize(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			c, _, _ := follow(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly})
			c.waitLines(t, 10)
			c.waitIdle(t)
			if err := os.Truncate(path, 5*lineLen); err != nil {
				t.Fatal(err)
			}
			// Noticed before the writer appends: appended first, the
			// lines after the kept size are not told from kept ones.
			c.waitEnded(t, 1)
			w.write(5)
			w.close()
			c.waitLines(t, 15)
			time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond)) // any duplicate
			c.checkInOrder(t, "l", 0, 15)
		})
	}
}

// logrotate renames a log's generations up one number (.1 to .2 …) at
// each rotation: a follower that lists them and then opens them, behind by
// two rotations while a third one runs, opens under a generation's name
// the one that was renamed to it since. The generation in between was not
// read, nor said lost. Polled only: with events the follower looks at
// each rotation as it comes, and is not behind.
func TestFollowGenerationsRenamedBetweenTheirListingAndOpening(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	behind, third := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c, _, _ := followWith(t, Options{Patterns: []string{path}, Poll: 400 * time.Millisecond, PollOnly: true}, func(f *Follower) {
		f.hooks.listedGenerations = func() {
			select {
			case <-behind:
			default:
				return // a look before the two rotations were made
			}
			once.Do(func() {
				rename(t, path)
				last := newWriter(t, path, "l")
				last.next = 25
				last.write(5)
				last.close()
				close(third)
			})
		}
	})
	c.waitLines(t, 10)
	c.waitIdle(t)
	for range 2 {
		w.write(5)
		w.close()
		rename(t, path)
		w = continued(t, path, w)
	}
	w.write(5) // 20-24; the third rotation's file holds 25-29
	w.close()
	close(behind)
	awaitHook(t, third, "the generations were never listed")
	c.linesWithin(30, 10*time.Second)
	time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond)) // any duplicate
	c.checkInOrder(t, "l", 0, 30)
}

// logrotate's copytruncate races the writer: lines written between the
// copy and the truncation are in neither file, unless the follower read
// them first. Whatever it could read, it reads once and in order: every
// line either file holds afterwards, and nothing twice.
func TestFollowCopytruncateWhileWriting(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(100)
			c, _, _ := follow(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly})
			c.waitLines(t, 100)
			stop, done := make(chan struct{}), make(chan struct{})
			go w.keepWriting(stop, done)
			for range 3 {
				// Copied and truncated while the writer goes on, in
				// between its batches and not: no lock is held.
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				for i := 8; i >= 1; i-- {
					from := fmt.Sprintf("%s.%d", path, i)
					if _, err := os.Stat(from); err == nil {
						os.Rename(from, fmt.Sprintf("%s.%d", path, i+1))
					}
				}
				if err := os.WriteFile(path+".1", data, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(stop)
			<-done
			w.close()
			// Every line left on disk, in the copies and the file.
			var onDisk, held []string
			for i := 4; i >= 0; i-- {
				name := path
				if i > 0 {
					name = fmt.Sprintf("%s.%d", path, i)
				}
				data, err := os.ReadFile(name)
				// An empty file holds no line. Split would give it one,
				// "", never read: a writer descheduled for the 20 ms
				// after a truncation (a loaded machine) left the file,
				// and the copy made of it next, empty, and the test
				// waited 10 s for "" and failed.
				if err != nil || len(data) == 0 {
					continue
				}
				lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
				onDisk = append(onDisk, lines...)
				held = append(held, fmt.Sprintf("%s: %q..%q", filepath.Base(name), lines[0], lines[len(lines)-1]))
			}
			// Which copy held what tells a failure's cause apart (with
			// GG_DEBUG's log of the follower).
			defer func() {
				if t.Failed() {
					t.Logf("on disk, oldest first: %s", strings.Join(held, ", "))
				}
			}()
			last := onDisk[len(onDisk)-1]
			deadline := time.Now().Add(10 * time.Second)
			for {
				c.mu.Lock()
				got := c.lines[last]
				c.mu.Unlock()
				if got > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond)) // any duplicate
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, l := range onDisk {
				if c.lines[l] != 1 {
					t.Errorf("line %q, on disk, read %d times", l, c.lines[l])
				}
			}
			prev := -1
			for _, l := range c.order {
				n, err := strconv.Atoi(strings.TrimPrefix(l, "l "))
				if err != nil || n <= prev || n >= w.next {
					t.Errorf("line %q after line %d (written: %d)", l, prev, w.next)
				}
				prev = n
			}
		})
	}
}

// faultModes are modes, and inotify whose every wake is an overflow.
var faultModes = append(slices.Clone(modes), struct {
	name     string
	pollOnly bool
}{"every wake an overflow", false})

// overflowIn makes every wake of f an overflow in that mode.
func overflowIn(mode string, f *Follower) {
	if mode == "every wake an overflow" {
		f.newNotifier = func() (notifier, error) {
			n, err := newNotifier()
			if err != nil {
				return nil, err
			}
			return overflowNotifier{n}, nil
		}
	}
}

// renumber renames path's numbered generations .from down to .to up one
// number, oldest first, as logrotate does; with to 1 it then renames path
// to .1. It runs on the follower's goroutine (a hook): it fails t, never
// stops it.
func renumber(t *testing.T, path string, from, to int) {
	for i := from; i >= to; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1)); err != nil {
			t.Error(err)
		}
	}
	if to == 1 {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Error(err)
		}
	}
}

// writeNew makes a new file at path holding lines from..from+n-1.
// nudgeDir gives the follower something to notice next to path: its
// directory changes (with events) and the next look comes (polling).
func nudgeDir(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "other"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// awaitHook waits for a test hook to have fired (its channel closed),
// failing with what it would have meant after 10 s.
func awaitHook(t *testing.T, fired <-chan struct{}, never string) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal(never)
	}
}

func writeNew(t *testing.T, path string, from, n int) {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "l %06d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// heldBehindRotations follows path (lines 0-9 written), holds the follower
// at the batch of lines 10-14, the last it reads of that file before the
// test rotates it rotations times (5 lines to each new file; every
// generation but the oldest, and the file at the path, are unread), and
// returns once they are made, with release to let the follower go: it is
// behind by all of them. The lines written go on from 15+5*rotations.
func heldBehindRotations(t *testing.T, path string, pollOnly bool, rotations int, setup func(f *Follower)) (*collector, func()) {
	t.Helper()
	w := newWriter(t, path, "l")
	w.write(10)
	h := followHeld(t, path, pollOnly, func(f *Follower, _ func()) { setup(f) })
	w.write(5) // read and held: the follower stops at its batch
	w.close()
	for i := range rotations {
		renumber(t, path, i, 1)
		w = continued(t, path, w)
		w.write(5)
		w.close()
	}
	return h.c, h.release
}

// A follower behind by rotations lists the generations as another rotation
// renames each to the name the one before it had. The generation after
// the file it was reading was skipped as finished, neither read nor said
// lost: found by the name that file had (the generation after it has it
// by then), or stated under no name read (a listing taken before the
// rotation had moved everything). Under a stress run (six files rotated
// every 2,500 lines, every wake an overflow) one run in about 25 lost a
// generation so.
func TestFollowGenerationsRenamedUnderTheirListing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// behind is how many rotations the follower is behind. rotate
		// runs once, in a listing of the generations, before the stat
		// of the name path+at; finish, when not nil, once the lines
		// before it are read, ends that rotation. The rotation's new file
		// holds 5 lines from next.
		behind         int
		at             string
		rotate, finish func(t *testing.T, path string, next int)
	}{
		{
			// .2 (the follower's file) and .1 read from the directory,
			// stated as .3 and .2 (the generation after it).
			name: "a whole rotation before the stats", behind: 2, at: ".1",
			rotate: func(t *testing.T, path string, next int) {
				renumber(t, path, 2, 1)
				writeNew(t, path, next, 5)
			},
		},
		{
			// .10 (the follower's file) stated before the rotation, .2
			// after the generations from .10 to .2 moved up, before .1
			// did: the name read gone, the generation after the
			// follower's file (.9, now .10) stated under no name read.
			name: "a rotation halfway through the stats", behind: 10, at: ".2",
			rotate: func(t *testing.T, path string, _ int) { renumber(t, path, 10, 2) },
			finish: func(t *testing.T, path string, next int) {
				renumber(t, path, 1, 1)
				writeNew(t, path, next, 5)
			},
		},
	}
	for _, tt := range tests {
		for _, m := range faultModes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "app.log")
				var armed atomic.Bool
				rotated := make(chan struct{})
				next := 15 + 5*tt.behind
				c, release := heldBehindRotations(t, path, m.pollOnly, tt.behind, func(f *Follower) {
					overflowIn(m.name, f)
					f.hooks.statingGeneration = func(name string) {
						if name == path+tt.at && armed.CompareAndSwap(true, false) {
							tt.rotate(t, path, next)
							close(rotated)
						}
					}
				})
				armed.Store(true)
				release()
				awaitHook(t, rotated, "the generations were never listed")
				if tt.finish != nil {
					c.waitLine(t, fmt.Sprintf("l %06d", next-1))
					tt.finish(t, path, next)
				}
				c.waitLine(t, fmt.Sprintf("l %06d", next+4))
				// Every generation and the file that was at the path read
				// to their end: any of them read twice was by then.
				c.endedWithin(tt.behind+1, 10*time.Second)
				c.checkInOrder(t, "l", 0, next+5)
			})
		}
	}
}

// waitLine waits until line has been seen; it fails t, with the lines
// seen, when it does not come.
func (c *collector) waitLine(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := c.lines[line]
		c.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("line %q never came; read %d lines %v", line, len(c.order), c.order)
}

// endedWithin waits up to d for n streams to end, and reports whether
// they did.
func (c *collector) endedWithin(n int, d time.Duration) bool {
	return c.countWithin(n, d, func() int { return len(c.ended) })
}

// A restart finds the file its checkpoint names rotated twice while it was
// down (lines 10-14 in it, now .2; 15-19 in .1; 20-24 in the file at the
// path) and lists the generations as a third rotation renames them. It
// reads every line once, in order: the file at the path, opened before
// the listing, is not read again as the generation it became, nor the
// generation after the checkpoint's file taken for it.
func TestStartGenerationsRenamedUnderTheirListing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// at sets hook as the hook that runs the rotation.
		at func(f *Follower, hook func())
	}{
		{"between the path's opening and the stats", func(f *Follower, hook func()) {
			f.hooks.statingGeneration = func(string) { hook() }
		}},
		{"between the listing and the opening", func(f *Follower, hook func()) {
			f.hooks.listedGenerations = hook
		}},
	}
	for _, tt := range tests {
		for _, fromEnd := range []bool{false, true} {
			// Rotated twice, the file that was at the path has a newer
			// generation when it is listed, read after it.
			for _, rotations := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/from end %v/rotations %d", tt.name, fromEnd, rotations), func(t *testing.T) {
					t.Parallel()
					path := filepath.Join(t.TempDir(), "app.log")
					w := newWriter(t, path, "l")
					w.write(10)
					saved := stopAndSave(t, Options{Patterns: []string{path}}, 10)
					w.write(5)
					w.close()
					for range 2 {
						rename(t, path)
						w = continued(t, path, w)
						w.write(5)
						w.close()
					}
					var once sync.Once
					c, _, _ := followWith(t, Options{Patterns: []string{path}, Positions: saved, FromEnd: fromEnd}, func(f *Follower) {
						tt.at(f, func() {
							once.Do(func() {
								for i := range rotations {
									renumber(t, path, 2+i, 1)
									writeNew(t, path, 25+5*i, 5)
								}
							})
						})
					})
					end := 25 + 5*rotations
					c.waitLine(t, fmt.Sprintf("l %06d", end-1))
					// The generations and the file that was at the path
					// read to their end: any of them read twice was by then.
					c.endedWithin(2+rotations, 10*time.Second)
					c.checkInOrder(t, "l", 10, end)
				})
			}
		}
	}
}

// The file found at the path when a rotation is seen can be rotated again
// before the generations are listed (the old file's last lines are read in
// between, and their batch waits for its reader): by then it is a
// generation itself, with newer ones after it. Its lines come before
// theirs; chained after them, one generation's lines came after a newer
// one's (TestFollowGenerationsRenamedUnderTheirListing under -race).
func TestFollowAFileRotatedAgainBeforeTheListingComesBeforeNewerOnes(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			w.close()
			var armed, listing atomic.Bool
			rotated := make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if armed.CompareAndSwap(true, false) {
						renumber(t, path, 0, 1)
						writeNew(t, path, 10, 5) // the file the look finds
						listing.Store(true)
					}
				}
				f.hooks.statingGeneration = func(string) {
					if listing.CompareAndSwap(true, false) {
						renumber(t, path, 1, 1)
						writeNew(t, path, 15, 5)
						renumber(t, path, 2, 1)
						writeNew(t, path, 20, 5)
						close(rotated)
					}
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			armed.Store(true)
			// Something for the next look to notice: the path's directory
			// changes (with events) or the look comes (polling).
			nudgeDir(t, path)
			awaitHook(t, rotated, "the generations were never listed")
			c.waitLines(t, 25)
			c.checkInOrder(t, "l", 0, 25)
		})
	}
}

// So with a rename seen before its successor came: the successor, found
// by the rescan, is rotated twice before the generations the rename left
// are listed.
func TestFollowASuccessorRotatedAgainBeforeTheListingComesBeforeNewerOnes(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			w.close()
			var armed, listing atomic.Bool
			renamed, rotated := make(chan struct{}), make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if armed.CompareAndSwap(true, false) {
						renumber(t, path, 0, 1)
						close(renamed)
					}
				}
				f.hooks.statingGeneration = func(string) {
					if listing.CompareAndSwap(true, false) {
						renumber(t, path, 1, 1)
						writeNew(t, path, 15, 5)
						renumber(t, path, 2, 1)
						writeNew(t, path, 20, 5)
						close(rotated)
					}
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			armed.Store(true)
			nudgeDir(t, path)
			awaitHook(t, renamed, "the rotation was never looked for")
			c.waitEnded(t, 1) // the renamed file drained: the path named nothing
			listing.Store(true)
			// Made whole under another name: the rescan finds it with its lines.
			staged := filepath.Join(filepath.Dir(path), "staged")
			writeNew(t, staged, 10, 5)
			if err := os.Rename(staged, path); err != nil {
				t.Fatal(err)
			}
			awaitHook(t, rotated, "the generations were never listed")
			c.waitLines(t, 25)
			c.checkInOrder(t, "l", 0, 25)
		})
	}
}

// Lines written to a file after the look that found its end and before
// the rotation that look was followed by are read before the new file's:
// the new file is read once the old one was read to its end, and that
// look's end was no longer the file's.
func TestFollowLinesWrittenJustBeforeARotationComeFirst(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			var armed atomic.Bool
			rotated := make(chan struct{})
			c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly}, func(f *Follower) {
				f.hooks.checkingRotation = func() {
					if armed.CompareAndSwap(true, false) {
						w.write(5) // after the end was found: lines 10-14
						renumber(t, path, 0, 1)
						writeNew(t, path, 15, 5)
						close(rotated)
					}
				}
			})
			c.waitLines(t, 10)
			c.waitIdle(t)
			armed.Store(true)
			// Something for the next look to notice: the path's directory
			// changes (with events) or the look comes (polling).
			nudgeDir(t, path)
			awaitHook(t, rotated, "the rotation was never looked for")
			c.waitLines(t, 20)
			c.checkInOrder(t, "l", 0, 20)
		})
	}
}
