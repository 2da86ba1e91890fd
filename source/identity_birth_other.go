//go:build !linux

package source

import (
	"os"
	"time"
)

// bornAt is unknown here: copies are told by the positions found in them
// alone (copiedFrom).
func bornAt(string) (time.Time, bool) { return time.Time{}, false }

// bornOf is unknown here: a file the checkpoint does not name is taken for
// one made before it (madeSinceCheckpoint).
func bornOf(*os.File) (time.Time, bool) { return time.Time{}, false }
