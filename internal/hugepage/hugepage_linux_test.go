package hugepage

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags line of the mapping holding addr, and
// whether any mapping holds it, from /proc/self/smaps.
func vmFlags(t *testing.T, addr uintptr) (flags string, mapped bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("smaps: %v", err)
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
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return "", mapped
}

func TestAllocIsAlignedAdvisedZeroedAndFreed(t *testing.T) {
	const n = 3 << 20 // not a multiple of Size: the tail stays in small pages
	mem, free, err := Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != n || cap(mem) != n {
		t.Fatalf("len %d cap %d, want %d", len(mem), cap(mem), n)
	}
	start := uintptr(unsafe.Pointer(&mem[0]))
	if start%Size != 0 {
		t.Errorf("starts at %#x, not on a huge page's boundary", start)
	}
	for i := 0; i < n; i += 4096 {
		if mem[i] != 0 {
			t.Fatalf("byte %d is %d, want zeroed memory", i, mem[i])
		}
		mem[i] = 1
	}
	if flags, _ := vmFlags(t, start); !strings.Contains(flags, " hg") {
		t.Errorf("not advised for huge pages: %q", flags)
	}
	if err := free(); err != nil {
		t.Fatal(err)
	}
	if _, mapped := vmFlags(t, start); mapped {
		t.Errorf("still mapped once freed")
	}
}

// Advise marks the huge pages inside a slice of the Go heap, and leaves
// the pages around them alone.
func TestAdviseMarksOnlyWholeHugePages(t *testing.T) {
	b := make([]byte, 3*Size)
	start := uintptr(unsafe.Pointer(&b[0]))
	inside := (start + Size - 1) &^ (Size - 1)
	Advise(b)
	if flags, _ := vmFlags(t, inside); !strings.Contains(flags, " hg") {
		t.Errorf("the huge page at %#x is not advised: %q", inside, flags)
	}
	if start != inside {
		if flags, _ := vmFlags(t, start); strings.Contains(flags, " hg") {
			t.Errorf("the part before the first whole huge page is advised: %q", flags)
		}
	}
}
