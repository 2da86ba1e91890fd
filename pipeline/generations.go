package pipeline

import (
	"path/filepath"
	"strings"

	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/source"
)

// logNames is the Source each input's events carry: its own name, or, for
// an input that is by its name a rotated generation of another input
// (beside it, named as it is with a suffix: openunison.log.1,
// openunison.log-20261123.gz, the kubelet's 0.log.20261123-101500; beside
// the file a link names, for a /var/log/containers link), that input's
// name, as watch's events of a followed path's generations carry
// the path. What waits on a thread (a token_ok for the grace reuse a line
// later, a reuse for its [AzSuccess] twin, a refused refresh) is so found
// across a rotation that fell between the two lines of one request: told
// apart by file, the twin of a replay logged just before a rotation was
// learned as the user's refresh from the thief's address, which then was
// no longer new. Each file's own name stays its events' File: what alerts
// and timelines show beside the record's offset, what alert ids and the
// order of one millisecond's events use, and what a parse error names.
//
// Here only generations of an input that is named too are joined (the
// README's `graceguard scan openunison.log*`): names alone cannot tell one
// log's generations from replicas' logs named alike (openunison-0,
// openunison-1), whose threads are not each other's. Generations named
// without their log are joined by the merge, where their times can tell
// (unnamedLogs). A generation of several inputs (openunison.log.1.gz
// beside openunison.log.1 and openunison.log) takes the shortest name,
// the log's.
//
// real is realPaths(inputs), which unnamedLogs reads too.
func logNames(inputs []Input, real []string) []string {
	cleaned := make([]string, len(inputs))
	for i, in := range inputs {
		cleaned[i] = filepath.Clean(in.Name)
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
		if in.Name == "-" {
			continue
		}
		for j, of := range inputs {
			if of.Name == "-" || !source.IsGenerationOf(cleaned[i], cleaned[j]) &&
				(real[i] == "" || real[j] == "" || !source.IsGenerationOf(real[i], real[j])) {
				continue
			}
			if names[i] == in.Name || len(of.Name) < len(names[i]) {
				names[i] = of.Name
			}
		}
	}
	return names
}

// realPaths is each input's realPath, "" for stdin: resolved once for
// logNames and unnamedLogs, a few system calls an input at a scan's start.
func realPaths(inputs []Input) []string {
	real := make([]string, len(inputs))
	for i, in := range inputs {
		if in.Name != "-" {
			real[i] = realPath(in.Name)
		}
	}
	return real
}

// realPath is name with every symbolic link resolved, made absolute: a
// /var/log/containers link's log is its target in /var/log/pods, and the
// kubelet leaves the log's generations beside the target (as watch reads
// them). "" when it cannot be resolved (an input that is no file).
func realPath(name string) string {
	resolved, err := filepath.EvalSymlinks(name)
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(resolved)
	if err != nil {
		return ""
	}
	return abs
}

// A log's generations named without the log (`graceguard scan
// openunison.log.2.gz openunison.log.1`, a day gone by) are joined as well,
// but not by their names alone: replicas' logs saved as openunison.log.0
// and openunison.log.1 are named alike. The merge decides (joiner): a file
// takes the log's name at its first event only if every file that took it
// before has ended. A log's generations each hold a stretch of its time
// and are read one after another; replicas' logs overlap, and the
// second's first event comes while the first is still being read, before
// any of its lines could wait on the other's.

// unnamedLog is a log not among a scan's inputs and its generations that
// are.
type unnamedLog struct {
	name    string
	members []int // indices of the inputs
}

// unnamedLogs groups the inputs that logNames left under their own names
// and that are by their names generations of one log (generationOf),
// beside each other; a group of one is left alone. Which of them is older
// is the merge's to find (joiner), not the names'.
func unnamedLogs(inputs []Input, names, real []string) []unnamedLog {
	byLog := map[string][]int{}
	var order []string
	for i, in := range inputs {
		if in.Name == "-" || names[i] != in.Name {
			continue
		}
		log, ok := generationOf(in.Name)
		if !ok {
			continue
		}
		key := filepath.Clean(log)
		// Spelt through a linked directory, or one relative and one
		// absolute, two generations are beside each other all the same.
		if real[i] != "" {
			if log, ok := generationOf(real[i]); ok {
				key = log
			}
		}
		if byLog[key] == nil {
			order = append(order, key)
		}
		byLog[key] = append(byLog[key], i)
	}
	var logs []unnamedLog
	for _, key := range order {
		if members := byLog[key]; len(members) > 1 {
			logs = append(logs, unnamedLog{name: key, members: members})
		}
	}
	return logs
}

