package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stopAndSave runs a follower over path until it has seen n lines, stops it
// and returns the positions a checkpoint would hold.
func stopAndSave(t *testing.T, opt Options, n int) []Position {
	t.Helper()
	c, cancel, done := follow(t, opt)
	c.waitLines(t, n)
	cancel()
	<-done
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

// rename rotates path to path.1, shifting older numbered generations up.
func rename(t *testing.T, path string) {
	t.Helper()
	for i := 8; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", path, i+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

// copytruncate copies path to path.1 (shifting older ones) and empties it.
func copytruncate(t *testing.T, path string) {
	t.Helper()
	for i := 8; i >= 1; i-- {
		from := fmt.Sprintf("%s.%d", path, i)
		if _, err := os.Stat(from); err == nil {
			os.Rename(from, fmt.Sprintf("%s.%d", path, i+1))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// checkInOrder asserts the lines from..to-1 arrived once each, in order,
// and nothing else.
func (c *collector) checkInOrder(t *testing.T, prefix string, from, to int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var want []string
	for i := from; i < to; i++ {
		want = append(want, fmt.Sprintf("%s %06d", prefix, i))
	}
	if fmt.Sprint(c.order) != fmt.Sprint(want) {
		t.Errorf("read %d lines %v\nwant %d lines %v", len(c.order), c.order, len(want), want)
	}
}

// Whatever happened while graceguard was down, a restart reads every line
// written meanwhile once, oldest generation first.
func TestFollowGenerationsWhileDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// down runs while the follower is stopped, writing lines from 20 on
		// through w and rotating; it returns the number of lines written.
		down func(t *testing.T, w **writer, path string) int
	}{
		{"rename rotation twice", func(t *testing.T, w **writer, path string) int {
			for range 2 {
				(*w).write(5)
				(*w).close()
				rename(t, path)
				next := (*w).next
				*w = newWriter(t, path, "l")
				(*w).next = next
			}
			(*w).write(5)
			return 35
		}},
		{"rename rotation three times", func(t *testing.T, w **writer, path string) int {
			for range 3 {
				(*w).write(4)
				(*w).close()
				rename(t, path)
				next := (*w).next
				*w = newWriter(t, path, "l")
				(*w).next = next
			}
			(*w).write(4)
			return 36
		}},
		{"copytruncate", func(t *testing.T, w **writer, path string) int {
			(*w).write(5)
			copytruncate(t, path)
			(*w).write(5)
			return 30
		}},
		{"copytruncate twice", func(t *testing.T, w **writer, path string) int {
			(*w).write(5)
			copytruncate(t, path)
			(*w).write(5)
			copytruncate(t, path)
			(*w).write(5)
			return 35
		}},
		{"kubelet rotation with a timestamp suffix", func(t *testing.T, w **writer, path string) int {
			for i := range 2 {
				(*w).write(5)
				(*w).close()
				if err := os.Rename(path, fmt.Sprintf("%s.20261203-10101%d", path, i)); err != nil {
					t.Fatal(err)
				}
				next := (*w).next
				*w = newWriter(t, path, "l")
				(*w).next = next
			}
			(*w).write(5)
			return 35
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "0.log")
			// An old generation, read long ago: never read again.
			os.WriteFile(path+".1", []byte("old 000000\n"), 0o644)
			os.Chtimes(path+".1", time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
			w := newWriter(t, path, "l")
			w.write(20)
			saved := stopAndSave(t, Options{Patterns: []string{path}}, 20)
			if len(saved) != 1 {
				t.Fatalf("saved %v", saved)
			}
			written := tt.down(t, &w, path)
			w.close()
			for _, fromEnd := range []bool{false, true} {
				c, _, _ := follow(t, Options{Patterns: []string{path}, Positions: saved, FromEnd: fromEnd})
				c.waitLines(t, written-20)
				time.Sleep(50 * time.Millisecond)
				c.checkInOrder(t, "l", 20, written)
			}
		})
	}
}

// A follower that looks only after the file was rotated twice (stopped,
// or behind) reads the generation in between, in order.
func TestFollowLagsTwoRotations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"rename", rename},
		{"copytruncate", copytruncate},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "app.log")
				w := newWriter(t, path, "l")
				w.write(10)
				c, _, _ := follow(t, Options{Patterns: []string{path}, Poll: 400 * time.Millisecond, PollOnly: m.pollOnly})
				c.waitLines(t, 10)
				c.waitIdle(t)
				for range 2 {
					w.write(5)
					w.close()
					tt.rotate(t, path)
					next := w.next
					w = newWriter(t, path, "l")
					w.next = next
				}
				w.write(5)
				w.close()
				c.waitLines(t, 25)
				time.Sleep(50 * time.Millisecond)
				c.checkInOrder(t, "l", 0, 25)
			})
		}
	}
}

