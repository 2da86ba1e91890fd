//go:build linux

package smaps

import (
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// A mapping made here is found with its range, its advice and its
// resident size.
func TestAtFindsAMappingAndItsAdvice(t *testing.T) {
	const size = 8 << 20
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	if err := syscall.Madvise(mem, 15); err != nil { // MADV_NOHUGEPAGE
		t.Fatal(err)
	}
	for i := 0; i < 1<<20; i += os.Getpagesize() {
		mem[i] = 1
	}
	addr := uintptr(unsafe.Pointer(&mem[0]))
	m, ok, err := At(addr + 4096)
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	if !ok {
		t.Fatalf("no mapping holds %#x", addr)
	}
	if m.Lo > addr || m.Hi < addr+size {
		t.Errorf("mapping %#x-%#x, want it to hold %#x-%#x", m.Lo, m.Hi, addr, addr+size)
	}
	if !m.Has("nh") || m.Has("hg") {
		t.Errorf("VmFlags %v, want nh (MADV_NOHUGEPAGE) and no hg", m.Flags)
	}
	if m.RssKB < 1024 || m.AnonHugePagesKB != 0 {
		t.Errorf("Rss %d kB, AnonHugePages %d kB; want at least the 1024 kB touched, none huge", m.RssKB, m.AnonHugePagesKB)
	}
	if h := Holding(t, addr); h.Lo != m.Lo || h.Hi != m.Hi {
		t.Errorf("Holding gives %#x-%#x, At %#x-%#x", h.Lo, h.Hi, m.Lo, m.Hi)
	}
	if _, ok, _ := At(0); ok {
		t.Error("a mapping holds address 0")
	}
}