// generationOf parses name as a log's rotated generation by its suffix
// alone, after any compression extension: ".N" (logrotate's numbers),
// "-YYYYMMDD" or ".YYYYMMDD" (dateext), ".YYYYMMDD-HHMMSS" (the
// kubelet's). Narrower than source.IsGenerationOf, which has the log's
// name to match: "-N" would take replicas' names (openunison-0).
func generationOf(name string) (log string, ok bool) {
	trimmed := source.TrimCompressedExt(name)
	sep := strings.LastIndexAny(trimmed, ".-")
	if sep <= 0 || strings.ContainsAny(trimmed[sep:], `/\`) {
		return "", false
	}
	log, suffix := trimmed[:sep], trimmed[sep+1:]
	if !isLogName(log) {
		return "", false
	}
	switch {
	case trimmed[sep] == '.' && allDigits(suffix) && len(suffix) < 8:
		return log, true
	case len(suffix) == 8 && allDigits(suffix):
		return log, true
	case trimmed[sep] == '-' && len(suffix) == 6 && allDigits(suffix):
		// 0.log.20261123-101500: the date before the '-' is the log's suffix too.
		dot := strings.LastIndexByte(log, '.')
		if dot <= 0 || len(log)-dot-1 != 8 || !allDigits(log[dot+1:]) || !isLogName(log[:dot]) {
			return "", false
		}
		return log[:dot], true
	}
	return "", false
}

// isLogName reports whether what is left of a name without its
// generation's suffix names a file: not a directory ("logs/", ".", "..").
func isLogName(log string) bool {
	if log == "" || strings.HasSuffix(log, string(filepath.Separator)) {
		return false
	}
	b := filepath.Base(log)
	return b != "." && b != ".."
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// joiner names the events of unnamedLogs' members as the merge takes them
// (see unnamedLogs).
type joiner struct {
	logs  []unnamedLog
	group []int // by input: its log's index in logs, or -1
	state []joinState
	ended []bool
	// last is, by log, the input that took its name last, or -1: a member
	// joins only once the one before has ended, so only the last may still
	// be running.
	last []int
}

type joinState uint8

const (
	undecided joinState = iota
	joined
	apart
)

func newJoiner(inputs int, logs []unnamedLog) *joiner {
	j := &joiner{logs: logs, group: make([]int, inputs),
		state: make([]joinState, inputs), ended: make([]bool, inputs), last: make([]int, len(logs))}
	for i := range j.group {
		j.group[i] = -1
	}
	for g, l := range logs {
		j.last[g] = -1
		for _, idx := range l.members {
			j.group[idx] = g
		}
	}
	return j
}

// name gives ev, input idx's next event in the merge's order, its log's
// name when the input joins it, deciding that at its first event.
func (j *joiner) name(idx int, ev *parser.Event) {
	g := j.group[idx]
	if g < 0 {
		return
	}
	if j.state[idx] == undecided {
		j.state[idx] = apart
		if j.runningMember(g) < 0 {
			j.state[idx], j.last[g] = joined, idx
		}
	}
	if j.state[idx] == joined {
		if ev.File == "" {
			ev.File = ev.Source
		}
		ev.Source = j.logs[g].name
	}
}

// end notes that input idx has no more events.
func (j *joiner) end(idx int) { j.ended[idx] = true }

// running is, for input idx a log's member whose first event is still to
// come, the member under the log's name that has not ended, or -1.
func (j *joiner) running(idx int) int {
	g := j.group[idx]
	if g < 0 || j.state[idx] != undecided {
		return -1
	}
	return j.runningMember(g)
}

// runningMember is log g's member under its name that has not ended, or -1.
func (j *joiner) runningMember(g int) int {
	if k := j.last[g]; k >= 0 && !j.ended[k] {
		return k
	}
	return -1
}