// waitIdle waits for an idle batch: the follower read to the end and
// sleeps until its next look.
func (c *collector) waitIdle(t *testing.T) {
	t.Helper()
	n := 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := c.idle
		c.mu.Unlock()
		if got > n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no idle batch")
}

// A generation older than the file a position names, and newer than one
// still draining, was finished: it is not read again.
func TestFollowDoesNotRereadFinishedGenerations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	var ids []Position
	for i, name := range []string{path + ".2", path + ".1", path} {
		w := newWriter(t, name, fmt.Sprintf("g%d", i))
		w.write(10)
		w.close()
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, Position{Path: path, ID: id, Offset: 10 * int64(len("g0 000000\n"))})
	}
	ids[2].Offset /= 2 // the current file, half read; .2 still draining, .1 done
	c, _, _ := follow(t, Options{Patterns: []string{path}, Positions: []Position{ids[0], ids[2]}})
	c.waitLines(t, 5)
	time.Sleep(100 * time.Millisecond)
	c.checkInOrder(t, "g2", 5, 10)
}

// Generations chained before the file at the path are announced before
// any data: a checkpoint written while they wait their turn must name
// them, or a restart takes them for finished (the file after them has a
// position) and skips their lines.
func TestFollowAnnouncesChainedGenerations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	saved := stopAndSave(t, Options{Patterns: []string{path}}, 10)
	for range 2 {
		w.write(5)
		w.close()
		rename(t, path)
		next := w.next
		w = newWriter(t, path, "l")
		w.next = next
	}
	w.write(5)
	w.close()
	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go New(Options{Patterns: []string{path}, Positions: saved}, batches).Run(ctx)
	announced, keys, behind := map[string]bool{}, map[string]string{}, map[string]string{}
	for b := range batches {
		if len(b.Data) > 0 {
			break
		}
		if !b.Idle && !b.Ended {
			name := filepath.Base(b.Path)
			announced[name], keys[name], behind[name] = true, b.Key, b.Behind
		}
	}
	for _, name := range []string{"app.log.2", "app.log.1", "app.log"} {
		if !announced[name] {
			t.Errorf("%s was not announced before the first data (announced: %v)", name, announced)
		}
	}
	// Each says which it waits for, so a reader merging files by time
	// does not hold the oldest's lines for those behind it.
	for name, after := range map[string]string{"app.log.2": "", "app.log.1": keys["app.log.2"], "app.log": keys["app.log.1"]} {
		if behind[name] != after {
			t.Errorf("%s announced behind %q, want %q", name, behind[name], after)
		}
	}
}

