package durable

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRecentIDs(t *testing.T) {
	s := NewRecentIDs(3)
	for _, id := range []string{"a", "b", "a", "c", "d"} {
		s.Add(id)
	}
	if s.Has("a") || !s.Has("b") || !s.Has("d") {
		t.Errorf("the oldest must go first: a %v b %v d %v", s.Has("a"), s.Has("b"), s.Has("d"))
	}
	if got := s.List(); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("List = %v", got)
	}
	if big := NewRecentIDs(100_000); cap(big.ring) != 0 {
		t.Errorf("an empty set holds %d slots: a cap must cost nothing until ids come", cap(big.ring))
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, 0o640, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }); err != nil {
		t.Fatal(err)
	}
	failed := WriteFile(path, 0o640, func(w io.Writer) error { io.WriteString(w, "half"); return errors.New("disk full") })
	data, _ := os.ReadFile(path)
	if failed == nil || string(data) != "one" {
		t.Errorf("a failed write must leave the old file whole: %q, %v", data, failed)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// What a kill -9 in the middle of WriteFile leaves is removed; other files
// that only look alike are not.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.gob")
	files := map[string]bool{ // name: removed
		"checkpoint.gob":                  false,
		"checkpoint.gob.prev":             false,
		"checkpoint.gob.tmp123456789":     true,
		"checkpoint.gob.tmp42":            true,
		"checkpoint.gob.tmp":              false,
		"checkpoint.gob.tmp12.bak":        false,
		"delivery.ledger.tmp123":          false,
		"other.checkpoint.gob.tmp1234567": false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if n := RemoveTemps(path); n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: gone %v, want %v", name, gone, removed)
		}
	}
}
