//go:build linux && (amd64 || arm64)

package earlyheap

import "unsafe"

const (
	// arenaBytes is the runtime's heap arena on 64-bit Linux
	// (heapArenaBytes): the heap is mapped inside arenas aligned to it,
	// each reserved whole (inaccessible until the runtime maps a part).
	arenaBytes = 64 << 20
	// hugePage is a PMD-mapped page with 4 KiB base pages.
	hugePage = 2 << 20
	// stretches is how many huge pages an arena holds.
	stretches = arenaBytes / hugePage
	// smallPage is the smallest base page (mincore's vector has a byte
	// a page).
	smallPage = 4 << 10

	madvHugepage = 14 // MADV_HUGEPAGE
	madvCollapse = 25 // MADV_COLLAPSE, Linux 6.1

	errnoEINVAL = 22
	// atFDCWD is AT_FDCWD, -100, as the call takes it.
	atFDCWD = ^uintptr(100 - 1)
)

// thpEnabled names the system's THP mode, NUL-terminated for openat.
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled\x00"

// first is the heap object whose address names the heap's first arena.
var first *uintptr

// advisedLo and advisedHi bound what the initialiser advised; equal where
// it advised nothing.
var advisedLo, advisedHi uintptr

// What the calls returned (0 or an errno), for the tests: the advice, and
// for each 2 MiB stretch that held pages, its address and the collapse's.
var (
	adviseErrno   uintptr
	collapsed     int
	collapsedAt   [stretches]uintptr
	collapseErrno [stretches]uintptr
)

func init() {
	first = new(uintptr)
	// Written, so that the stretch holding it is among the resident ones
	// whatever the heap's random start (Go 1.26 begins the heap 0-4 MiB
	// into its first mapping).
	*first = 1
	if !thpAllowed() {
		return
	}
	lo := uintptr(unsafe.Pointer(first)) &^ (arenaBytes - 1)
	// The advice reaches only stretches with nothing mapped yet; those
	// holding the pages touched so far are where the allocator's next
	// small objects go, so they are made huge pages now, the pages they
	// hold copied in. Collapsing comes first: the kernel refuses it
	// (EINVAL) on memory marked MADV_NOHUGEPAGE, which is how the runtime
	// carries out GODEBUG=disablethp=1, unreadable from here this early;
	// advising first would undo the runtime's mark. EINVAL also means no
	// MADV_COLLAPSE (before Linux 6.1) or THP disabled by prctl: either
	// way nothing is advised.
	var resident [hugePage / smallPage]byte
	for at := lo; at < lo+arenaBytes; at += hugePage {
		if failed(syscall3(sysMincore, at, hugePage, uintptr(unsafe.Pointer(&resident)))) != 0 || !anyResident(&resident) {
			continue
		}
		errno := failed(syscall3(sysMadvise, at, hugePage, madvCollapse))
		if errno == errnoEINVAL {
			return
		}
		collapsedAt[collapsed], collapseErrno[collapsed] = at, errno
		collapsed++
	}
	adviseErrno = failed(syscall3(sysMadvise, lo, arenaBytes, madvHugepage))
	advisedLo, advisedHi = lo, lo+arenaBytes
}

// thpAllowed says whether the system's THP mode is other than never:
// MADV_COLLAPSE ignores the mode, and an administrator who chose never
// meant it. Unreadable (no sysfs), it is taken as never.
func thpAllowed() bool {
	fd := syscall3(sysOpenat, atFDCWD, uintptr(unsafe.Pointer(unsafe.StringData(thpEnabled))), 0)
	if failed(fd) != 0 {
		return false
	}
	var mode [64]byte
	n := syscall3(sysRead, fd, uintptr(unsafe.Pointer(&mode[0])), uintptr(len(mode)))
	syscall3(sysClose, fd, 0, 0)
	if failed(n) != 0 || n > uintptr(len(mode)) {
		return false
	}
	return !contains(mode[:n], "[never]")
}

// failed returns the errno a system call's raw result holds (Linux returns
// -errno, from -4095 to -1), or 0 for a result that is not an error.
func failed(r uintptr) (errno uintptr) {
	if r > ^uintptr(4096-1) {
		return -r
	}
	return 0
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

func anyResident(vec *[hugePage / smallPage]byte) bool {
	for _, b := range vec {
		if b&1 != 0 {
			return true
		}
	}
	return false
}

// syscall3 is the raw system call: no package with an initialiser of its
// own may be imported. It returns the kernel's result as is (failed reads
// it).
//
//go:noescape
func syscall3(trap, a1, a2, a3 uintptr) (r uintptr)
