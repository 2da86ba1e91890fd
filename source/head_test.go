package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file's announcement carries its first whole lines and its size, so a
// reader can tell what log it is, and that it has lines to come, before
// the data of the files read before it.
func TestAnnouncementCarriesTheHead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	if err := os.WriteFile(a, []byte("first line\nsecond line\npartial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- New(Options{Patterns: []string{a, b}, Poll: 5 * time.Millisecond}, out).Run(ctx) }()
	heads, sizes := map[string]string{}, map[string]int64{}
	for len(heads) < 2 {
		select {
		case bt := <-out:
			if len(bt.Data) == 0 && !bt.Idle && !bt.Ended {
				if _, ok := heads[bt.Path]; !ok {
					heads[bt.Path], sizes[bt.Path] = string(bt.Head), bt.Size
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("announcements %v: want both files announced", heads)
		}
	}
	cancel()
	<-done
	if heads[a] != "first line\nsecond line\n" || heads[b] != "" {
		t.Errorf("heads %q: want a.log's whole lines and none for the empty b.log", heads)
	}
	if sizes[a] != int64(len("first line\nsecond line\npartial")) || sizes[b] != 0 {
		t.Errorf("sizes %v: want a.log's and 0 for the empty b.log", sizes)
	}
}
