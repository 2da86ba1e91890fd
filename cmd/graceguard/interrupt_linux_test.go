package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// readsWatched is stdin as the scan reads it, telling the test how much
// the reads before each one had returned: a read that starts after n bytes
// came back means the scan has counted those n (the reads are one
// goroutine's, in order). Not an *os.File, the scan takes it for the
// stream it is.
type readsWatched struct {
	r          *os.File
	returned   atomic.Int64
	askedAfter atomic.Int64
}

func (w *readsWatched) Read(p []byte) (int, error) {
	w.askedAfter.Store(w.returned.Load())
	n, err := w.r.Read(p)
	w.returned.Add(int64(n))
	return n, err
}

// A scan of a pipe stopped while its read waits for the rest of a block
// says what it read and that it was not judged: it said "0 B" and
// "before any record was judged", 9 kB read and all.
func TestInterruptedStreamScanSaysWhatItRead(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "openunison", "sample.log"))
	if err != nil {
		t.Fatal(err)
	}
	// A stream's first MiB fills a block, judged; the rest waits for more.
	long := bytes.Repeat(sample, 130)
	const note = " read from a stream was waiting for the rest of its block, not judged"
	for _, tt := range []struct {
		name  string
		data  []byte
		quiet bool
		want  []string
		avoid []string
	}{
		{"summary", sample, false, []string{
			"scanned 1 file, 9.1 kB in ",
			"nothing was judged: interrupted (SIGINT or SIGTERM) before any record was judged: 9.1 kB" + note,
		}, []string{"0 B"}},
		{"quiet", sample, true, []string{
			"graceguard: nothing was judged: interrupted (SIGINT or SIGTERM) before any record was judged: 9.1 kB" + note,
		}, nil},
		{"after a block", long, false, []string{
			"scanned 1 file, 1.2 MB in ",
			"138.2 kB" + note,
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close() // the scan's read, given up, ends at this EOF
			written := make(chan error, 1)
			go func() {
				_, err := w.Write(tt.data)
				written <- err
			}()
			ctx, cancel := context.WithCancelCause(context.Background())
			var out, errOut bytes.Buffer
			in := &readsWatched{r: r}
			cmd := newRootCmd(in, &out, &errOut)
			args := []string{"scan", "-"}
			if tt.quiet {
				args = []string{"scan", "-q", "-"}
			}
			cmd.SetArgs(args)
			done := make(chan int, 1)
			go func() { done <- exitCode(&errOut, signalled(ctx, cmd.ExecuteContext(ctx))) }()
			// The signal comes once the scan has taken everything written
			// and asked for more, with the writer still open. An empty
			// pipe alone is not enough: the read that emptied it may not
			// have returned yet (its thread descheduled on a loaded
			// machine), and what it read would not be counted.
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			testsync.WaitFor(t, "the scan asking for more after reading everything written", func() bool {
				return in.askedAfter.Load() == int64(len(tt.data))
			})
			cancel(interruptedError{syscall.SIGINT})
			code := <-done
			msg := errOut.String()
			if code != 130 {
				t.Errorf("exit %d, want 130", code)
			}
			for _, want := range tt.want {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr lacks %q:\n%s", want, msg)
				}
			}
			for _, avoid := range tt.avoid {
				if strings.Contains(msg, avoid) {
					t.Errorf("stderr has %q:\n%s", avoid, msg)
				}
			}
		})
	}
}
