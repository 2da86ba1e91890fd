//go:build linux

package main

import (
	"bufio"
	"debug/elf"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFileKB is this process's RssFile.
func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// Releasing the code pages shrinks the resident set, and the code runs on
// (its pages come back as it runs).
func TestReleaseCodePages(t *testing.T) {
	before := rssFileKB(t)
	releaseCodePages()
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("RssFile %d kB after releasing, %d kB before: want less", after, before)
	}
	if got := strings.Repeat("ab", 3); got != "ababab" { // code runs on
		t.Fatal(got)
	}
	t.Logf("RssFile %d kB -> %d kB", before, after)
}

// Only the executable's mappings that can never have been written are
// chosen: its code, and its read-only data unless it is a PIE.
func TestReadOnlyMapping(t *testing.T) {
	const exe = "/usr/bin/graceguard"
	tests := []struct {
		line  string
		data  bool
		start uintptr
		ok    bool
	}{
		{"00400000-010f0000 r-xp 00000000 fe:00 10004625 /usr/bin/graceguard", false, 0x400000, true},
		{"010f0000-01e50000 r--p 00cf0000 fe:00 10004625 /usr/bin/graceguard", true, 0x10f0000, true},
		{"010f0000-01e50000 r--p 00cf0000 fe:00 10004625 /usr/bin/graceguard", false, 0, false}, // a PIE's read-only data
		{"01e50000-01ec9000 rw-p 01a50000 fe:00 10004625 /usr/bin/graceguard", true, 0, false},  // written data
		{"7f5f72a4f000-7f5f72ba5000 r-xp 00026000 fe:00 326269 /usr/lib/x86_64-linux-gnu/libc.so.6", true, 0, false},
		{"1604a800000-1604d000000 rw-p 00000000 00:00 0", true, 0, false},
		{"garbage", true, 0, false},
		{"zz-01 r-xp 0 0 0 /usr/bin/graceguard", true, 0, false},
	}
	for _, tt := range tests {
		start, _, ok := readOnlyMapping([]byte(tt.line), exe, tt.data)
		if ok != tt.ok || start != tt.start {
			t.Errorf("%q (data %v): %#x, %v; want %#x, %v", tt.line, tt.data, start, ok, tt.start, tt.ok)
		}
	}
}

// Read-only data is dropped only from a static fixed-address executable:
// anything the loader relocates (PIE, dynamic linking's RELRO) keeps it.
func TestNeverRelocated(t *testing.T) {
	prog := func(typ elf.ProgType) *elf.Prog { return &elf.Prog{ProgHeader: elf.ProgHeader{Type: typ}} }
	tests := []struct {
		name  string
		typ   elf.Type
		progs []elf.ProgType
		want  bool
	}{
		{"static", elf.ET_EXEC, []elf.ProgType{elf.PT_PHDR, elf.PT_LOAD, elf.PT_LOAD, elf.PT_NOTE}, true},
		{"dynamically linked (cgo)", elf.ET_EXEC, []elf.ProgType{elf.PT_INTERP, elf.PT_LOAD, elf.PT_DYNAMIC, elf.PT_GNU_RELRO}, false},
		{"RELRO alone", elf.ET_EXEC, []elf.ProgType{elf.PT_LOAD, elf.PT_GNU_RELRO}, false},
		{"PIE", elf.ET_DYN, []elf.ProgType{elf.PT_LOAD}, false},
	}
	for _, tt := range tests {
		f := &elf.File{FileHeader: elf.FileHeader{Type: tt.typ}}
		for _, p := range tt.progs {
			f.Progs = append(f.Progs, prog(p))
		}
		if got := neverRelocated(f); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
