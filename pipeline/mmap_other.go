//go:build !unix

package pipeline

import (
	"errors"
	"os"
	"time"
)

// fileMap is never made here: scan reads the file with read().
type fileMap struct {
	data []byte
}

func mapFile(*os.File, int64) (*fileMap, error) {
	return nil, errors.New("no mmap on this platform")
}

func (m *fileMap) dropBefore(int) {}

func (m *fileMap) unmap() error { return nil }

// pageFaultCost is not measured here: nothing is mapped.
func pageFaultCost() time.Duration { return 0 }
