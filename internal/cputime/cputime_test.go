package cputime

import (
	"runtime"
	"testing"
	"time"
)

// spun keeps the busy loop's work observable, so it is not optimised away.
var spun int

// Both clocks move forward while the thread works (where they can be read).
func TestClocksCountWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0 := Process()
	t0, ok := Thread()
	// 20 ms of work on this thread: well past getrusage's granularity.
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
		spun++
	}
	if p1 := Process(); runtime.GOOS != "windows" && runtime.GOOS != "plan9" && p1 <= p0 {
		t.Errorf("process CPU %v then %v: no work counted", p0, p1)
	}
	if t1, ok1 := Thread(); ok && ok1 && t1 <= t0 {
		t.Errorf("thread CPU %v then %v: no work counted", t0, t1)
	}
	if _, ok := Thread(); runtime.GOOS == "linux" && !ok {
		t.Error("the thread's clock cannot be read on linux")
	}
}
