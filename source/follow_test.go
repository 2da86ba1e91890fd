package source

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
)

// collector gathers what a Follower hands on.
type collector struct {
	mu      sync.Mutex
	lines   map[string]int // line text → times seen
	order   []string
	ended   map[string]bool
	idle    int
	last    map[string]Position // per stream, where whole lines stand
	batches chan Batch
	// keys are the streams in the order their first batch came; behind,
	// the generation each was announced behind (Batch.Behind).
	keys   []string
	behind map[string]string
}

func follow(t *testing.T, opt Options) (*collector, context.CancelFunc, chan error) {
	t.Helper()
	return followWith(t, opt, nil)
}

// followWith is follow with setup called on the Follower before it runs.
func followWith(t *testing.T, opt Options, setup func(*Follower)) (*collector, context.CancelFunc, chan error) {
	t.Helper()
	c := &collector{lines: map[string]int{}, ended: map[string]bool{}, last: map[string]Position{}, batches: make(chan Batch, 64), behind: map[string]string{}}
	if opt.Poll == 0 {
		opt.Poll = 5 * time.Millisecond
	}
	if opt.DrainQuiet == 0 {
		opt.DrainQuiet = 300 * time.Millisecond
	}
	if opt.Rescan == 0 {
		opt.Rescan = 50 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	if opt.Logger == nil && os.Getenv("GG_DEBUG") != "" {
		opt.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := New(opt, c.batches)
	if setup != nil {
		setup(f)
	}
	go func() {
		err := f.Run(ctx)
		done <- err
		close(stopped)
	}()
	go func() {
		for b := range c.batches {
			c.mu.Lock()
			if !slices.Contains(c.keys, b.Key) {
				c.keys = append(c.keys, b.Key)
			}
			if b.Behind != "" {
				c.behind[b.Key] = b.Behind
			}
			switch {
			case b.Ended:
				c.ended[b.Key] = true
			case b.Idle:
				c.idle++
			default:
				for _, l := range strings.SplitAfter(string(b.Data), "\n") {
					if l == "" {
						continue
					}
					if !strings.HasSuffix(l, "\n") {
						t.Errorf("a batch ended in an unfinished line %q", l)
					}
					l = strings.TrimSuffix(l, "\n")
					c.lines[l]++
					c.order = append(c.order, l)
				}
				c.last[b.Key] = Position{Path: b.Path, ID: b.ID, Offset: b.Offset + int64(len(b.Data))}
			}
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return c, cancel, done
}

// waitLines waits until n distinct lines have been seen.
func (c *collector) waitLines(t *testing.T, n int) {
	t.Helper()
	if c.linesWithin(n, 15*time.Second) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("saw %d distinct lines, want %d", len(c.lines), n)
}

// linesWithin waits up to d for n distinct lines, and reports whether they
// came.
func (c *collector) linesWithin(n int, d time.Duration) bool {
	return c.countWithin(n, d, func() int { return len(c.lines) })
}

// countWithin waits up to d for count, read under c.mu, to reach n, and
// reports whether it did.
func (c *collector) countWithin(n int, d time.Duration, count func() int) bool {
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		got := count()
		c.mu.Unlock()
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkExactlyOnce asserts lines 0..n-1 each arrived once, and nothing else.
func (c *collector) checkExactlyOnce(t *testing.T, prefix string, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		l := fmt.Sprintf("%s %06d", prefix, i)
		if c.lines[l] != 1 {
			t.Errorf("line %q seen %d times", l, c.lines[l])
		}
	}
	if len(c.lines) != n {
		t.Errorf("%d distinct lines, want %d", len(c.lines), n)
	}
}

// writer appends numbered lines to path, reopening it when told (as a
// program does after logrotate signals it).
type writer struct {
	t      *testing.T
	path   string
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	next   int
	prefix string
}

func newWriter(t *testing.T, path, prefix string) *writer {
	w := &writer{t: t, path: path, prefix: prefix}
	w.reopen()
	return w
}

func (w *writer) reopen() {
	if w.f != nil {
		w.w.Flush()
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f, w.w = f, bufio.NewWriter(f)
}

func (w *writer) write(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range n {
		fmt.Fprintf(w.w, "%s %06d\n", w.prefix, w.next)
		w.next++
	}
	w.w.Flush()
}

func (w *writer) close() {
	w.w.Flush()
	w.f.Close()
}

// keepWriting writes batches of lines with short pauses until stop closes,
// so rotations happen under continuous writes.
func (w *writer) keepWriting(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		default:
		}
		w.write(7)
		time.Sleep(time.Millisecond)
	}
}

func TestFollowRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rotate func(t *testing.T, w *writer, path string)
	}{
		{"rename, writer reopens a little later", func(t *testing.T, w *writer, path string) {
			w.mu.Lock()
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			w.mu.Unlock()
			// Lines still go to the renamed file until the writer reopens.
			time.Sleep(30 * time.Millisecond)
			w.mu.Lock()
			w.reopen()
			w.mu.Unlock()
		}},
		{"rename, writer reopens at once", func(t *testing.T, w *writer, path string) {
			// The path names the new file by the next look.
			w.mu.Lock()
			defer w.mu.Unlock()
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			w.reopen()
		}},
		{"copytruncate", func(t *testing.T, w *writer, path string) {
			// logrotate copies then truncates; lines written between the two
			// are lost by copytruncate itself, so the writer waits meanwhile.
			w.mu.Lock()
			defer w.mu.Unlock()
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
		}},
		{"delete and recreate", func(t *testing.T, w *writer, path string) {
			w.mu.Lock()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			w.mu.Lock()
			w.reopen()
			w.mu.Unlock()
		}},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "app.log")
				w := newWriter(t, path, "line")
				w.write(100)
				c, _, _ := follow(t, Options{Patterns: []string{path}, PollOnly: m.pollOnly})
				since := 0 // the first line written since the last rotation
				for range 3 {
					stop, done := make(chan struct{}), make(chan struct{})
					go w.keepWriting(stop, done)
					time.Sleep(40 * time.Millisecond)
					c.awaitLine(t, w, since)
					tt.rotate(t, w, path)
					w.mu.Lock()
					since = w.next
					w.mu.Unlock()
					time.Sleep(40 * time.Millisecond)
					close(stop)
					<-done
				}
				w.write(50)
				w.close()
				c.waitLines(t, w.next)
				time.Sleep(50 * time.Millisecond) // let any duplicate arrive
				c.checkExactlyOnce(t, "line", w.next)
				c.checkEachBehindTheOneBefore(t)
			})
		}
	}
}

