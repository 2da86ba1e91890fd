package pipeline

import (
	"bytes"
	"encoding/gob"
	"os"
	"path/filepath"
	"testing"
)

// A checkpoint is read back from the state directory at every start: a
// damaged one (a disk's fault, a hand's, another version's) is an error
// that makes the start fall back to the one before, never a crash.
func FuzzReadCheckpoint(f *testing.F) {
	for _, cp := range []checkpoint{{Version: checkpointVersion}, {Version: checkpointVersion, Users: 2}, {Version: checkpointVersion, Users: -1}} {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(cp); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "checkpoint.gob")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := readCheckpoint(path)
		if err == nil && len(l.users) != l.cp.Users {
			t.Fatalf("read %d users of %d and no error", len(l.users), l.cp.Users)
		}
	})
}
