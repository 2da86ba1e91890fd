// Package hugepage asks Linux for transparent huge pages: for a part of
// the Go heap a scan is about to fill (cmd/graceguard), and for memory of
// its own outside the heap (pipeline's read buffers). A 2 MiB huge page is
// one page fault where 4 KiB pages are 512; on a machine whose faults are
// slow (~10 us each on a guest whose page tables its hypervisor shadows)
// that is most of what filling fresh memory costs.
//
// It only advises: where THP is off, memory is the same memory in small
// pages; on other systems Advise does nothing and Alloc fails, and callers
// use the heap. GODEBUG=disablethp=1, the Go runtime's switch for huge
// pages in the heap, turns the advice off here too (Disabled). It must not
// hold memory of its own or decide how much anyone needs; its callers size
// what they ask for.
package hugepage

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Size is a PMD-mapped transparent huge page on amd64 and arm64 with 4 KiB
// base pages.
const Size = 2 << 20

// Disabled reports whether GODEBUG says disablethp=1: whoever set it wants
// no huge pages in this process, and the runtime's own checks cover only
// the heap it maps itself. GODEBUG is read as the runtime reads it: a
// later setting wins over an earlier one, a value that is not an integer
// is ignored, and any non-zero one disables.
var Disabled = sync.OnceValue(func() bool {
	return disabledBy(os.Getenv("GODEBUG"))
})

func disabledBy(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		v, ok := strings.CutPrefix(kv, "disablethp=")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			off = n != 0
		}
	}
	return off
}