// awaitLine waits until line i of w has come, writing up to it first when
// it is not written yet. A rotation waits so for the first line written
// since the one before: the follower has then looked at the file it went
// to (and, after a copytruncate, at the copy). A file deleted, or renamed
// over, or copied over, before the follower first looked at it is beyond
// any reader; without the wait a follower descheduled for longer than the
// pauses between rotations (a loaded machine: two dozen test processes
// and four busy loops on two cores) missed such a file whole, a few
// times in a thousand runs, and the test took that for a loss.
func (c *collector) awaitLine(t *testing.T, w *writer, i int) {
	t.Helper()
	w.mu.Lock()
	for w.next <= i {
		fmt.Fprintf(w.w, "%s %06d\n", w.prefix, w.next)
		w.next++
	}
	w.w.Flush()
	w.mu.Unlock()
	line := fmt.Sprintf("%s %06d", w.prefix, i)
	if !c.countWithin(1, 15*time.Second, func() int { return c.lines[line] }) {
		t.Fatalf("line %q never came", line)
	}
}

// checkEachBehindTheOneBefore asserts that every stream after the first
// was announced behind the one before it: generations of one path, whose
// lines a reader merging by time must keep in that order where their
// times tie.
func (c *collector) checkEachBehindTheOneBefore(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) < 2 {
		t.Fatalf("streams %q: want a generation after each rotation", c.keys)
	}
	for i := 1; i < len(c.keys); i++ {
		if got := c.behind[c.keys[i]]; got != c.keys[i-1] {
			t.Errorf("stream %s was announced behind %q, want %s (streams %q)", c.keys[i], got, c.keys[i-1], c.keys)
		}
	}
}

