package pipeline

import (
	"github.com/graceguard/graceguard/source"
)

// A Kubernetes container's log (source/kube) cannot be reopened at a byte
// offset: the API resumes it from a time. Its batches carry an opaque cursor
// beside a virtual offset, and a checkpoint must save the pair that names
// the point reading resumes from: the start of the record still being
// assembled, or else the end of what was read. The source sends one line a
// batch, so a record always starts at a batch start, and two cursors a
// stream are all the Watcher keeps.

// cursorMark is a cursor and the virtual offset it names.
type cursorMark struct {
	off int64
	cur string
}

// cursorTrack is what a stream keeps of its cursors.
type cursorTrack struct {
	record cursorMark // the batch that began the record being assembled
	last   cursorMark // the latest batch's start, or the end an Idle batch named
}

// noteCursor remembers b's cursor once b has been pushed. An Ended stream is
// over for good: its saved position is dropped too, so positions of pods
// long gone, or of files rotated away and drained, do not pile up in the
// checkpoint and are never read again from a stale offset.
func (w *Watcher) noteCursor(s *stream, b source.Batch) {
	if b.Ended {
		w.forgetRestored(b.ID)
		return
	}
	if b.Cursor == "" {
		return
	}
	m := cursorMark{off: b.Offset, cur: b.Cursor}
	if p, ok := s.asm.Pending(); ok && p == b.Offset && len(b.Data) > 0 {
		s.cursors.record = m
	}
	s.cursors.last = m
}

// forgetRestored drops the saved position of a stream that ended.
func (w *Watcher) forgetRestored(id source.FileID) {
	kept := w.restored[:0]
	for _, p := range w.restored {
		if !sameStream(p.ID, id) {
			kept = append(kept, p)
		}
	}
	clear(w.restored[len(kept):])
	w.restored = kept
}

// resumePosition is where a restart must read s again from: the record
// still being assembled, else the end of what was read.
func (s *stream) resumePosition() source.Position {
	off := s.end
	if s.midLine {
		// Not inside the cut line, whose rest would be read as a line:
		// its start, read and cut again.
		off = s.cutLine
	}
	p, pending := s.asm.Pending()
	if pending && p < off {
		off = p
	}
	pos := source.Position{Path: s.path, ID: s.id, Offset: off, Size: s.size}
	c := s.cursors
	switch {
	case c.last.cur == "":
		// A file: the offset says it all.
	case pending && c.record.cur != "" && c.record.off <= p:
		// Exactly p, as batches are single lines; an earlier mark would
		// only read again lines that made no alert-worthy record yet.
		pos.Offset, pos.Cursor = c.record.off, c.record.cur
	case !pending:
		// The end, or the start of the last batch if its lines all made
		// no record (blank or orphaned lines): reading them again is
		// harmless.
		pos.Offset, pos.Cursor = c.last.off, c.last.cur
	}
	return pos
}

// sameStream reports whether two identities name the same stream. Files
// differ by device and inode; streams without an inode (a container
// instance) by their fingerprint, which is the container's id.
func sameStream(a, b source.FileID) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && (a.Ino != 0 || a.Fingerprint == b.Fingerprint)
}

// sameCopy is sameStream that also tells a copytruncate's copies apart:
// they are read under the device and inode of the file at the path
// (source's copiedFrom), each with its own first bytes, so the inode alone
// would let one copy stand in for another.
func sameCopy(a, b source.FileID) bool {
	return sameStream(a, b) && (a.Fingerprint == "" || b.Fingerprint == "" || a.Fingerprint == b.Fingerprint)
}
