// Package smaps reads this process's memory mappings from
// /proc/self/smaps (Linux): their range, resident size, huge pages and
// VmFlags. It is for tests that check what the kernel made of an advice
// (MADV_HUGEPAGE is "hg", MADV_NOHUGEPAGE "nh") or how much of a mapping
// is resident; product code must not depend on it.
package smaps

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Mapping is one mapping of /proc/self/smaps.
type Mapping struct {
	Lo, Hi          uintptr
	RssKB           int
	AnonHugePagesKB int
	Flags           []string // VmFlags
}

// Has says whether the mapping's VmFlags hold flag.
func (m Mapping) Has(flag string) bool {
	for _, f := range m.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// All returns every mapping of this process.
func All() ([]Mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []Mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		// A mapping's first line: "lo-hi perms offset dev inode [path]";
		// the fields after it are "Name: value".
		if head, _, _ := strings.Cut(line, " "); !strings.HasSuffix(head, ":") {
			if n, _ := fmt.Sscanf(head, "%x-%x", &lo, &hi); n == 2 {
				all = append(all, Mapping{Lo: lo, Hi: hi})
				continue
			}
		}
		if len(all) == 0 {
			continue
		}
		m := &all[len(all)-1]
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "Rss":
			fmt.Sscanf(value, "%d", &m.RssKB)
		case "AnonHugePages":
			fmt.Sscanf(value, "%d", &m.AnonHugePagesKB)
		case "VmFlags":
			m.Flags = strings.Fields(value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/smaps: %w", err)
	}
	return all, nil
}

// At returns the mapping holding addr, and whether one does.
func At(addr uintptr) (Mapping, bool, error) {
	all, err := All()
	if err != nil {
		return Mapping{}, false, err
	}
	for _, m := range all {
		if m.Lo <= addr && addr < m.Hi {
			return m, true, nil
		}
	}
	return Mapping{}, false, nil
}

// Holding returns the mapping holding addr for a test: it skips the test
// where /proc/self/smaps cannot be read, and fails it when no mapping
// holds addr.
func Holding(t testing.TB, addr uintptr) Mapping {
	t.Helper()
	m, ok, err := At(addr)
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	if !ok {
		t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	}
	return m
}
