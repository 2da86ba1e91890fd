package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

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
			"138.1 kB" + note,
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
			cmd := newRootCmd(r, &out, &errOut)
			args := []string{"scan", "-"}
			if tt.quiet {
				args = []string{"scan", "-q", "-"}
			}
			cmd.SetArgs(args)
			done := make(chan int, 1)
			go func() { done <- exitCode(&errOut, signalled(ctx, cmd.ExecuteContext(ctx))) }()
			// The signal comes once the scan has read everything written
			// (the pipe holds nothing more), with the writer still open.
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; {
				n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: bytes waiting in the pipe
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the scan has not read the pipe: %d bytes wait", n)
				}
				time.Sleep(time.Millisecond)
			}
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
