//go:build linux && (amd64 || arm64)

package earlyheap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// mapping is the mapping of /proc/self/smaps that holds an address.
type mapping struct {
	lo, hi uintptr
	flags  []string // its VmFlags
}

func mappingAt(t *testing.T, addr uintptr) mapping {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var m mapping
	inside := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			if inside = lo <= addr && addr < hi; inside {
				m = mapping{lo: lo, hi: hi}
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && inside {
			m.flags = strings.Fields(rest)
			return m
		}
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x (%v)", addr, sc.Err())
	return m
}

func (m mapping) has(flag string) bool {
	for _, f := range m.flags {
		if f == flag {
			return true
		}
	}
	return false
}

// skipWithoutTHP skips where the kernel has no transparent huge pages: the
// calls fail with EINVAL there and change nothing.
func skipWithoutTHP(t *testing.T, errno uintptr) {
	t.Helper()
	if syscall.Errno(errno) == syscall.EINVAL {
		t.Skip("this kernel has no transparent huge pages (or no MADV_COLLAPSE, before Linux 6.1)")
	}
}

// The heap the runtime had mapped when the initialiser ran carries the
// advice: the first heap object's mapping says hg.
func TestHeapStartIsAdvised(t *testing.T) {
	t.Parallel()
	skipWithoutTHP(t, adviseErrno)
	if adviseErrno != 0 && syscall.Errno(adviseErrno) != syscall.ENOMEM {
		t.Fatalf("madvise(MADV_HUGEPAGE) of the first arena: %v", syscall.Errno(adviseErrno))
	}
	at := uintptr(unsafe.Pointer(first))
	if lo, hi := Advised(); at < lo || at >= hi {
		t.Fatalf("Advised() = %#x-%#x, not holding the first heap object at %#x", lo, hi, at)
	}
	if m := mappingAt(t, at); !m.has("hg") {
		t.Errorf("the heap's first mapping %#x-%#x has VmFlags %v, want hg (MADV_HUGEPAGE)", m.lo, m.hi, m.flags)
	}
}

// Each 2 MiB stretch of the heap that held pages when the initialiser ran
// is one huge page now, read from its pages' flags (/proc/self/pagemap for
// the frame, /proc/kpageflags for the frame's flags: root only). The
// stretch at the start of the heap's first mapping is among them.
func TestHeapStartIsCollapsed(t *testing.T) {
	t.Parallel()
	if collapsed == 0 {
		t.Fatal("no stretch of the first arena held a page")
	}
	heap := mappingAt(t, uintptr(unsafe.Pointer(first)))
	start := false
	for i, at := range collapsedAt[:collapsed] {
		skipWithoutTHP(t, collapseErrno[i])
		if collapseErrno[i] != 0 {
			t.Errorf("madvise(MADV_COLLAPSE) of %#x: %v", at, syscall.Errno(collapseErrno[i]))
			continue
		}
		start = start || at <= heap.lo && heap.lo < at+hugePage
		flags, err := pageFlags(at)
		if errors.Is(err, os.ErrPermission) || errors.Is(err, errNoFrame) {
			t.Skipf("reading a page's flags needs root: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		const kpfTHP = 1 << 22
		if flags&kpfTHP == 0 {
			t.Errorf("the page at %#x has flags %#x, without KPF_THP: not collapsed into a huge page", at, flags)
		}
	}
	if !start {
		t.Errorf("collapsed %#x, not the start of the heap's first mapping %#x-%#x", collapsedAt[:collapsed], heap.lo, heap.hi)
	}
}

var errNoFrame = errors.New("pagemap gives no page frame (needs CAP_SYS_ADMIN)")

// pageFlags returns /proc/kpageflags' flags of the page holding addr.
func pageFlags(addr uintptr) (uint64, error) {
	entry, err := readWord("/proc/self/pagemap", int64(addr/uintptr(os.Getpagesize()))*8)
	if err != nil {
		return 0, err
	}
	const present, frameBits = 1 << 63, 1<<55 - 1
	if entry&present == 0 {
		return 0, fmt.Errorf("the page at %#x is not present", addr)
	}
	frame := entry & frameBits
	if frame == 0 {
		return 0, errNoFrame
	}
	return readWord("/proc/kpageflags", int64(frame)*8)
}

func readWord(path string, off int64) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return 0, fmt.Errorf("%s at %d: %w", path, off, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Unadvise leaves the heap's first mapping marked for small pages. In a
// fresh process: it changes the process's memory.
func TestUnadvise(t *testing.T) {
	if os.Getenv("EARLYHEAP_TEST_CHILD") == "unadvise" {
		skipWithoutTHP(t, adviseErrno)
		Unadvise()
		if m := mappingAt(t, uintptr(unsafe.Pointer(first))); m.has("hg") || !m.has("nh") {
			t.Errorf("after Unadvise the heap's first mapping has VmFlags %v, want nh and no hg", m.flags)
		}
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnadvise$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "EARLYHEAP_TEST_CHILD=unadvise")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a fresh process: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("the fresh process skipped:\n%s", out)
	}
}
