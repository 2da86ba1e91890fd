//go:build !unix

package pipeline

import (
	"errors"
	"os"
)

func mapFile(*os.File, int64) ([]byte, func(off, n int), func(), error) {
	return nil, nil, nil, errors.New("memory mapping is not supported here")
}