// savedLikeWatcher runs a follower over path and keeps the positions a
// watcher's checkpoint would hold (pipeline/checkpoint.go): a stream once
// it was read (data, or a look that found it empty), at the end of its
// lines; an ended stream's position until another stream reads data, left
// out when a stream of the same inode has one. Once act has run (at the
// first idle batch) and ready says the positions are the ones to save, it
// stops the follower and returns them.
func savedLikeWatcher(t *testing.T, opt Options, act func(), ready func([]Position) bool) []Position {
	t.Helper()
	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(opt, batches).Run(ctx)
	}()
	pos, read := map[string]Position{}, map[string]bool{}
	var drained []Position
	saved := func() []Position {
		var out []Position
		for k, p := range pos {
			if read[k] {
				out = append(out, p)
			}
		}
		for _, d := range drained {
			if !slices.ContainsFunc(out, func(p Position) bool { return p.ID.Dev == d.ID.Dev && p.ID.Ino == d.ID.Ino }) {
				out = append(out, d)
			}
		}
		return out
	}
	acted := false
	timeout := time.After(10 * time.Second)
	for !acted || !ready(saved()) {
		select {
		case b := <-batches:
			switch {
			case b.Ended:
				drained = append(drained, pos[b.Key])
				delete(pos, b.Key)
			case b.Idle:
				read[b.Key] = true
				if !acted {
					acted = true
					act()
				}
			default:
				if len(b.Data) > 0 {
					read[b.Key], drained = true, nil
				}
				pos[b.Key] = Position{Path: b.Path, ID: b.ID, Offset: b.Offset + int64(len(b.Data))}
			}
		case <-timeout:
			cancel()
			t.Fatalf("the positions to save never came; last %v", saved())
		}
	}
	out := saved()
	cancel()
	for {
		select {
		case <-batches:
			continue
		case <-done:
		}
		break
	}
	return out
}

// A checkpoint written just after a copytruncate, while the file at the
// path is still empty, names that file by its inode alone (an empty file
// has no first bytes). The inode stays the path's through every later
// copytruncate, so it cannot tell which copies were made since: a restart
// must still read the copies made after it, not take the file now at the
// path for the one the position named (that lost whole generations in
// events mode, which looks at a truncated file before it is written to).
// With the position the first generation was read to saved beside it (an
// older checkpoint's, kept), the copy is found by that one first; the
// empty file's position still says which copies came after it.
func TestFollowCopytruncatedWhileEmptyAtCheckpoint(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		for _, withRead := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/with the read position %v", m.name, withRead), func(t *testing.T) {
				t.Parallel()
				copytruncatedWhileEmpty(t, m.pollOnly, withRead)
			})
		}
	}
}

func copytruncatedWhileEmpty(t *testing.T, pollOnly, withRead bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	var read Position
	if f, err := os.Open(path); err == nil {
		id, _ := identify(f)
		st, _ := f.Stat()
		f.Close()
		read = Position{Path: path, ID: id, Offset: st.Size()}
	}
	opt := Options{Patterns: []string{path}, Poll: 5 * time.Millisecond, PollOnly: pollOnly, DrainQuiet: 300 * time.Millisecond}
	saved := savedLikeWatcher(t, opt, func() { copytruncate(t, path) }, func(pos []Position) bool {
		// The truncated file's new stream alone, looked at and
		// found empty (its idle batch), as the follower does at once.
		return len(pos) == 1 && pos[0].Offset == 0 && pos[0].ID.FingerprintLen == 0
	})
	if withRead {
		saved = append(saved, read)
	}
	w.write(5) // 10-14, copied to .1 below
	copytruncate(t, path)
	w.write(5) // 15-19
	w.close()
	c, _, _ := follow(t, Options{Patterns: []string{path}, Positions: saved, PollOnly: pollOnly})
	c.waitLines(t, 10)
	time.Sleep(50 * time.Millisecond)
	c.checkInOrder(t, "l", 10, 20)
}

// watcherPositions keeps what a watcher's checkpoint would hold after each
// batch (pipeline/checkpoint.go): every stream but one announced at offset
// 0 and never read (data, or a look that found it empty), at the end of
// its lines; the positions it was started from while no stream has their
// inode, until one of that inode ends; an ended stream's position until
// another stream reads data, unless one saved has its inode.
type watcherPositions struct {
	pos      map[string]Position
	read     map[string]bool
	restored []Position
	drained  []Position
}

func newWatcherPositions(restored []Position) *watcherPositions {
	return &watcherPositions{pos: map[string]Position{}, read: map[string]bool{}, restored: slices.Clone(restored)}
}

func samePositionInode(a, b Position) bool { return a.ID.Dev == b.ID.Dev && a.ID.Ino == b.ID.Ino }

