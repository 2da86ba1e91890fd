package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The summary looks at the first bytes of an input in which nothing was
// found, to name a compressed one. An input that is a named pipe (scan
// <fifo, or a writer already gone) was opened again to look: the open
// waits for a writer that never comes, and the scan, done, never exited.
// With a writer held open and nothing written, the read waited likewise.
func TestCompressedLooksAtRegularFilesOnly(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "openunison.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no named pipes here:", err)
	}
	if kind, cat := compressed(fifo); kind != "" || cat != "" {
		t.Errorf("a named pipe read as %s (%s)", kind, cat)
	}
	gz := filepath.Join(t.TempDir(), "openunison.log.1.gz")
	if err := os.WriteFile(gz, []byte("\x1f\x8b\x08\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	if kind, _ := compressed(gz); kind != "gzip" {
		t.Errorf("a gzip file read as %q", kind)
	}
}
