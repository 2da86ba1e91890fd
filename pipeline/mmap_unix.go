//go:build unix

package pipeline

import (
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// fileMap is a read-only shared mapping of a file's first len(data) bytes.
type fileMap struct {
	data    []byte
	dropped int // the pages before it are no longer mapped (dropBefore)
}

// mapFile maps the first size bytes of f. The mapping shares the page
// cache's pages, so nothing is copied; the kernel maps them a window at a
// time as the workers fault on them.
func mapFile(f *os.File, size int64) (*fileMap, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", f.Name(), err)
	}
	// The workers read the file front to back, two places at a time:
	// read-ahead helps a file not yet in the cache; an error only loses it.
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	return &fileMap{data: data}, nil
}

// dropBefore unmaps the pages wholly before off from the process, so that a
// scan's resident set stays the blocks in flight, not the file. The pages
// stay in the page cache. It is called in block order, once the block at
// off is parsed: a worker's first touch of a block maps the pages around
// it (the kernel's fault-around, a window of 64 KiB by default), the tail
// of the block before too, so dropping a block as soon as its own worker
// was done left that tail resident for good (12 MB of a 100 MB file).
func (m *fileMap) dropBefore(off int) {
	hi := off &^ (os.Getpagesize() - 1)
	if m.dropped < hi {
		_ = unix.Madvise(m.data[m.dropped:hi], unix.MADV_DONTNEED)
		m.dropped = hi
	}
}

func (m *fileMap) unmap() error { return unix.Munmap(m.data) }

// pageFaultCost is what the first touch of one fresh page of anonymous
// memory takes here: the median of 16, so that a preemption during one
// touch does not decide. It stands in for what a mapping of a file costs a
// page, which a probe could not time without a file in the page cache. The
// pages are 64 KiB apart, so that where the kernel fills anonymous memory
// in larger folios (multi-size THP, up to 64 KiB) each touch is still a
// fault of its own. ~10 us where the hypervisor shadows the guest's page
// tables, typically well under 1 us elsewhere. A failed mapping reads as
// free: the file's mapping is then tried, as before the probe.
func pageFaultCost() time.Duration {
	const touches, stride = 16, 64 << 10
	mem, err := unix.Mmap(-1, 0, touches*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0
	}
	defer unix.Munmap(mem)
	var took [touches]time.Duration
	for i := range touches {
		t0 := time.Now()
		mem[i*stride] = 1
		took[i] = time.Since(t0)
	}
	slices.Sort(took[:])
	return took[touches/2]
}
