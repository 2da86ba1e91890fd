package cputime

import (
	"time"

	"golang.org/x/sys/unix"
)

// Thread is the calling OS thread's CPU time so far, and whether it could
// be read: with the goroutine locked to its thread, what that goroutine
// alone spent. The thread's clock, not getrusage, which lags by up to a
// scheduler tick.
func Thread() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
