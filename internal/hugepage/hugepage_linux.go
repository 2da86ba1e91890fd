package hugepage

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Advise asks that the 2 MiB-aligned stretches wholly inside b be backed
// by huge pages; the rest of b, and all of it where THP is off, stays in
// small pages. An error only loses the advice; Disabled, it does nothing.
func Advise(b []byte) {
	if Disabled() {
		return
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (Size - 1))
	if end := off + (len(b)-off)&^(Size-1); off < end {
		_ = unix.Madvise(b[off:end], unix.MADV_HUGEPAGE)
	}
}

// Alloc maps n bytes of zeroed memory outside the Go heap, starting on a
// huge page's boundary and advised for huge pages, and returns the func
// that unmaps it. The memory must hold no Go pointers (the collector does
// not see it), and nothing may touch it once it is freed.
func Alloc(n int) (mem []byte, free func() error, err error) {
	// A huge page more than asked for, so that an aligned start fits.
	raw, err := unix.Mmap(-1, 0, n+Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("map %d bytes: %w", n, err)
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (Size - 1))
	mem = raw[off : off+n : off+n]
	Advise(mem)
	return mem, func() error {
		if err := unix.Munmap(raw); err != nil {
			return fmt.Errorf("unmap %d bytes: %w", n, err)
		}
		return nil
	}, nil
}
