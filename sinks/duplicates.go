package sinks

import (
	"fmt"
	"os"
	"path/filepath"
)

// Two sinks of one destination. YAML anchors make them easily: an entry
// copied with - *base, or with <<: *base and a key forgotten, is a second
// sink (named type-1, type-2, so no name clash stops it) with the first's
// path or URL.
//
// Two file sinks writing one file are refused (sameFileProblems): each
// appends its own groups with its own write and fsync, so their groups
// interleave, an alert both take is in the file twice with one id (a SIEM
// reading the file counts it twice), a json and an ecs sink mix two
// schemas in one file, and where appends are not atomic (NFS) their
// writes can cut into each other's lines. No setting makes sharing a file
// useful, so it is an error, not a warning. A file sink on the
// dispatcher's own files (the dead-letter file, the sink journal, the
// delivery ledger) would mix alerts into them and is refused too.

// sameFileWhy is the consequence a same-file problem states.
const sameFileWhy = "; two writers would interleave and double its alerts: give each file sink its own path"

// ownFile is a file the dispatcher writes itself.
type ownFile struct{ what, path string }

// ownFiles are the files a dispatcher made with opt writes.
func (opt DispatcherOptions) ownFiles() []ownFile {
	var out []ownFile
	dead := opt.DeadLetterPath
	if dead == "" && opt.StateDir != "" {
		dead = filepath.Join(opt.StateDir, DeadLetterFile)
	}
	if dead != "" {
		out = append(out, ownFile{"dead-letter file", dead})
	}
	if opt.StateDir != "" {
		out = append(out, ownFile{"sink journal", filepath.Join(opt.StateDir, JournalFile)},
			ownFile{"delivery ledger", filepath.Join(opt.StateDir, LedgerFile)})
	}
	return out
}

// sameFileProblems lists the file sinks of cfgs that write a file an
// earlier one does, or one of own, each as "ORIGIN: writes …". A file is
// the same when its cleaned absolute path is, with the symlinks of the
// part that exists resolved, or when both exist and are one file
// (os.SameFile: a hard link, a bind mount).
func sameFileProblems(cfgs []Config, own []ownFile) []string {
	var problems []string
	owns := make([]writtenFile, len(own))
	for i, o := range own {
		owns[i] = locate(o.path)
	}
	type written struct {
		c Config
		f writtenFile
	}
	var files []written
next:
	for _, c := range cfgs {
		fc, ok := c.Sink.(*FileConfig)
		if !ok || fc.Path == "" {
			continue
		}
		f := locate(fc.Path)
		for i, o := range owns {
			if f.same(o) {
				problems = append(problems, fmt.Sprintf("%s: writes the %s (%s); give the file sink a path of its own", c.Origin, own[i].what, own[i].path))
				continue next
			}
		}
		for _, w := range files {
			if f.same(w.f) {
				problems = append(problems, fmt.Sprintf("%s: writes the same file as %s%s", c.Origin, w.c.ref(c), sameFileWhy))
				continue next
			}
		}
		files = append(files, written{c, f})
	}
	return problems
}

// writtenFile is where a path leads, to tell two paths of one file.
type writtenFile struct {
	path string      // absolute, cleaned, the symlinks of its existing part resolved
	fi   os.FileInfo // nil when nothing is there yet
}

func locate(path string) writtenFile {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	w := writtenFile{path: abs}
	if fi, err := os.Stat(abs); err == nil {
		w.fi = fi
	}
	// The file need not exist yet (a sink creates it, and its directory):
	// resolve the longest part that does, so logs/a.jsonl and
	// /var/log/graceguard/a.jsonl meet when logs links there.
	for dir, rest := abs, ""; ; {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			w.path = filepath.Join(real, rest)
			return w
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return w
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

func (w writtenFile) same(o writtenFile) bool {
	return w.path == o.path || (w.fi != nil && o.fi != nil && os.SameFile(w.fi, o.fi))
}
