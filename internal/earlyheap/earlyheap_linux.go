//go:build linux && (amd64 || arm64)

package earlyheap

import "unsafe"

const (
	// arenaBytes is the runtime's heap arena on 64-bit Linux
	// (heapArenaBytes): the heap is mapped inside arenas aligned to it.
	arenaBytes = 64 << 20
	// hugePage is a PMD-mapped page with 4 KiB base pages.
	hugePage = 2 << 20
	// stretches is how many huge pages an arena holds.
	stretches = arenaBytes / hugePage
	// smallPage is the smallest base page (mincore's vector has a byte
	// a page).
	smallPage = 4 << 10

	madvHugepage   = 14 // MADV_HUGEPAGE
	madvNoHugepage = 15 // MADV_NOHUGEPAGE
	madvCollapse   = 25 // MADV_COLLAPSE, Linux 6.1
)

// first is the heap object whose address names the heap's first arena.
var first *uintptr

// advisedLo and advisedHi bound what the initialiser advised.
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
	lo := uintptr(unsafe.Pointer(first)) &^ (arenaBytes - 1)
	// The arena's unmapped stretches only make the call report ENOMEM
	// after advising the rest; the runtime's reserved, inaccessible parts
	// take the advice and lose it when mapped, which is why only the
	// heap mapped by now gains.
	adviseErrno = syscall3(sysMadvise, lo, arenaBytes, madvHugepage)
	advisedLo, advisedHi = lo, lo+arenaBytes
	// The advice reaches only stretches with nothing mapped yet; those
	// holding the pages touched so far (the allocator fills the heap from
	// its lowest address, so they are where the next allocations go) are
	// made huge pages now, the pages they hold copied in.
	var resident [hugePage / smallPage]byte
	for at := lo; at < lo+arenaBytes; at += hugePage {
		if syscall3(sysMincore, at, hugePage, uintptr(unsafe.Pointer(&resident))) != 0 || !anyResident(&resident) {
			continue
		}
		collapsedAt[collapsed] = at
		collapseErrno[collapsed] = syscall3(sysMadvise, at, hugePage, madvCollapse)
		collapsed++
	}
}

func anyResident(vec *[hugePage / smallPage]byte) bool {
	for _, b := range vec {
		if b&1 != 0 {
			return true
		}
	}
	return false
}

// Advised returns the range the initialiser advised for huge pages; lo ==
// hi where it advised nothing.
func Advised() (lo, hi uintptr) { return advisedLo, advisedHi }

// Unadvise takes the advice back, for GODEBUG=disablethp=1: the heap
// mapped from now on gets small pages (what is already huge stays so).
func Unadvise() {
	if advisedLo != advisedHi {
		syscall3(sysMadvise, advisedLo, advisedHi-advisedLo, madvNoHugepage)
	}
}

// syscall3 is the raw system call: no package with an initialiser of its
// own may be imported. It returns 0 or the errno.
//
//go:noescape
func syscall3(trap, a1, a2, a3 uintptr) (errno uintptr)
