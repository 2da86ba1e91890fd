//go:build unix

package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A device (or a terminal) is refused at once: it may never end. A FIFO
// nobody writes to reads as empty at once: its open does not wait for a
// writer, who may never come.
func TestReadRefusesADeviceAndAFIFOWithNoWriterIsEmpty(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, want string
		is         error
	}{
		{fifo, fifo + ": file is empty", errEmpty},
		{os.DevNull, os.DevNull + ": not a regular file (a device)", errNotRegular},
	} {
		got, err := Read(tt.path)
		if err == nil || err.Error() != tt.want || !errors.Is(err, tt.is) || got != "" {
			t.Errorf("Read(%s) = %q, %v; want the error %q", tt.path, got, err, tt.want)
		}
	}
}
