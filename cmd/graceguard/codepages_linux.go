//go:build linux

package main

// An idle watch lets go of the pages of its own code it touched: half of
// an idle watch's resident memory was the binary's code and read-only data
// paged in (RssFile, ~18 MB: start-up, a catch-up, the rules' compilation
// touch most of it), of which an idle watch runs a few hundred kB.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseCodePages drops this process's mappings of the pages of its
// executable that are never written: its code, and, in a static executable
// loaded at a fixed address (CGO_ENABLED=0, as the image is built), its
// read-only data. A page touched again is mapped again from the page
// cache, a minor fault (no disk read while the kernel keeps the file
// cached); the pages stay in the page cache, which the kernel may reclaim
// and other processes of the same image share, but leave this process's
// resident set. A dynamically linked or PIE executable's read-only data
// holds relocations the loader wrote before making it read-only (the GOT:
// RELRO): dropping those would map the file's unrelocated bytes again, so
// only its code is dropped. Any failure leaves the pages where they are.
func releaseCodePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	data := false
	if f, err := elf.Open("/proc/self/exe"); err == nil {
		data = neverRelocated(f)
		f.Close()
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := readOnlyMapping(sc.Bytes(), exe, data)
		if ok {
			// The raw call: the range is not Go memory to make a slice of.
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED)
		}
	}
}

// neverRelocated says whether nothing of f is written once loaded but its
// writable segments: a fixed-address executable with no dynamic section
// and no RELRO.
func neverRelocated(f *elf.File) bool {
	if f.Type != elf.ET_EXEC {
		return false
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_DYNAMIC || p.Type == elf.PT_GNU_RELRO || p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// readOnlyMapping parses a /proc/self/maps line ("start-end perms offset
// dev inode path") and reports the range when it maps exe privately and
// can never have been written: code (r-xp), or, when data is true,
// read-only data (r--p).
func readOnlyMapping(line []byte, exe string, data bool) (start, end uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[5]) != exe {
		return 0, 0, false
	}
	perms := string(f[1])
	if perms != "r-xp" && !(data && perms == "r--p") {
		return 0, 0, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