func (w *watcherPositions) take(b Batch) {
	switch {
	case b.Ended:
		ended := w.pos[b.Key]
		w.drained = append(w.drained, ended)
		delete(w.pos, b.Key)
		w.restored = slices.DeleteFunc(w.restored, func(p Position) bool { return samePositionInode(p, ended) })
	case b.Idle:
		w.read[b.Key] = true
	default:
		if len(b.Data) > 0 {
			w.read[b.Key], w.drained = true, nil
		}
		w.pos[b.Key] = Position{Path: b.Path, ID: b.ID, Offset: b.Offset + int64(len(b.Data))}
	}
}

func (w *watcherPositions) following(p Position) bool {
	for _, s := range w.pos {
		if samePositionInode(s, p) {
			return true
		}
	}
	return false
}

func (w *watcherPositions) saved() []Position {
	var out []Position
	for k, p := range w.pos {
		if w.read[k] || p.Offset != 0 {
			out = append(out, p)
		}
	}
	for _, p := range w.restored {
		if !w.following(p) {
			out = append(out, p)
		}
	}
	for _, d := range w.drained {
		if !slices.ContainsFunc(out, func(p Position) bool { return samePositionInode(p, d) }) {
			out = append(out, d)
		}
	}
	return out
}

// A start that finds generations to read, killed after any one of the
// batches it hands on, reads every line it had not handed on when started
// again from the checkpoint a watcher would have written then: no batch
// boundary leaves a checkpoint that skips a generation (a generation that
// drained before the next was read, a file found empty).
func TestFollowRestartAfterEveryBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"rename", rename},
		{"copytruncate", copytruncate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			saved := stopAndSave(t, Options{Patterns: []string{path}}, 10)
			for range 2 {
				w.write(5)
				w.close()
				tt.rotate(t, path)
				next := w.next
				w = newWriter(t, path, "l")
				w.next = next
			}
			w.write(5)
			w.close()
			// Rotated a while ago: each generation ends as soon as it is
			// read, before the next is.
			for _, g := range []string{path + ".1", path + ".2"} {
				old := time.Now().Add(-time.Minute)
				if err := os.Chtimes(g, old, old); err != nil {
					t.Fatal(err)
				}
			}
			const written = 25
			// The batches of one start, to the first idle look at the path's file.
			var seq []Batch
			run(t, path, saved, func(b Batch) bool {
				seq = append(seq, b)
				return b.Idle && filepath.Base(b.Path) == "app.log"
			})
			for cut := range seq {
				wp, lines := newWatcherPositions(saved), map[string]string{}
				for _, b := range seq[:cut+1] {
					wp.take(b)
					eachLine(b, func(l, at string) { lines[l] = at })
				}
				again := 0
				run(t, path, wp.saved(), func(b Batch) bool {
					eachLine(b, func(l, at string) {
						if was, ok := lines[l]; ok && was != at && again == 0 {
							// An alert's id names the record by file and
							// offset: read again as another, it is sent twice.
							again++
							t.Errorf("killed after batch %d of %d, restarted from %+v: %q read again as %s, first as %s", cut+1, len(seq), wp.saved(), l, at, was)
						}
						lines[l] = at
					})
					return len(lines) == written-10
				})
				if len(lines) != written-10 {
					t.Errorf("killed after batch %d of %d (%+v), restarted from %+v: read %d of lines 10-%d", cut+1, len(seq), seq[cut], wp.saved(), len(lines), written-1)
				}
			}
		})
	}
}

// eachLine calls f with each line of b's data and where it was read (the
// file's device and inode, the offset), as an alert's id names it.
func eachLine(b Batch, f func(line, at string)) {
	off := b.Offset
	for _, l := range strings.SplitAfter(string(b.Data), "\n") {
		if l != "" {
			f(strings.TrimSuffix(l, "\n"), fmt.Sprintf("%d:%d@%d", b.ID.Dev, b.ID.Ino, off))
		}
		off += int64(len(l))
	}
}

