package pipeline

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// hugeReadFile is a generated log in a file large enough for read()'s
// buffers to be huge pages (buffersFor), and a few MB more.
func hugeReadFile(t *testing.T, seed int64) string {
	t.Helper()
	data, _ := generated(t, int64(poolBuffers()*blockSize+8<<20), seed)
	return writeTemp(t, data)
}

// A file read() into huge-page buffers has them freed by finish, once,
// after the reader and the workers are done with them.
func TestReadOfALargeFileFreesItsBuffersOnce(t *testing.T) {
	t.Parallel()
	src := openSource(context.Background(), Input{Name: "x", R: openTemp(t, hugeReadFile(t, 13))}, "x", &ScanOptions{reading: readingRead}, nil)
	bs := src.(*blockSource)
	if bs.freeBuffers == nil {
		t.Fatal("a file that fills every buffer is read into buffers on the heap, not huge pages")
	}
	frees := 0
	free := bs.freeBuffers
	bs.freeBuffers = func() error {
		frees++
		return free()
	}
	for bs.advance() {
	}
	sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
	if err := bs.finish(&sum); err != nil {
		t.Fatal(err)
	}
	if frees != 1 {
		t.Errorf("the buffers freed %d times, want once", frees)
	}
}

// A scan that stops early, its delivery failing or its context cancelled,
// while blocks are being read into huge-page buffers, ends with its error:
// nothing touches the buffers once they are unmapped (that would be a
// fault, not an error).
func TestScanReadingHugeBuffersStopsEarly(t *testing.T) {
	t.Parallel()
	path := hugeReadFile(t, 17)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	failed := errors.New("the sink is down")
	for name, tc := range map[string]struct {
		stop func(cancel context.CancelFunc) error
		want error
	}{
		"delivery fails":    {func(context.CancelFunc) error { return failed }, failed},
		"context cancelled": {func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := openTemp(t, path)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sum, err := Scan(ctx, []Input{{Name: path, R: f}}, ScanOptions{Rules: rules.Builtin(), reading: readingRead,
				Deliver: func(context.Context, []alert.Alert) error { return tc.stop(cancel) }})
			// A cancel that comes once the reader has read the whole file
			// (the first alert near its end) may find nothing left to stop:
			// the merge had taken its last event already.
			judgedWhole := err == nil && tc.want == context.Canceled && sum.Bytes == size
			if !errors.Is(err, tc.want) && !judgedWhole {
				t.Fatalf("the scan ended with %v after %d of %d bytes, want %v", err, sum.Bytes, size, tc.want)
			}
			// How far the reader got depends on where the first alert is
			// and how far ahead the pool let it read.
			t.Logf("stopped after %d bytes", sum.Bytes)
		})
	}
}

// The probe measures something: a first touch of a page is a fault.
func TestPageFaultCostIsMeasured(t *testing.T) {
	if c := pageFaultCost(); c <= 0 {
		t.Errorf("pageFaultCost %v, want a positive time", c)
	}
	t.Logf("a page fault here: %v; this process maps files: %v", pageFaultCost(), mappingPays())
}
