//go:build linux && (amd64 || arm64)

package earlyheap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/graceguard/graceguard/internal/smaps"
)

// skipWithoutTHP skips where the initialiser did nothing because THP is
// off (never, no sysfs) or the kernel has no MADV_COLLAPSE.
func skipWithoutTHP(t *testing.T) {
	t.Helper()
	if !thpAllowed() {
		t.Skip("transparent huge pages are off here (never, or no sysfs)")
	}
	if advisedLo == advisedHi {
		t.Skip("the kernel refused MADV_COLLAPSE (before Linux 6.1, or THP disabled for this process)")
	}
}

// The heap the runtime had mapped when the initialiser ran carries the
// advice: the first heap object's mapping says hg. (In a test binary the
// initialiser runs after the testing package's; in graceguard's, sixth.)
func TestHeapStartIsAdvised(t *testing.T) {
	t.Parallel()
	skipWithoutTHP(t)
	if adviseErrno != 0 {
		t.Fatalf("madvise(MADV_HUGEPAGE) of the first arena: %v", syscall.Errno(adviseErrno))
	}
	at := uintptr(unsafe.Pointer(first))
	if at < advisedLo || at >= advisedHi {
		t.Fatalf("advised %#x-%#x, not holding the first heap object at %#x", advisedLo, advisedHi, at)
	}
	if m := smaps.Holding(t, at); !m.Has("hg") {
		t.Errorf("the heap's first mapping %#x-%#x has VmFlags %v, want hg (MADV_HUGEPAGE)", m.Lo, m.Hi, m.Flags)
	}
}

// Each 2 MiB stretch of the heap that held pages when the initialiser ran
// is one huge page now, read from its pages' flags (/proc/self/pagemap for
// the frame, /proc/kpageflags for the frame's flags: root only). The
// stretch holding the first heap object, which the initialiser wrote, is
// among them.
func TestHeapStartIsCollapsed(t *testing.T) {
	t.Parallel()
	skipWithoutTHP(t)
	at := uintptr(unsafe.Pointer(first))
	holding := false
	for i, stretch := range collapsedAt[:collapsed] {
		holding = holding || stretch <= at && at < stretch+hugePage
		switch errno := syscall.Errno(collapseErrno[i]); errno {
		case 0:
		case syscall.EAGAIN, syscall.ENOMEM:
			t.Skipf("madvise(MADV_COLLAPSE) of %#x: %v (no huge page free: best effort)", stretch, errno)
		default:
			t.Fatalf("madvise(MADV_COLLAPSE) of %#x: %v", stretch, errno)
		}
		flags, err := pageFlags(stretch)
		if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) || errors.Is(err, errNoFrame) {
			t.Skipf("reading a page's flags needs root and CONFIG_PROC_PAGE_MONITOR: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		const kpfTHP = 1 << 22
		if flags&kpfTHP == 0 {
			t.Errorf("the page at %#x has flags %#x, without KPF_THP: not collapsed into a huge page", stretch, flags)
		}
	}
	if !holding {
		t.Errorf("collapsed %#x, not the stretch holding the first heap object at %#x", collapsedAt[:collapsed], at)
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

// With GODEBUG=disablethp=1 the runtime marks the heap MADV_NOHUGEPAGE,
// the collapse is refused, and nothing is advised: the heap's first
// mapping keeps the runtime's nh and holds no huge page. In a fresh
// process, as the initialiser runs at its start.
func TestDisableTHPLeavesTheHeapAlone(t *testing.T) {
	if os.Getenv("EARLYHEAP_TEST_CHILD") == "disablethp" {
		if advisedLo != advisedHi || collapsed != 0 {
			t.Errorf("with GODEBUG=%q: advised %#x-%#x, collapsed %#x", os.Getenv("GODEBUG"), advisedLo, advisedHi, collapsedAt[:collapsed])
		}
		m := smaps.Holding(t, uintptr(unsafe.Pointer(first)))
		if m.Has("hg") || !m.Has("nh") || m.AnonHugePagesKB != 0 {
			t.Errorf("with GODEBUG=%q the heap's first mapping has VmFlags %v and %d kB in huge pages, want the runtime's nh and none", os.Getenv("GODEBUG"), m.Flags, m.AnonHugePagesKB)
		}
		return
	}
	t.Parallel()
	if !thpAllowed() {
		t.Skip("transparent huge pages are off here (never, or no sysfs)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDisableTHPLeavesTheHeapAlone$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EARLYHEAP_TEST_CHILD=disablethp", "GODEBUG=disablethp=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in a fresh process: %v\n%s", err, out)
	}
}

func TestThpAllowedReadsTheMode(t *testing.T) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	want := err == nil && !strings.Contains(string(b), "[never]")
	if got := thpAllowed(); got != want {
		t.Errorf("thpAllowed() = %v with the mode %q (%v), want %v", got, b, err, want)
	}
}

func TestFailed(t *testing.T) {
	for _, tc := range []struct {
		r    uintptr
		want uintptr
	}{
		{0, 0},
		{3, 0},                     // a descriptor
		{^uintptr(0), 1},           // -1: EPERM
		{^uintptr(22 - 1), 22},     // -22: EINVAL
		{^uintptr(4095 - 1), 4095}, // -4095, the last errno
		{^uintptr(4096 - 1), 0},    // -4096: an address, not an error
		{uintptr(1) << 62, 0},      // a large result
	} {
		if got := failed(tc.r); got != tc.want {
			t.Errorf("failed(%#x) = %d, want %d", tc.r, got, tc.want)
		}
	}
}