// A file truncated and rewritten past the old read offset between two
// polls is noticed by its changed first bytes.
func TestFollowTruncationRewrittenPastOffset(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testTruncationRewrittenPastOffset(t, m.pollOnly) })
	}
}

func testTruncationRewrittenPastOffset(t *testing.T, pollOnly bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "old")
	w.write(10)
	c, _, _ := follow(t, Options{Patterns: []string{path}, Poll: 200 * time.Millisecond, PollOnly: pollOnly})
	c.waitLines(t, 10)
	w.mu.Lock()
	os.Truncate(path, 0)
	w.prefix = "new"
	w.next = 0
	w.mu.Unlock()
	w.write(40) // longer than before, written before the next poll
	w.close()
	c.waitLines(t, 50)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range 40 {
		if c.lines[fmt.Sprintf("new %06d", i)] != 1 {
			t.Errorf("new line %d seen %d times", i, c.lines[fmt.Sprintf("new %06d", i)])
		}
	}
}

func TestFollowGlobPicksUpNewFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newWriter(t, filepath.Join(dir, "a.log"), "a")
	a.write(5)
	c, _, _ := follow(t, Options{Patterns: []string{filepath.Join(dir, "*.log")}})
	c.waitLines(t, 5)
	b := newWriter(t, filepath.Join(dir, "b.log"), "b")
	b.write(5)
	other := newWriter(t, filepath.Join(dir, "c.txt"), "c")
	other.write(5)
	c.waitLines(t, 10)
	time.Sleep(100 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lines["b 000004"] != 1 || c.lines["c 000000"] != 0 {
		t.Errorf("new matching file not read, or a non-matching one was: %v", c.lines)
	}
}

func TestFollowFromEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWriter(t, filepath.Join(dir, "a.log"), "x")
	w.write(5)
	c, _, _ := follow(t, Options{Patterns: []string{filepath.Join(dir, "a.log")}, FromEnd: true})
	// The new lines are written once the follower has opened the file at
	// its end and announced it: after a fixed 50 ms, a follower that had
	// not started yet on a loaded machine took them for history.
	testsync.WaitFor(t, "a.log announced", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.keys) > 0
	})
	w.write(3)
	c.waitLines(t, 3)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lines["x 000000"] != 0 || c.lines["x 000007"] != 1 {
		t.Errorf("--from end read history or missed new lines: %v", c.lines)
	}
}

// A restart resumes where the last one stopped, also when the file was
// rotated while graceguard was down.
func TestFollowResumesFromPositions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(20)
	c, cancel, done := follow(t, Options{Patterns: []string{path}})
	c.waitLines(t, 20)
	cancel()
	<-done
	c.mu.Lock()
	var saved []Position
	for _, p := range c.last {
		saved = append(saved, p)
	}
	c.mu.Unlock()

	w.write(5) // written while down, to the file that is then rotated
	w.close()
	os.Rename(path, path+".1")
	w = newWriter(t, path, "l")
	w.next = 25
	w.write(5)
	w.close()

	c2, _, _ := follow(t, Options{Patterns: []string{path}, Positions: saved})
	c2.waitLines(t, 10)
	time.Sleep(50 * time.Millisecond)
	c2.mu.Lock()
	defer c2.mu.Unlock()
	for i := 20; i < 30; i++ {
		if got := c2.lines[fmt.Sprintf("l %06d", i)]; got != 1 {
			t.Errorf("line %d seen %d times after the restart", i, got)
		}
	}
	if len(c2.lines) != 10 {
		t.Errorf("the restart read %d lines, want only the 10 new ones", len(c2.lines))
	}
}