// run follows path from positions and hands each batch to done until it says
// so, or a second passes with no batch.
func run(t *testing.T, path string, positions []Position, done func(Batch) bool) {
	t.Helper()
	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		New(Options{Patterns: []string{path}, Positions: positions, DrainQuiet: 100 * time.Millisecond, Poll: 5 * time.Millisecond}, batches).Run(ctx)
	}()
	defer func() {
		cancel()
		for {
			select {
			case <-batches:
				continue
			case <-stopped:
			}
			return
		}
	}()
	for {
		select {
		case b := <-batches:
			if done(b) {
				return
			}
		case <-time.After(time.Second):
			return
		}
	}
}

// A follower that notices a copytruncate, looks at the file now at the
// path and is descheduled before it follows it (a loaded machine) finds
// the file copied, truncated and rewritten again by then, to the same
// size: the copy holds the lines the follower looked at, the file newer
// ones. It reads both, in order: the file's new lines are not taken for
// the ones it looked at (its first bytes are what it is followed by, and
// its size and time as they were before that look), nor the copy for one
// being made of the lines it will read from the file.
func TestFollowCopytruncatedAgainWhileLookingAtTheFile(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			copytruncatedAgainAt(t, m.pollOnly, func(f *Follower, interrupt func()) {
				f.hooks.lookedAgain = interrupt
				// Found at the first look at the file, before its bytes
				// are read: not left to the look after the read.
				f.hooks.truncatedAsRead = func() { t.Error("the rotation was found only after the file was read") }
			})
		})
	}
}

// The same, descheduled at its first read of that file, after the look
// that found it unchanged: the bytes read are the new lines, not the
// continuation of the ones it looked at, and are not handed on as such.
func TestFollowCopytruncatedAgainBeforeTheRead(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			copytruncatedAgainAt(t, m.pollOnly, func(f *Follower, interrupt func()) {
				looked := false
				f.hooks.lookedAgain = func() { looked = true }
				f.hooks.checkedBeforeRead = func() {
					if looked {
						interrupt()
					}
				}
			})
		})
	}
}

// copytruncatedAgainAt writes lines 0-14, copytruncates the file and
// writes 15-19, then copytruncates it again and writes 20-24 when the
// follower first calls the interrupt hook sets (after it noticed the
// first truncation), and wants all 25 lines in order.
func copytruncatedAgainAt(t *testing.T, pollOnly bool, hook func(f *Follower, interrupt func())) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	h := followHeld(t, path, pollOnly, hook)
	w.write(5) // 10-14, copied to .1 (then .2)
	w.close()
	copytruncate(t, path)
	w = newWriter(t, path, "l")
	w.next = 15
	w.write(5) // 15-19, copied to .1 when the follower is interrupted
	w.close()
	h.release()
	h.waitPaused(t)
	copytruncate(t, path)
	w = newWriter(t, path, "l")
	w.next = 20
	w.write(5) // 20-24: as long as 15-19
	w.close()
	// Long enough for the file's time to tell nothing at the next look
	// if it were taken after the file was rewritten.
	time.Sleep(2 * mtimeGrain)
	close(h.resume)
	h.c.waitLines(t, 25)
	time.Sleep(50 * time.Millisecond)
	h.c.checkInOrder(t, "l", 0, 25)
}

// heldFollower follows path with its batches held back (an unbuffered
// output the test reads) and hook installed with a pause: the first call
// of pause tells paused and waits for resume. It returns once lines 0-9
// are read and the follower is idle, and the first batch after them waits
// for the test: the first file the follower looks at after a rotation the
// test makes next is the one the test leaves. release hands the batches
// on from then.
type heldFollower struct {
	c              *collector
	paused, resume chan struct{}
	release        func()
}

