package source

import (
	"context"
	"path/filepath"
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