func TestFollowStdin(t *testing.T) {
	t.Parallel()
	r, w := io.Pipe()
	c, _, _ := follow(t, Options{Patterns: []string{"-"}, Stdin: r})
	for i := range 3 {
		fmt.Fprintf(w, "s %06d\n", i)
	}
	io.WriteString(w, "s 0000") // an unfinished line waits...
	c.waitLines(t, 3)
	io.WriteString(w, "03\n") // ...for its newline
	c.waitLines(t, 4)
	w.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		ended := c.ended["-"]
		c.mu.Unlock()
		if ended || time.Now().After(deadline) {
			if !ended {
				t.Error("stdin's end was not passed on")
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.checkExactlyOnce(t, "s", 4)
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a")
	os.WriteFile(path, []byte(strings.Repeat("x", 1000)), 0o644)
	f, _ := os.Open(path)
	defer f.Close()
	id, err := identify(f)
	if err != nil || id.FingerprintLen != fingerprintLen || id.Ino == 0 {
		t.Fatalf("identify: %+v %v", id, err)
	}
	if !matches(f, id) {
		t.Error("a file does not match its own identity")
	}
	os.WriteFile(path, []byte("y"+strings.Repeat("x", 999)), 0o644)
	if matches(f, id) {
		t.Error("a rewritten start still matches")
	}
	_ = strconv.Itoa
}

// A backlog is read in large chunks, and once the file has been quiet the
// follower goes back to a small read buffer instead of keeping a MiB.
func TestReadBufferFollowsTheBacklog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	var block strings.Builder
	for i := 0; block.Len() < 4*quietChunk; i++ {
		fmt.Fprintf(&block, "line %06d %s\n", i, strings.Repeat("x", 80))
	}
	if err := os.WriteFile(path, []byte(block.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := New(Options{Patterns: []string{path}, Poll: 5 * time.Millisecond}, batches)
	go f.Run(ctx)
	// sizes returns the sizes of the data batches until the file is idle.
	sizes := func() []int {
		var out []int
		for b := range batches {
			if b.Idle {
				return out
			}
			if len(b.Data) == 0 {
				continue // the file announced as it is opened
			}
			out = append(out, len(b.Data))
		}
		return out
	}
	const small = quietChunk + 100 // a read's lines and the line it finished
	if got := sizes(); len(got) < 2 || got[0] > small || got[1] <= small {
		t.Fatalf("backlog batches %v: want one small read, then large ones", got)
	}
	time.Sleep(quietAfter + 100*time.Millisecond)
	af, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.WriteString(block.String()); err != nil {
		t.Fatal(err)
	}
	af.Close()
	if got := sizes(); len(got) == 0 || got[0] > small {
		t.Fatalf("batches after a quiet spell %v: the read buffer must be small again", got)
	}
}

// A backlog read in large chunks goes out in batches read straight into
// recycled arrays: every byte once, in order, at contiguous offsets, across
// lines that straddle reads and lines longer than a read, while the reader
// hands every array back as soon as it has copied it.
func TestBacklogBatchesReadIntoRecycledArrays(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	var want []byte
	for i := 0; len(want) < 6*readChunk; i++ {
		n := 40 + (i*7919)%400
		switch i {
		case 300:
			n = readChunk + readChunk/2 // longer than a read
		case 900:
			n = 2*readChunk + 1000 // longer than the follower holds: handed on unfinished
		}
		want = fmt.Appendf(want, "line %06d %s\n", i, strings.Repeat("x", n))
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	batches := make(chan Batch, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go New(Options{Patterns: []string{path}, Poll: 5 * time.Millisecond}, batches).Run(ctx)
	var got []byte
	large := 0
	// readUntilIdle takes the batches until the file is idle.
	readUntilIdle := func() {
		for b := range batches {
			if b.Idle {
				return
			}
			if len(b.Data) == 0 {
				continue // the announcement
			}
			if b.Offset != int64(len(got)) {
				t.Fatalf("a batch at offset %d after %d bytes", b.Offset, len(got))
			}
			if len(b.Data) > quietChunk {
				large++
			}
			got = append(got, b.Data...)
			clear(b.Data) // what a reader may do with an array it hands back
			Recycle(b.Data)
		}
	}
	readUntilIdle()
	// A few lines more while reads are still large: a small batch.
	more := []byte("after 1\nafter 2\n")
	af, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Write(more); err != nil {
		t.Fatal(err)
	}
	af.Close()
	want = append(want, more...)
	readUntilIdle()
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("read %d bytes of %d, first difference at %d", len(got), len(want), i)
	}
	if large < 3 {
		t.Errorf("%d large batches: the backlog was not read in large chunks", large)
	}
}

// A look at a file that has not changed since a look that read it to its
// end reads nothing: its size and time say so once they have settled, and
// the read (a system call a file a look, every poll or safety look of an
// idle watch) is left out. What is written after is read as before.
//
// Settled means a look came more than mtimeGrain after the file's last
// change; the look after that one is the first that may leave its read
// out. The test awaits that look, not a time: slept past the grain, a
// follower descheduled all the while (a loaded machine) made its first
// look after the grain inside the window counted, read there as it must,
// and failed the test once in about 200 runs.
func TestIdleLooksDoNotRead(t *testing.T) {
	t.Parallel()
	const looksAfter = 20 // at 5 ms, about 100 ms of looks
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "a.log")
			w := newWriter(t, path, "x")
			w.write(5)
			var (
				// On Run's goroutine only, but the first two.
				skipped, counted = make(chan struct{}), make(chan struct{})
				readsAfter       atomic.Int64
				readSinceLook    bool
				looks            = -1 // since the first look that read nothing
			)
			opt := Options{Patterns: []string{path}, PollOnly: m.pollOnly, Safety: 5 * time.Millisecond, SafetyMax: 5 * time.Millisecond}
			c, _, _ := followWith(t, opt, func(f *Follower) {
				f.hooks.checkedBeforeRead = func() {
					readSinceLook = true
					if looks >= 0 && looks < looksAfter {
						readsAfter.Add(1)
					}
				}
				// Every look that finds the idle file's end goes on to
				// the look for a rotation: each poll, each safety look.
				f.hooks.checkingRotation = func() {
					switch {
					case looks < 0 && !readSinceLook:
						looks = 0
						close(skipped)
					case looks >= 0 && looks < looksAfter:
						looks++
						if looks == looksAfter {
							close(counted)
						}
					}
					readSinceLook = false
				}
			})
			c.waitLines(t, 5)
			awaitHook(t, skipped, "no look at the unchanged file left its read out")
			awaitHook(t, counted, "the follower stopped looking at the file")
			if n := readsAfter.Load(); n > 0 {
				t.Errorf("%d reads of an unchanged file in the %d looks after one that left its read out", n, looksAfter)
			}
			w.write(3)
			c.waitLines(t, 8)
		})
	}
}

