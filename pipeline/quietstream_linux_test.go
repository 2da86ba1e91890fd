package pipeline

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"golang.org/x/sys/unix"
)

// A stream whose writer sends a little and then nothing, without closing
// it (kubectl logs -f gone quiet): the scan waits for more, and a
// cancelled context (SIGTERM, Ctrl-C) ends it at once. Reading the head
// that tells the format waited for the writer, whatever the context said.
func TestScanOfAQuietStreamEndsWhenCancelled(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // never closed before the scan returns: the writer goes quiet
	defer r.Close()
	if _, err := w.WriteString(refreshLine("10:00:00,000", "203.0.113.1", "fa")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Scan(ctx, []Input{{Name: "-", R: r}}, ScanOptions{Rules: rules.Builtin(), Deliver: (&collected{}).deliver})
		done <- err
	}()
	// Cancelled once the scan has read what was written and waits for more.
	fd := int(r.Fd())
	testsync.WaitFor(t, "the scan to read the pipe", func() bool {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		return err == nil && n == 0
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the scan of a quiet stream did not end when its context was cancelled")
	}
}
