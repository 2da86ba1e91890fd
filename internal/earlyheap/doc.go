// Package earlyheap asks Linux, before most of the Go heap is touched, to
// back it with transparent huge pages. Importing it (cmd/graceguard does,
// for its side effect) is all it takes.
//
// Why an initialiser of its own: on a machine whose page faults are slow
// (~10 µs each on a guest whose page tables its hypervisor shadows), the
// heap's first mapping (4 MiB) was ~570 faults of a 100 MB scan, 4 KiB at
// a time, spread over the package initialisers and the scan. cmd's huge
// heap (hugeheap_linux.go) advises only what the heap grows by later, and
// advising those first pages from main came too late: they were already
// mapped one by one. This package imports nothing that has an initialiser
// (its system calls are a few lines of assembly), so Go runs its
// initialiser before almost every other package's. It collapses
// (MADV_COLLAPSE) each 2 MiB stretch of the heap's first arena that holds
// pages into one huge page, then advises the arena MADV_HUGEPAGE: only
// what the runtime has mapped so far takes the advice (a mapping made
// later does not carry it).
//
// What it must not do: allocate beyond one small object, import a package
// with an initialiser, report a failure, or override a choice made against
// huge pages. The system's THP mode is read first, and "never" (or no
// sysfs) leaves everything alone, as MADV_COLLAPSE itself ignores the
// mode. GODEBUG=disablethp=1, which the runtime carries out by marking its
// heap MADV_NOHUGEPAGE before this runs, makes the kernel refuse the
// collapse, and then nothing is advised either; so does a kernel before
// 6.1. Where a call fails, or on other systems or architectures, the heap
// is the same heap in small pages.
//
// Costs: the collapse copies the stretch's pages and may compact memory
// for its huge page (0.3-0.6 ms measured, at times ~5 ms when it waits
// for the other CPUs' page lists); up to 4 MiB of the heap's first mapping
// becomes resident in huge pages, including the random padding Go 1.26
// leaves at the heap's start.
package earlyheap
