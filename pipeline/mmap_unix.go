//go:build unix

package pipeline

import (
	"os"
	"syscall"
)

// mapFile maps a regular file read-only. release drops consumed pages from
// the process so a mapping of any size keeps resident memory to the blocks
// in flight; unmap ends the mapping.
func mapFile(f *os.File, size int64) (data []byte, release func(off, n int), unmap func(), err error) {
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, nil, err
	}
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL)
	page := os.Getpagesize()
	release = func(off, n int) {
		// Only whole pages inside the block: its edges may be shared with
		// the blocks beside it.
		start := (off + page - 1) / page * page
		end := (off + n) / page * page
		if end > start {
			_ = syscall.Madvise(data[start:end], syscall.MADV_DONTNEED)
		}
	}
	return data, release, func() { _ = syscall.Munmap(data) }, nil
}
