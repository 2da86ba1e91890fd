//go:build !linux

package hugepage

import "errors"

// Advise does nothing: there are no transparent huge pages to ask for.
func Advise([]byte) {}

// Alloc fails: callers allocate on the Go heap instead.
func Alloc(int) ([]byte, func() error, error) {
	return nil, nil, errors.New("no transparent huge pages on this system")
}