// The log says what became of a followed file whose name is gone: renamed
// (logrotate's rename rotation, before the new file is made) or deleted.
// It said "file removed" for both, and a rename is no removal.
func TestFollowSaysWhetherAFileWasRenamedOrDeleted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		gone func(t *testing.T, path string) error
		want string
	}{
		{"renamed beside it", func(_ *testing.T, path string) error { return os.Rename(path, path+".1") },
			`msg="file renamed; draining" path=%[1]s to=%[1]s.1`},
		{"deleted", func(_ *testing.T, path string) error { return os.Remove(path) },
			`msg="file deleted; draining" path=%[1]s`},
		{"moved elsewhere", func(t *testing.T, path string) error {
			return os.Rename(path, filepath.Join(t.TempDir(), "elsewhere"))
		}, `msg="file renamed or moved away: it has a name elsewhere; draining" path=%[1]s`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(3)
			var logs syncBuffer
			c, _, _ := follow(t, Options{Patterns: []string{path}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			c.waitLines(t, 3)
			if err := tt.gone(t, path); err != nil {
				t.Fatal(err)
			}
			w.write(2) // the writer appends on until it reopens
			c.waitLines(t, 5)
			want := fmt.Sprintf(tt.want, path)
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("log lacks %q:\n%s", want, logs.String())
				}
			}
			if strings.Contains(logs.String(), "file removed") {
				t.Errorf("log says removed:\n%s", logs.String())
			}
			w.close()
		})
	}
}
