package source

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// glob is filepath.Glob, the same matches in the same order and the same
// errors, with each directory listed by readDirNames instead of os.Open.
//
// Why: a watch lists its patterns' directories at every safety look (every
// second where no file event has arrived yet, for ever where none can).
// filepath.Glob stats the directory and opens it with os.Open, which tries
// to register it with the runtime's poller (fcntl four times, epoll_ctl,
// refused for a directory): ten system calls a directory. readDirNames
// takes five (open, fcntl, getdents twice, close). A system call costs
// ~5-10 µs on a guest whose hypervisor sees each one, and the idle watch's
// target is 0.05% of a core (README, Performance). os.ReadDir would take
// four where directories hold file types, but stats each entry where they
// do not (glob_unix.go). Windows' volume names are left to filepath.Glob.
func glob(pattern string) ([]string, error) {
	if runtime.GOOS == "windows" {
		return filepath.Glob(pattern)
	}
	return globDepth(pattern, 0)
}

// CheckPattern returns an error for a pattern that can never match
// anything (filepath.Match's syntax: an unclosed '[', a trailing '\'):
// followed, it would only be reported again at every rescan, for ever.
// "-" (stdin) and plain paths are fine.
func CheckPattern(pattern string) error {
	if pattern == "-" {
		return nil
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return nil
}

// maxGlobDepth bounds globDepth's recursion, as filepath.Glob's own limit
// does, so a pattern of thousands of separators cannot exhaust the stack.
const maxGlobDepth = 10000

func globDepth(pattern string, depth int) ([]string, error) {
	if depth == maxGlobDepth {
		return nil, filepath.ErrBadPattern
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	if !hasMeta(pattern) {
		if _, err := os.Lstat(pattern); err != nil {
			return nil, nil
		}
		return []string{pattern}, nil
	}
	dir, file := filepath.Split(pattern)
	dir = cleanGlobDir(dir)
	if !hasMeta(dir) {
		return globDir(dir, file, nil)
	}
	if dir == pattern {
		return nil, filepath.ErrBadPattern
	}
	dirs, err := globDepth(dir, depth+1)
	if err != nil {
		return nil, err
	}
	var matches []string
	for _, d := range dirs {
		if matches, err = globDir(d, file, matches); err != nil {
			return matches, err
		}
	}
	return matches, nil
}

// cleanGlobDir is filepath's cleanGlobPath: the directory part of a
// pattern without its trailing separator, "." for none.
func cleanGlobDir(dir string) string {
	switch dir {
	case "":
		return "."
	case string(filepath.Separator):
		return dir
	}
	return dir[:len(dir)-1]
}

// globDir appends to matches the names in dir that match pattern, in
// order. A directory that cannot be read holds no matches, as for
// filepath.Glob; a bad pattern is an error.
func globDir(dir, pattern string, matches []string) ([]string, error) {
	names := readDirNames(dir)
	slices.Sort(names)
	for _, name := range names {
		ok, err := filepath.Match(pattern, name)
		if err != nil {
			return matches, err
		}
		if ok {
			matches = append(matches, filepath.Join(dir, name))
		}
	}
	return matches, nil
}
