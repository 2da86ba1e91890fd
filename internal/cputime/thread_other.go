//go:build !linux

package cputime

import "time"

// Thread is unknown here.
func Thread() (time.Duration, bool) { return 0, false }
