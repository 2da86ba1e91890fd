//go:build linux

package main

import (
	"runtime"

	// Its initialiser advises the heap's first pages, before this
	// package's code runs (see its doc).
	_ "github.com/graceguard/graceguard/internal/earlyheap"
	"github.com/graceguard/graceguard/internal/hugepage"
)

// A scan's garbage is never collected (batchGC), so every page of heap it
// allocates is fresh from the kernel: ~3,000 page faults per 100 MB of log
// (the records' copies, the history), each a trap, a zeroed page, a memory
// cgroup charge and an LRU insertion. A transparent huge page is one fault
// for 512 of them. The Go runtime asks for none, and THP is left to
// madvise on most systems, so scan advises the part of the heap it is
// about to fill.

// adviseHugeHeap backs the next size bytes the Go heap grows by with
// transparent huge pages. The runtime maps heap a few MiB at a time as it
// grows, and a mapping made later would not carry the advice, so the heap
// is grown by size at once, by one allocation, advised, and freed by a
// collection (cheap at start-up: the live heap is small): the allocator
// hands those pages out next, lowest address first. Nothing is touched, so
// a page costs only once it is used. Where THP is off the advice does
// nothing; an error only loses it.
func adviseHugeHeap(size int) {
	if size < hugepage.Size || hugepage.Disabled() {
		return
	}
	b := make([]byte, size)
	hugepage.Advise(b)
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
}
