package pipeline

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageSize is a PMD-mapped transparent huge page on amd64 and arm64
// with 4 KiB pages.
const hugePageSize = 2 << 20

// hugeBuffers carves n buffers of size bytes out of one anonymous mapping
// aligned to and advised for transparent huge pages, so filling them costs
// a fault per 2 MiB instead of one per 4 KiB page (on a machine whose page
// faults are slow, 1,024 faults a 4 MiB pool were ~10 ms of a scan). The
// buffers hold no Go pointers, so they may live off the Go heap; free
// unmaps them once nothing reads them. Nil when the mapping fails: the
// caller allocates them on the heap instead.
func hugeBuffers(n, size int) (bufs [][]byte, free func() error) {
	total := n * size
	raw, err := unix.Mmap(-1, 0, total+hugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (hugePageSize - 1))
	region := raw[off : off+total]
	// Where THP is off the advice does nothing; an error only loses it.
	_ = unix.Madvise(region, unix.MADV_HUGEPAGE)
	for i := range n {
		bufs = append(bufs, region[i*size:(i+1)*size:(i+1)*size])
	}
	return bufs, func() error { return unix.Munmap(raw) }
}
