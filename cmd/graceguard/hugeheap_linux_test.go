//go:build linux

package main

import (
	"bufio"
	"bytes"

	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping that holds addr, from
// /proc/self/smaps ("hg" is MADV_HUGEPAGE).
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	inside := false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			inside = lo <= addr && addr < hi
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && inside {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	return nil
}

// mappingRange reads the address range of a smaps mapping's first line.
func mappingRange(line string) (lo, hi uintptr, ok bool) {
	r, _, _ := strings.Cut(line, " ")
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	return uintptr(l), uintptr(h), err1 == nil && err2 == nil
}

// The heap a scan fills after adviseHugeHeap lies in memory advised for
// huge pages, and a scan of a small log advises nothing; with
// GODEBUG=disablethp=1 nothing is advised and the heap is not grown. The
// allocation is checked in a fresh
// process, as a scan's is: in this one, earlier tests left free spans
// below that the allocator would hand out first.
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
		if flags := vmFlags(t, addr); hasFlag(flags, "hg") != want {
			t.Errorf("GODEBUG=%q: the heap allocated after adviseHugeHeap is in a mapping with VmFlags %v, want hg (MADV_HUGEPAGE) among them: %v", os.Getenv("GODEBUG"), flags, want)
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

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}
