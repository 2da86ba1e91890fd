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
