package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The follower reads its files in turn, one read each a round, on one
// goroutine. pipeline's merge relies on it (order.go, stalled): a file that
// sends nothing while the others' batches keep coming has not been come
// round to yet, and is not taken for a hung read. Reading one file's
// backlog to its end before the next, or files on goroutines of their own,
// would break that.
func TestFollowerReadsBacklogsInTurn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var block strings.Builder
	for i := 0; block.Len() < 4*readChunk; i++ {
		fmt.Fprintf(&block, "line %06d %s\n", i, strings.Repeat("x", 80))
	}
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "c.log")}
	for _, p := range paths {
		if err := os.WriteFile(p, []byte(block.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	batches := make(chan Batch, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := New(Options{Patterns: []string{filepath.Join(dir, "*.log")}, Poll: 5 * time.Millisecond}, batches)
	go f.Run(ctx)

	reads := map[string]int{} // data batches so far, by file
	idle := map[string]bool{}
	var order []string
	timeout := time.After(time.Minute)
	for len(idle) < len(paths) {
		var b Batch
		select {
		case b = <-batches:
		case <-timeout:
			t.Fatalf("the files were not read to their ends within a minute; data batches in order: %v", order)
		}
		switch {
		case b.Idle:
			idle[b.Path] = true
			continue
		case len(b.Data) == 0:
			continue // announced as opened
		}
		reads[b.Path]++
		order = append(order, filepath.Base(b.Path))
		// Every file still being read has had its turn in the rounds
		// before this one.
		for _, p := range paths {
			if p != b.Path && !idle[p] && reads[p] < reads[b.Path]-1 {
				t.Fatalf("%s's read %d came before %s's read %d (data batches in order: %v)",
					filepath.Base(b.Path), reads[b.Path], filepath.Base(p), reads[b.Path]-1, order)
			}
		}
	}
	for _, p := range paths {
		if reads[p] < 4 {
			t.Fatalf("%s was read in %d batches: too few to tell turns apart (%v)", filepath.Base(p), reads[p], order)
		}
	}
}
