package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
)

// A file is lost when it goes (deleted by the rotation's count, or
// compressed) before graceguard read it to its end: graceguard fell more
// generations behind than are kept, while down or behind. Only what a
// checkpoint names can be told: a generation rotated and deleted between
// two looks, never seen, leaves no trace. Each lost file is said once,
// with the offset reached and the bytes known lost, and counted
// (GenerationsLost).

// GenerationsLost counts the files that went before they were read to
// their end.
func (f *Follower) GenerationsLost() uint64 { return f.lost.Load() }

// warnUnfound says, once at start-up, which checkpointed files were found
// neither under a name the patterns match nor among their generations, and
// ends their streams so the watcher stops carrying their positions (and a
// later start does not say it again).
func (f *Follower) warnUnfound(ctx context.Context) {
	for _, pos := range f.restored {
		if pos.Cursor != "" {
			continue
		}
		f.gone(pos)
		f.gen++
		f.send(ctx, Batch{Key: fmt.Sprintf("%s#gone#%d", pos.Path, f.gen), Path: pos.Path, ID: pos.ID, Offset: pos.Offset, Size: pos.Size, Ended: true})
	}
	f.restored = slices.DeleteFunc(f.restored, func(p Position) bool { return p.Cursor == "" })
	for _, pos := range f.unread {
		if f.followingID(pos.ID) {
			continue // read now, from its start
		}
		f.lostFile(pos, pos.Size, false)
		f.gen++
		f.send(ctx, Batch{Key: fmt.Sprintf("%s#gone#%d", pos.Path, f.gen), Path: pos.Path, ID: pos.ID, Size: pos.Size, Ended: true})
	}
	f.unread = nil
}

// splitUnread parts positions into those a start resumes from and those of
// files announced and not read yet (Position.Unread).
func splitUnread(all []Position) (restored, unread []Position) {
	for _, p := range all {
		if p.Unread {
			unread = append(unread, p)
		} else {
			restored = append(restored, p)
		}
	}
	return restored, unread
}

// followingID reports whether a tailer reads the file id names: one with
// its inode, or read under it (a copytruncate's copy), that starts with
// the bytes id was taken from.
func (f *Follower) followingID(id FileID) bool {
	for _, t := range f.tailers {
		own := t.dev == id.Dev && t.ino == id.Ino
		as := t.id.Dev == id.Dev && t.id.Ino == id.Ino
		if !t.ended && id.Ino != 0 && (own || as) && sameStart(t.f, id) {
			return true
		}
	}
	return false
}

// gone says that pos's file is gone, and counts it lost when it had not
// been read to its end: bytes past the offset were seen, or it was the
// file at a followed path, written to until it was rotated (another file
// is there now).
func (f *Follower) gone(pos Position) {
	unread := max(0, pos.Size-pos.Offset)
	live := f.followedPath(pos.Path)
	if unread == 0 && !(live && f.seen[pos.Path]) {
		f.log.Info("a file the checkpoint named is gone; it had been read to its end", "path", pos.Path, "offset", pos.Offset)
		return
	}
	f.lostFile(pos, unread, live)
}

// lostFile says once that pos's file went with unread bytes (more may
// have been written after), and counts it.
func (f *Follower) lostFile(pos Position, unread int64, more bool) {
	f.lost.Add(1)
	// lost_bytes is what was unread when the checkpoint was written: a
	// run killed after it may have read some of it (their alerts went).
	f.log.Warn("a rotated file was deleted before graceguard read it to its end (it fell behind more generations than are kept, or the file was compressed): its unread lines are lost; lost_bytes were unread at the last checkpoint, at most",
		"path", pos.Path, "file", pos.ID.String(), "offset", pos.Offset, "lost_bytes", unread,
		// The file at a followed path grew after it was last looked at.
		"and_lines_written_after", more,
		"compressed_generations", compressedBeside(pos.Path))
}

// listedGone says that a generation listed to be read from its start was
// deleted before it could be opened (err), with all its bytes.
func (f *Follower) listedGone(g generation, err error) {
	if !errors.Is(err, fs.ErrNotExist) || g.info.Size() == 0 {
		return
	}
	dev, ino := devIno(g.info)
	f.lostFile(Position{Path: g.name, ID: FileID{Dev: dev, Ino: ino}, Size: g.info.Size()}, g.info.Size(), false)
}

// followedPath says whether name is a path the patterns match, not a
// rotated generation of one they name.
func (f *Follower) followedPath(name string) bool {
	matched := false
	for _, p := range f.opt.Patterns {
		if p == "-" {
			continue
		}
		if m, _ := filepath.Match(p, name); m {
			matched = true
		}
		if !hasMeta(p) && IsGenerationOf(name, p) {
			return false
		}
	}
	return matched
}

// namedByCheckpoint says whether a restored position named path or one of
// its generations.
func (f *Follower) namedByCheckpoint(path string) bool {
	// Resolved once: per position it cost two system calls for each, for
	// every new file of a start (after a node's reboot, every container
	// log under /var/log/containers, each against every position).
	linked := linkedName(path)
	for p := range f.restoredPath {
		if p == path || IsGenerationOf(p, path) || IsGenerationOf(p, linked) {
			return true
		}
	}
	return false
}

// compressedBeside lists the compressed generations beside name's path, a
// hint that the lost file was compressed rather than deleted.
func compressedBeside(name string) []string {
	var out []string
	for _, g := range generations(name) {
		if g.compressed {
			out = append(out, g.name)
		}
	}
	return out
}
