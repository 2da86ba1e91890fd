package source

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The generations rotated while graceguard was down say in every batch
// whose log they are: the lines of app.log.1 are app.log's, whatever the
// file is called now (the pipeline joins them to the proxy's records as
// that log's).
func TestGenerationsNameTheirLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w := newWriter(t, path, "l")
	w.write(5)
	opt := Options{Patterns: []string{path}, DrainQuiet: 100 * time.Millisecond, Poll: 5 * time.Millisecond}
	opt.Positions = stopAndSave(t, opt, 5)

	// Down: rotated twice, lines in each generation.
	w.write(5)
	rename(t, path)
	w.reopen()
	w.write(5)
	rename(t, path)
	w.reopen()
	w.write(5)

	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		New(opt, batches).Run(ctx)
		close(done)
	}()
	seen := map[string]bool{}
	lines := 0
	for lines < 15 {
		select {
		case b := <-batches:
			if b.Path == path && b.Log != "" || b.Path != path && b.Log != path {
				t.Errorf("batch of %s names its log %q, want %q", b.Path, b.Log, map[bool]string{true: "", false: path}[b.Path == path])
			}
			seen[b.Path] = true
			for _, c := range b.Data {
				if c == '\n' {
					lines++
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d of 15 lines; files %v", lines, seen)
		}
	}
	cancel()
	<-done
	if !seen[path+".1"] || !seen[path+".2"] {
		t.Errorf("batches came from %v, want both generations", seen)
	}
}

// A file announced behind older generations and not read yet when the
// checkpoint was written (Position.Unread) may be read after it, and then
// copied and truncated before a kill -9's restart: its copy is read under
// its device and inode, as every copy of the file at the path is, so a line
// read from the file and again from the copy is one alert (same id). It
// was read under the copy's own inode: watch sent 14 alerts twice in a
// 200 requests/s run with nginx, kill -9 and copytruncate.
func TestCopyOfAFileUnreadAtTheCheckpointIsReadUnderItsInode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	// The checkpoint: the older generation read to its end, renamed away;
	// the file now at the path announced behind it, not read yet.
	w := newWriter(t, path, "a")
	w.write(5)
	older := positionOf(t, path, 5) // read to its end
	rename(t, path)
	w.prefix = "l"
	w.next = 0
	w.reopen()
	w.write(5)
	unread := positionOf(t, path, 0)
	unread.Unread = true
	positions := []Position{older, unread}
	w.write(5)
	copytruncate(t, path)
	w.write(5)

	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		New(Options{Patterns: []string{path}, Positions: positions, Poll: 5 * time.Millisecond}, batches).Run(ctx)
		close(done)
	}()
	lines := 0
	for lines < 15 {
		select {
		case b := <-batches:
			if id := unread.ID; b.Path == path+".1" && (b.ID.Dev != id.Dev || b.ID.Ino != id.Ino) {
				t.Errorf("the copy was read under %d:%d, want the file's %d:%d", b.ID.Dev, b.ID.Ino, id.Dev, id.Ino)
			}
			lines += strings.Count(string(b.Data), "\n")
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d of 15 lines", lines)
		}
	}
	cancel()
	<-done
}
