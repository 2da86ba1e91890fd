// Package durable holds the two pieces of crash safety that the watcher's
// checkpoint and the sinks' journal share: replacing a file so that a crash
// leaves the old one or the new one, whole, and remembering the most recent
// ids of things already done so a restart does not do them twice. It knows
// nothing of alerts or logs.
package durable

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile replaces path by writing a temporary file beside it, syncing
// it, renaming it over path and syncing the directory.
func WriteFile(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveTemps removes the temporary files WriteFile left beside path when
// its process died mid-write (kill -9, a crash, a power cut): each is as
// large as the file it was to replace, and a restart loop would otherwise
// fill the directory with them. It returns how many it removed. Call it
// before the first WriteFile of path: a temporary file is only ever in use
// by the one writer of path.
func RemoveTemps(path string) int {
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base+".tmp")
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}

// RecentIDs remembers the most recent ids up to a cap, the oldest forgotten
// first: enough to cover what a restart could do again.
type RecentIDs struct {
	ids  map[string]struct{}
	ring []string
	max  int
	next int
}

// NewRecentIDs returns an empty set holding at most capacity ids. The ring
// grows as ids come rather than up front: most runs send few alerts, and the
// watcher's 100,000 empty slots alone kept 1.6 MB resident for ever.
func NewRecentIDs(capacity int) *RecentIDs {
	return &RecentIDs{ids: map[string]struct{}{}, max: max(capacity, 1)}
}

// Has reports whether id is remembered.
func (s *RecentIDs) Has(id string) bool {
	_, ok := s.ids[id]
	return ok
}

// Add remembers id, forgetting the oldest when full.
func (s *RecentIDs) Add(id string) {
	if s.Has(id) {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, id)
	} else {
		delete(s.ids, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % len(s.ring)
	}
	s.ids[id] = struct{}{}
}

// Cap is the most ids remembered.
func (s *RecentIDs) Cap() int { return s.max }

// List returns the ids, oldest first.
func (s *RecentIDs) List() []string {
	out := make([]string, 0, len(s.ring))
	out = append(out, s.ring[s.next:]...)
	return append(out, s.ring[:s.next]...)
}
