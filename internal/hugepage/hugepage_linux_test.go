package hugepage

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"unsafe"

	"github.com/graceguard/graceguard/internal/smaps"
)

// mappingAt returns the mapping holding addr, and whether one does.
func mappingAt(t *testing.T, addr uintptr) (smaps.Mapping, bool) {
	t.Helper()
	m, ok, err := smaps.At(addr)
	if err != nil {
		t.Fatalf("smaps: %v", err)
	}
	return m, ok
}

// same says whether a and b are one mapping, with the same flags.
func same(a, b smaps.Mapping) bool {
	return a.Lo == b.Lo && a.Hi == b.Hi && slices.Equal(a.Flags, b.Flags)
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
	before, _ := mappingAt(t, start)
	if !before.Has("hg") {
		t.Errorf("not advised for huge pages: %v", before.Flags)
	}
	if err := free(); err != nil {
		t.Fatal(err)
	}
	// The runtime (the race detector's, say) may map something of its own
	// there next, but not the same advised mapping.
	if after, ok := mappingAt(t, start); ok && same(after, before) {
		t.Errorf("still mapped once freed: %x-%x %v", after.Lo, after.Hi, after.Flags)
	}
}

// Advise marks the huge pages inside a slice of the Go heap, and leaves
// the pages around them alone.
func TestAdviseMarksOnlyWholeHugePages(t *testing.T) {
	b := make([]byte, 3*Size)
	start := uintptr(unsafe.Pointer(&b[0]))
	inside := (start + Size - 1) &^ (Size - 1)
	Advise(b)
	if m, _ := mappingAt(t, inside); !m.Has("hg") {
		t.Errorf("the huge page at %#x is not advised: %v", inside, m.Flags)
	}
	if start != inside {
		if m, _ := mappingAt(t, start); m.Has("hg") {
			t.Errorf("the part before the first whole huge page is advised: %v", m.Flags)
		}
	}
}

// GODEBUG=disablethp=1 leaves memory Advise is given in small pages. In a
// fresh process: Disabled reads the environment once.
func TestAdviseHonoursDisableTHP(t *testing.T) {
	if os.Getenv("HUGEPAGE_TEST_CHILD") == "disablethp" {
		if !Disabled() {
			t.Fatalf("Disabled() = false with GODEBUG=%q", os.Getenv("GODEBUG"))
		}
		mem, free, err := Alloc(2 * Size)
		if err != nil {
			t.Fatal(err)
		}
		defer free()
		if m, _ := mappingAt(t, uintptr(unsafe.Pointer(&mem[0]))); m.Has("hg") {
			t.Errorf("advised for huge pages with disablethp=1: %v", m.Flags)
		}
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdviseHonoursDisableTHP$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HUGEPAGE_TEST_CHILD=disablethp", "GODEBUG=disablethp=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("in a fresh process: %v\n%s", err, out)
	}
}
