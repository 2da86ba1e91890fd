package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// scanMemoryLimit is the Go memory a scan fills before it collects garbage.
// The process's peak RSS is this plus code and runtime pages (~15 MB): under
// the 64 MB the README promises, whatever the log's size. At 32 MB, a 100 MB
// scan collected once or twice since the lifecycle's bookkeeping grew the
// live heap (~14 MB after a cycle), each cycle 10-25 ms of CPU; at 40 MB
// it collects none, and its peak RSS stays ~42 MB.
const scanMemoryLimit = 40 << 20

// batchGC sets the garbage collector up for a scan and returns what puts it
// back. A scan's live heap is small (block buffers and the history: ~8 MB
// for hundreds of users) and its garbage short-lived (~10 MB of records per
// 100 MB of log). Collecting whenever the heap doubles ran three or four
// cycles in a 100 MB scan, two of them during start-up, and cost ~5 ms of a
// ~55 ms run (10% of its wall time): the mark workers take a core of two,
// and write barriers and assists slow the rest. So the collector waits for
// scanMemoryLimit instead (GOGC off, a memory limit), which a 100 MB scan
// never reaches. A history of tens of thousands of users could make the live
// heap approach the limit, where the collector would run nearly all the
// time: after any cycle that finds more than half the limit live, the usual
// pacing (GOGC=100, no limit) comes back. GOGC or GOMEMLIMIT set in the
// environment are left alone.
//
// input is the size of the logs to scan (0 when unknown, as for stdin):
// the heap they will fill is backed by huge pages (hugeHeapFor).
func batchGC(input int64) (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(-1)
	// Before the limit is set, so that growing the heap starts no cycle of
	// its own; the one that frees it is cheap with the heap this small.
	adviseHugeHeap(hugeHeapFor(input))
	limit := debug.SetMemoryLimit(scanMemoryLimit)
	var done atomic.Bool
	back := func() {
		if done.CompareAndSwap(false, true) {
			debug.SetGCPercent(percent)
			debug.SetMemoryLimit(limit)
		}
	}
	watchGC(func() bool {
		if done.Load() {
			return false
		}
		if liveHeap() > scanMemoryLimit/2 {
			back()
			return false
		}
		return true
	})
	return back
}

// hugeHeapFor is how much heap a scan of input bytes is expected to fill:
// ~a fifth of the log (a 100 MB scan grows the heap by ~18 MB), up to what
// fits under scanMemoryLimit with the runtime's own. Below a few MB of log
// it is nothing: a huge page is zeroed whole when first touched (~0.1 ms),
// more than the faults it spares a small scan.
func hugeHeapFor(input int64) int {
	const maxHeap = scanMemoryLimit * 3 / 4
	if input < 16<<20 {
		return 0
	}
	return int(min(input/5, maxHeap))
}

// watchGC calls after once after each garbage collection cycle, for as
// long as it returns true: a cleanup on an object dropped at once runs
// after the cycle that finds it unreachable.
func watchGC(after func() bool) {
	type tick struct{ _ [32]byte } // large enough not to share a tiny block
	var arm func()
	arm = func() {
		runtime.AddCleanup(new(tick), func(struct{}) {
			if after() {
				arm()
			}
		}, struct{}{})
	}
	arm()
}

// liveHeap is the heap in use just after a collection, read from the
// cycle's cleanup: what the cycle found live and the little allocated since
// it ended. It is read with runtime.ReadMemStats, not runtime/metrics, whose
// tables cost every start of every command ~0.4 ms of initialisation.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
