package source

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A checkpoint's positions are read back at start from a file a disk or a
// person may have damaged: whatever a file's saved position says, the
// follower neither panics nor hands on bytes that are not the file's at
// the offsets it gives them.
func FuzzRestoredPosition(f *testing.F) {
	f.Add(int64(4), int64(8), false, "")
	f.Add(int64(8), int64(8), false, "")
	f.Add(int64(100), int64(0), false, "")
	f.Add(int64(0), int64(3), true, "")
	f.Add(int64(4), int64(8), false, "2026-11-23T10:00:00Z#1")
	data := []byte("one\ntwo\nthree\n")
	f.Fuzz(func(t *testing.T, offset, size int64, unread bool, cursor string) {
		path := filepath.Join(t.TempDir(), "a.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		id, err := identify(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		pos := Position{Path: path, ID: id, Offset: offset, Size: size, Unread: unread, Cursor: cursor}
		run(t, path, []Position{pos}, func(b Batch) bool {
			if b.Offset < 0 || b.Offset+int64(len(b.Data)) > int64(len(data)) ||
				!bytes.Equal(b.Data, data[b.Offset:b.Offset+int64(len(b.Data))]) {
				t.Fatalf("restored at %+v, handed on %q at offset %d", pos, b.Data, b.Offset)
			}
			return len(b.Data) > 0 || b.Idle
		})
	})
}
