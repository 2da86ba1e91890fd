//go:build linux

package main

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"
	"unsafe"

	"github.com/graceguard/graceguard/internal/smaps"
)

// The heap a scan fills after adviseHugeHeap lies in memory advised for
// huge pages, and a scan of a small log advises nothing; with
// GODEBUG=disablethp=1 nothing is advised and the heap is not grown. The
// allocation is checked in a fresh process, as a scan's is: in this one,
// earlier tests left free spans below that the allocator would hand out
// first.
func TestAdviseHugeHeap(t *testing.T) {
	if child := os.Getenv("GRACEGUARD_TEST_HUGEHEAP"); child != "" {
		want := child == "child"
		debug.SetGCPercent(-1)
		gcs := numGC()
		adviseHugeHeap(32 << 20)
		if collected := numGC() > gcs; collected != want {
			t.Errorf("GODEBUG=%q: adviseHugeHeap collected: %v, want %v (the collection frees the heap it grew to advise)", os.Getenv("GODEBUG"), collected, want)
		}
		b := make([]byte, 16<<20)
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(len(b)/2)
		if m := smaps.Holding(t, addr); m.Has("hg") != want {
			t.Errorf("GODEBUG=%q: the heap allocated after adviseHugeHeap is in a mapping with VmFlags %v, want hg (MADV_HUGEPAGE) among them: %v", os.Getenv("GODEBUG"), m.Flags, want)
		}
		runtime.KeepAlive(b)
		return
	}
	t.Parallel()
	for child, godebug := range map[string]string{"child": "", "disablethp": "disablethp=1"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAdviseHugeHeap$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GRACEGUARD_TEST_HUGEHEAP="+child, "GODEBUG="+godebug)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("in a fresh process, GODEBUG=%q: %v\n%s", godebug, err, out)
		}
	}

	for _, tc := range []struct {
		input int64
		want  int
	}{
		{0, 0},                // stdin: unknown
		{1 << 20, 0},          // a small log: a huge page zeroed whole costs more than its faults
		{100 << 20, 20 << 20}, // a fifth of the log
		{10 << 30, 30 << 20},  // capped under the memory limit
	} {
		if got := hugeHeapFor(tc.input); got != tc.want {
			t.Errorf("hugeHeapFor(%d) = %d, want %d", tc.input, got, tc.want)
		}
	}
}

func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}
