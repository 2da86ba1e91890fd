package pipeline

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// smapsEntry returns the VmFlags of the mapping holding addr, and whether
// one does, from /proc/self/smaps.
func smapsEntry(t *testing.T, addr uintptr) (flags string, mapped bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			mapped = mapped || in
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return line, true
		}
	}
	return "", mapped
}

// read()'s buffers for a large file are whole, apart, in a mapping advised
// for huge pages, and gone once freed.
func TestHugeBuffersAreHugePagesAndFreed(t *testing.T) {
	const n, size = 4, 1 << 20
	bufs, free := hugeBuffers(n, size)
	if bufs == nil {
		t.Skip("no anonymous mapping here")
	}
	if len(bufs) != n {
		t.Fatalf("%d buffers, want %d", len(bufs), n)
	}
	for i, b := range bufs {
		if len(b) != size || cap(b) != size {
			t.Fatalf("buffer %d: len %d cap %d, want %d", i, len(b), cap(b), size)
		}
		b[0], b[size-1] = byte(i), byte(i)
	}
	for i, b := range bufs {
		if b[0] != byte(i) || b[size-1] != byte(i) {
			t.Fatalf("buffer %d overlaps another", i)
		}
	}
	start := uintptr(unsafe.Pointer(&bufs[0][0]))
	if start%hugePageSize != 0 {
		t.Errorf("the first buffer at %#x, not on a huge page's boundary", start)
	}
	flags, _ := smapsEntry(t, start)
	if !strings.Contains(flags, " hg") {
		t.Errorf("the buffers' mapping is not advised for huge pages: %q", flags)
	}
	if err := free(); err != nil {
		t.Fatal(err)
	}
	if _, mapped := smapsEntry(t, start); mapped {
		t.Errorf("the buffers are still mapped after free")
	}
}

// The probe measures something: a first touch of a page is a fault.
func TestPageFaultCostIsMeasured(t *testing.T) {
	if c := pageFaultCost(); c <= 0 {
		t.Errorf("pageFaultCost %v, want a positive time", c)
	}
	t.Logf("a page fault here: %v; mapping pays: %v", pageFaultCost(), pageFaultCost() < cheapFault)
}
