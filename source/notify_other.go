//go:build !linux

package source

import "errors"

// newNotifier has no events to offer outside Linux: files are polled.
func newNotifier() (notifier, error) {
	return nil, errors.New("file events are read on Linux only")
}