func followHeld(t *testing.T, path string, pollOnly bool, hook func(f *Follower, pause func())) *heldFollower {
	t.Helper()
	out := make(chan Batch)
	h := &heldFollower{paused: make(chan struct{}), resume: make(chan struct{})}
	stop := make(chan struct{})
	once := false
	h.c, _, _ = followWith(t, Options{Patterns: []string{path}, PollOnly: pollOnly}, func(f *Follower) {
		f.out = out
		hook(f, func() {
			if once {
				return
			}
			once = true
			select {
			case h.paused <- struct{}{}:
				<-h.resume
			case <-stop:
			}
		})
	})
	t.Cleanup(func() { close(stop) })
	for idle := false; !idle; {
		select {
		case b := <-out:
			h.c.batches <- b
			idle = b.Idle
		case <-time.After(10 * time.Second):
			t.Fatal("no idle batch")
		}
	}
	h.c.waitLines(t, 10)
	h.release = func() {
		go func() {
			for {
				select {
				case b := <-out:
					h.c.batches <- b
				case <-stop:
					return
				}
			}
		}()
	}
	return h
}

// waitPaused waits for the follower to reach the pause.
func (h *heldFollower) waitPaused(t *testing.T) {
	t.Helper()
	select {
	case <-h.paused:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never got to the truncated file again")
	}
}

// A follower that notices a copytruncate while the file is empty and is
// descheduled before it looks for newer copies finds lines written to the
// file since, and a copy of them being made (copytruncate again, the
// truncation still to come). The file's tailer reads them from the file:
// the copy is not read too.
func TestFollowCopyBeingMadeOfAFileEmptyWhenLookedAt(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			h := followHeld(t, path, m.pollOnly, func(f *Follower, pause func()) { f.hooks.lookedAgain = pause })
			c := h.c
			w.write(5) // 10-14, copied to .1 (then .2)
			w.close()
			copytruncate(t, path)
			h.release()
			h.waitPaused(t)
			// The file was empty when looked at.
			w = newWriter(t, path, "l")
			w.next = 15
			w.write(5) // 15-19
			w.close()
			// copytruncate's copy, not its truncation yet.
			if err := os.Rename(path+".1", path+".2"); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".1", data, 0o644); err != nil {
				t.Fatal(err)
			}
			close(h.resume)
			c.waitLines(t, 20)
			time.Sleep(100 * time.Millisecond) // for 15-19 from the copy too
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			w = newWriter(t, path, "l")
			w.next = 20
			w.write(5) // 20-24
			w.close()
			c.waitLines(t, 25)
			time.Sleep(50 * time.Millisecond)
			c.checkInOrder(t, "l", 0, 25)
		})
	}
}

// A file truncated just after a read that brought lines 10-14: those
// lines were the file's, and are handed on, whether the truncation left
// no copy or came after logrotate's copy (which holds only lines 0-9: the
// lines written between its copy and its truncation are in no copy).
func TestFollowTruncatedJustAfterARead(t *testing.T) {
	t.Parallel()
	for _, logrotate := range []bool{false, true} {
		for _, m := range modes {
			t.Run(fmt.Sprintf("copy first %v/%s", logrotate, m.name), func(t *testing.T) {
				t.Parallel()
				truncatedAfterRead(t, m.pollOnly, logrotate)
			})
		}
	}
}

func truncatedAfterRead(t *testing.T, pollOnly, logrotate bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(10)
	var armed atomic.Bool
	truncated := make(chan struct{})
	c, _, _ := followWith(t, Options{Patterns: []string{path}, PollOnly: pollOnly}, func(f *Follower) {
		f.hooks.afterRead = func() {
			if !armed.CompareAndSwap(true, false) {
				return
			}
			if err := os.Truncate(path, 0); err != nil {
				t.Error(err)
			}
			close(truncated)
		}
	})
	c.waitLines(t, 10)
	if logrotate {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".1", data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	armed.Store(true)
	w.write(5) // 10-14: read, then truncated under the reader
	w.close()
	select {
	case <-truncated:
	case <-time.After(10 * time.Second):
		t.Fatal("lines 10-14 were never read")
	}
	w = newWriter(t, path, "l")
	w.next = 15
	w.write(5)
	w.close()
	c.waitLines(t, 20)
	time.Sleep(50 * time.Millisecond)
	c.checkInOrder(t, "l", 0, 20)
}
