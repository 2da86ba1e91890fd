// Package hugepage asks Linux for transparent huge pages: for a part of
// the Go heap a scan is about to fill (cmd/graceguard), and for memory of
// its own outside the heap (pipeline's read buffers). A 2 MiB huge page is
// one page fault where 4 KiB pages are 512; on a machine whose faults are
// slow (~10 us each on a guest whose page tables its hypervisor shadows)
// that is most of what filling fresh memory costs.
//
// It only advises: where THP is off, memory is the same memory in small
// pages; on other systems Advise does nothing and Alloc fails, and callers
// use the heap. It must not hold memory of its own or decide how much
// anyone needs; its callers size what they ask for.
package hugepage

// Size is a PMD-mapped transparent huge page on amd64 and arm64 with 4 KiB
// base pages.
const Size = 2 << 20
