package pipeline

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A plain log in a regular file can be scanned through a read-only
// mapping of it instead of read(): read() copies every byte out of the page
// cache into pooled buffers, the mapping shares the cache's pages. Which is
// cheaper depends on the machine (below). The mapping lives in
// pipeline, not source, because it is scan's way of reading a file once;
// source follows files and never hands out their bytes in place.
//
// A file truncated while mapped raises SIGBUS at the first touch of a page
// past its new end. Every goroutine that touches the mapping runs with
// debug.SetPanicOnFault, so that fault is a panic it recovers into a read
// error naming the file, and the scan ends like one whose read() failed.

// Whether the mapping or read() is cheaper depends on the machine, not
// the file. A mapping costs per page: each 4 KiB page of the file gets a
// page-table entry, filled at a fault (the kernel's fault-around maps up
// to 16 at a time) and torn down again (dropBefore). read() costs per
// byte: a copy into buffers that stay cached. On the VM of the earlier
// rounds the mapping won: 1.41x grep against read()'s 1.67-1.88x, 91
// against 105-122 ms of CPU. On a guest whose page tables the hypervisor
// shadows (this project's VM since December 2026: each first touch of a
// 4 KiB page ~10 us) read() wins by far: touching a 100 MB log through a
// mapping took 30-44 ms there, reading it 9-12 ms, and a whole scan 92
// against 60 ms (README, Performance). So a scan times a page fault once
// (pageFaultCost) and maps only where faults are cheap.

// cheapFault is the page fault below which a mapping beats read(). This
// VM's take 8.6-10 us (read() better by a third); bare metal's and those
// of guests with hardware-assisted paging typically well under 1 us. 2 us
// sits between, with room for a probe slowed by other work.
const cheapFault = 2 * time.Microsecond

// mappingPays reports whether a mapping is the cheaper way to read a file
// on this machine; measured once a process.
var mappingPays = sync.OnceValue(func() bool { return faultIsCheap(pageFaultCost()) })

// faultIsCheap says whether a page fault that takes d leaves a mapping
// cheaper than read().
func faultIsCheap(d time.Duration) bool { return d < cheapFault }

// fileReading is how openSource reads a regular file.
type fileReading uint8

const (
	readingAuto   fileReading = iota // mapped where mappingPays
	readingMapped                    // mapped (tests)
	readingRead                      // read() (tests)
)

func (r fileReading) maps() bool {
	switch r {
	case readingMapped:
		return true
	case readingRead:
		return false
	}
	return mappingPays()
}

// errShrank is the read error of a mapped file whose pages could not be
// read: it shrank under the scan (truncated or rewritten), or, rarely, its
// storage failed (an NFS server gone), which also faults.
var errShrank = errors.New("the file shrank while it was scanned (truncated or rewritten under the scan), or its storage failed")

// mappable returns r's file and its size when r is a regular file read
// from its first byte, the only kind a mapping reads the same as read().
func mappable(r io.Reader) (*os.File, int64, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return nil, 0, false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= 0 || int64(int(st.Size())) != st.Size() {
		return nil, 0, false
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return nil, 0, false
	}
	return f, st.Size(), true
}

// mapBlocks starts a blockSource over the mapping m, which finish unmaps
// once every goroutine touching it has ended. Blocks are cut exactly where
// read would cut them from a reader of the same bytes, so the records, the
// counts and the events are the same; only the copy is gone.
func mapBlocks(ctx context.Context, counts readerCounts, m *fileMap, loc *time.Location, size int, progress *atomic.Int64, lines bool) *blockSource {
	s, ctx, work := newBlockSource(ctx, counts, loc, progress)
	s.lines = lines
	s.release = func(*blockJob) {}
	// The events own their bytes: the pages of the blocks before the one
	// read now can go.
	s.taken = func(j *blockJob) { m.dropBefore(int(j.base)) }
	s.unmap = m.unmap
	s.running.Add(1)
	go s.cut(ctx, m.data, work, size, 2*size)
	return s
}

// cut hands the workers slices of data, each ending after its last whole
// record (see read for the rule); it touches only the bytes around each cut.
func (s *blockSource) cut(ctx context.Context, data []byte, work chan<- *blockJob, size, maxSize int) {
	defer s.running.Done()
	defer close(s.ordered)
	defer close(work)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if err := faultError(recover()); err != nil {
			s.readErr = err
		}
	}()
	maxSize = max(maxSize, minMaxSize)
	for base := 0; base < len(data); {
		end := min(base+size, len(data))
		long := false // the block holds one record, longer than maxSize
		if end < len(data) && end-base < maxSize && s.noBoundary(data[base:end]) {
			end = min(base+maxSize, len(data))
			long = end < len(data) && s.noBoundary(data[base:end])
		}
		job := &blockJob{base: int64(base)}
		next := end
		switch {
		case long:
			// Cut at MaxRecord in this block: the rest of the record is
			// read past, as read does (skipCut).
			keep, rest := parser.CutLong(data[base:end], s.lines)
			end = base + keep
			k, _ := rest.Skip(data[end:], true)
			job.past, job.pastBytes = rest.Stats, int64(k)
			next = end + k
		case end < len(data):
			end = base + cutPoint(data[base:end], s.lines)
			next = end
		}
		job.data = data[base:end:end]
		if !s.submit(ctx, work, job) {
			return
		}
		// Counted as read() counts what it has read: a scan that ends
		// early does not claim the rest of the file.
		s.readBytes.Add(int64(next - base))
		base = next
	}
}

// faultError turns what a goroutine touching a mapping recovered into its
// read error: nil for nothing, errShrank for a memory fault (SIGBUS past
// the file's end); any other panic goes on.
func faultError(v any) error {
	if v == nil {
		return nil
	}
	if re, ok := v.(runtime.Error); ok {
		if _, fault := re.(interface{ Addr() uintptr }); fault {
			// Not re's text: the runtime calls every fault a nil
			// pointer dereference, which would send a user looking for
			// a bug instead of at the file.
			return errShrank
		}
	}
	panic(v)
}
