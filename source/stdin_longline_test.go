package source

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A line on stdin longer than twice a read chunk is handed on in pieces,
// as a file's is (emitData), rather than held whole until its newline: a
// runaway line without one held memory without bound. The pieces, with
// the lines around them, are the input's bytes in order.
func TestFollowStdinHandsOnALongLineInPieces(t *testing.T) {
	t.Parallel()
	in := "a\n" + strings.Repeat("x", 7*readChunk) + "\nb\n"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := make(chan Batch, 64)
	f := New(Options{Patterns: []string{"-"}, Stdin: strings.NewReader(in), Poll: time.Hour}, batches)
	go f.Run(ctx)
	var got bytes.Buffer
	largest := 0
	for b := range batches {
		if b.Ended {
			break
		}
		if b.Offset != int64(got.Len()) {
			t.Fatalf("a batch at %d after %d bytes", b.Offset, got.Len())
		}
		largest = max(largest, len(b.Data))
		got.Write(b.Data)
	}
	if got.String() != in {
		t.Errorf("handed on %d bytes, want the input's %d", got.Len(), len(in))
	}
	if largest > 2*readChunk+64<<10 {
		t.Errorf("a batch of %d bytes: the long line was held whole", largest)
	}
}
