//go:build unix

package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO is refused at once, whether or not anyone writes to it: opening
// one for reading waits for a writer, forever if none comes. So is a
// device, which may never end.
func TestReadRefusesFIFOAndDevice(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + ": not a regular file (a named pipe)"},
		{os.DevNull, os.DevNull + ": not a regular file (a device)"},
	} {
		got, err := Read(tt.path)
		if err == nil || err.Error() != tt.want || !errors.Is(err, errNotRegular) || got != "" {
			t.Errorf("Read(%s) = %q, %v; want the error %q", tt.path, got, err, tt.want)
		}
	}

	// With a writer holding it open and the secret written, the content
	// is still refused and not shown.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(secret + "\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(fifo); !errors.Is(err, errNotRegular) || strings.Contains(err.Error(), secret) {
		t.Errorf("Read of a FIFO being written: %v", err)
	}
}
