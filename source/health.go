package source

import (
	"sort"
	"strings"
	"sync"
)

// health is what the follower knows of its patterns and paths, for
// /readyz and for logging each change of state once rather than at every
// look: a path that cannot be read (a directory, a FIFO, no permission)
// makes the follower not ready; a literal path that does not exist yet, or
// a glob that matches nothing, is a note, not a fault (the file may come).
type health struct {
	mu       sync.Mutex
	begun    bool
	patterns []string
	problems map[string]string // path → why it cannot be read
	notes    map[string]string // pattern → what is odd about it
	missing  map[string]bool   // paths found that name no file (noteMissing)
}

func (h *health) init(patterns []string) {
	h.patterns = patterns
	h.problems, h.notes, h.missing = map[string]string{}, map[string]string{}, map[string]bool{}
}

func (h *health) started() {
	h.mu.Lock()
	h.begun = true
	h.mu.Unlock()
}

// setProblem records whether path can be read, logging only changes.
func (f *Follower) setProblem(path string, err error) {
	h := &f.health
	h.mu.Lock()
	old, had := h.problems[path]
	switch {
	case err == nil:
		delete(h.problems, path)
	default:
		h.problems[path] = err.Error()
	}
	h.mu.Unlock()
	switch {
	case err == nil && had:
		f.log.Info("file can be read again", "path", path)
	case err != nil && err.Error() != old:
		f.log.Warn("cannot follow file; retrying, and not ready until it can be read", "path", path, "err", err)
	}
}

// noteMatches records what a pattern matched, saying once when a literal
// path does not exist or a glob matches nothing, and when that changes.
func (f *Follower) noteMatches(pattern string, n int) {
	h := &f.health
	var note string
	if n == 0 {
		note = "does not exist yet; waiting for it"
		if hasMeta(pattern) {
			note = "matches no file yet"
		}
	}
	h.mu.Lock()
	old := h.notes[pattern]
	if note == "" {
		delete(h.notes, pattern)
	} else {
		h.notes[pattern] = note
	}
	h.mu.Unlock()
	switch {
	case note != "" && note != old && hasMeta(pattern):
		f.log.Warn("the pattern matches no file; waiting for one", "pattern", pattern)
	case note != "" && note != old:
		f.log.Warn("file does not exist yet; waiting for it", "path", pattern)
	case note == "" && old != "":
		f.log.Info("the pattern matches a file now", "pattern", pattern)
	}
}

// noteMissing records whether path, which a pattern found, names no file
// (a link to nothing), saying so once when that changes. A link the
// kubelet points at a file it is rotating names none for a moment: so the
// change is logged at info, not as a warning.
func (f *Follower) noteMissing(path string, missing bool) {
	h := &f.health
	h.mu.Lock()
	had := h.missing[path]
	if missing {
		h.missing[path] = true
	} else {
		delete(h.missing, path)
	}
	h.mu.Unlock()
	switch {
	case missing && !had:
		f.log.Info("the path names no file yet; waiting for it", "path", path)
	case !missing && had:
		f.log.Info("the path names a file now", "path", path)
	}
}

// NotReady says why the files are not being read as configured: reading
// has not begun, or paths cannot be read (each with its reason); "" when
// every path found is open and read. Safe from any goroutine.
func (f *Follower) NotReady() string {
	h := &f.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.begun && len(h.patterns) > 0 && !onlyStdin(h.patterns) {
		return "starting to read files"
	}
	var why []string
	for p, err := range h.problems {
		why = append(why, p+": "+err)
	}
	sort.Strings(why)
	return strings.Join(why, "; ")
}

// Notes says what is odd but not a fault: paths waited for, globs that
// match nothing. Safe from any goroutine.
func (f *Follower) Notes() []string {
	h := &f.health
	h.mu.Lock()
	defer h.mu.Unlock()
	var notes []string
	for p, n := range h.notes {
		notes = append(notes, p+": "+n)
	}
	for p := range h.missing {
		notes = append(notes, p+": names no file yet; waiting for it")
	}
	sort.Strings(notes)
	return notes
}

func onlyStdin(patterns []string) bool {
	for _, p := range patterns {
		if p != "-" {
			return false
		}
	}
	return true
}
