//go:build !unix

package pipeline

import (
	"errors"
	"os"
)

// mapFile is not available here: scan reads the file with read().
func mapFile(*os.File, int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("no mmap on this platform")
}
