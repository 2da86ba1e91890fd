package attribute

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the calling thread's CPU time so far: what a benchmark
// locked to its thread spent, whatever else shares the cores. The
// thread's clock, not getrusage, which lags by up to a scheduler tick.
func threadCPU() (time.Duration, bool) {
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
