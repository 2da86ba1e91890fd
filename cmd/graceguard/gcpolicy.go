package main

import (
	"cmp"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// watchMemoryLimit is the soft limit a long-running watch keeps its memory
// to (GOMEMLIMIT overrides it): the history is capped, and near the limit
// the collector returns garbage sooner rather than let a flood of new
// users double the resident size.
const watchMemoryLimit = 96 << 20

// watchGCPolicy sets the collector up for a watch and returns what puts
// it back. The limit is watchMemoryLimit while the live heap is well under
// it, and otherwise an eighth over what the last cycle found live (with the
// runtime's memory beside the heap). At a fixed limit the collector has
// the less to wait for the nearer the live heap comes: the 1,000,000-user
// flood, its live heap at 85 of 96 MB, ran ~600 cycles in 13 s (24-29 s of
// CPU; 115 cycles and 6 s with this policy), and a history of 100,000
// users with many addresses each can be larger than the limit. An eighth,
// not more: the flood's live heap, 76 MB now, stays under the fixed limit,
// which holds its peak RSS (a quarter let it pass 140 MB). GOMEMLIMIT in
// the environment is left alone.
func watchGCPolicy() (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	before := debug.SetMemoryLimit(watchMemoryLimit)
	ceiling := memoryCeiling(cgroupRoot, selfCgroup)
	// mu orders a cycle's new limit and restore: set after restore, it
	// would outlive the watch.
	var mu sync.Mutex
	done := false
	watchGC(func() bool {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		defer mu.Unlock()
		if done {
			return false
		}
		// Beside the live heap, as the runtime's limit counts it, is all
		// it holds mapped but the heap's free pages and objects: the free
		// slots of in-use spans (HeapInuse-HeapAlloc) too, which leaving
		// out took them from the heap goal's eighth.
		debug.SetMemoryLimit(watchLimitFor(ms.HeapAlloc, ms.Sys-ms.HeapIdle-ms.HeapAlloc, ceiling))
		return true
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			done = true
			debug.SetMemoryLimit(before)
		}
	}
}

// watchLimitFor is the memory limit after a cycle that left live bytes of
// heap, with beside the runtime's other memory counted against the limit
// (stacks, the collector's own, the free slots of in-use spans). It is
// raised no further than ceiling (0: none): in a container a limit past
// the container's own lets the heap grow until the kernel kills the
// process, and a restart from the checkpoint brings the same history back;
// collecting often is the lesser harm.
func watchLimitFor(live, beside uint64, ceiling int64) int64 {
	raised := int64(beside + live + live/8)
	if ceiling > 0 {
		raised = min(raised, ceiling)
	}
	return max(watchMemoryLimit, raised)
}

// cgroupRoot is where the cgroup filesystems are mounted, and selfCgroup
// names the process's cgroups under it; tests set others.
var cgroupRoot, selfCgroup = "/sys/fs/cgroup", "/proc/self/cgroup"

// memoryCeiling is nine tenths of the least memory limit set on the
// process's cgroup or a parent of it that root shows (cgroup v2's
// memory.max, else v1's memory.limit_in_bytes), the rest left to what is
// not the Go runtime's (the binary's pages, the kernel's buffers the
// process is charged); 0 where none is set or none can be read. The
// cgroup is self's (/proc/self/cgroup): "/" in a container with a cgroup
// namespace of its own, a path from the host's root without one, and a
// limit set only on the pod is a parent's.
func memoryCeiling(root, self string) int64 {
	own, err := os.ReadFile(self)
	if err != nil {
		own = []byte("0::/\n")
	}
	v2, v1 := "/", ""
	for line := range strings.Lines(string(own)) {
		id, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		controllers, path, _ := strings.Cut(rest, ":")
		switch {
		case id == "0" && controllers == "":
			v2 = path
		case slices.Contains(strings.Split(controllers, ","), "memory"):
			v1 = path
		}
	}
	if least := leastLimit(root, v2, "memory.max"); least > 0 {
		return least / 10 * 9
	}
	if least := leastLimit(filepath.Join(root, "memory"), cmp.Or(v1, "/"), "memory.limit_in_bytes"); least > 0 {
		return least / 10 * 9
	}
	return 0
}

// leastLimit is the least limit the file name holds in the cgroup at path
// under root or in a parent of it, or 0.
func leastLimit(root, path, name string) int64 {
	least := int64(0)
	for dir := filepath.Join(root, filepath.Clean("/"+path)); ; dir = filepath.Dir(dir) {
		if n := readLimit(filepath.Join(dir, name)); n > 0 && (least == 0 || n < least) {
			least = n
		}
		if dir == root || !strings.HasPrefix(dir, root) {
			return least
		}
	}
}

// readLimit reads a cgroup memory limit, 0 when there is none ("max" in
// v2, a page-rounded MaxInt64 in v1) or it cannot be read.
func readLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0
	}
	return n
}
