package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/rules"
)

// A few kilobytes of bzip2 decompress to gigabytes (testdata's 785 bytes
// are 1 GiB of zeros, one record with no end): a scan stopped (Ctrl-C) while
// it decompresses them must stop then, not once the decompressor has
// emptied what it holds. The whole file fits in the head read to tell its
// format, so the file's reader is never asked again: only the log's reads
// can see the stop.
func TestScanOfACompressionBombStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	gib, err := os.ReadFile("testdata/zeros-1GiB.bz2")
	if err != nil {
		t.Fatal(err)
	}
	f := openWritten(t, "bomb.log.bz2", bytes.Repeat(gib, 8))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var progress atomic.Int64
	done := make(chan error, 1)
	go func() {
		_, err := Scan(ctx, []Input{{Name: "bomb.log.bz2", R: f}}, ScanOptions{
			Rules: rules.Builtin(), Deliver: (&collected{}).deliver, Progress: &progress,
		})
		done <- err
	}()
	// The reader is past the block holding the record's start, reading
	// the gigabytes of its rest: the bytes a cut record's rest is skipped
	// over in.
	inSkip := func() bool {
		buf := make([]byte, 1<<20)
		return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("(*blockSource).skipCut"))
	}
	for !inSkip() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Scan: %v, want it stopped", err)
		}
		t.Logf("stopped %v after its context was cancelled", time.Since(stopped))
	case <-time.After(20 * time.Second):
		t.Fatalf("Scan still decompressing 20s after its context was cancelled (%d bytes of the file read)", progress.Load())
	}
}
