package source

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"time"
)

// A generation drained and left can still be written to: a writer that
// reopens lazily appends a few lines to the renamed file after the drain
// ended, and one whose reopen does not work (log4j behind a logrotate
// create rule, with nothing to signal it) writes there for good. Its
// name does not tell: a numbered generation sorts before the file being
// read, so no later listing takes it for a newer one, and a quiet log may
// see no rotation for a day. So an ended generation stays watched: its
// descriptor is kept open (its inode cannot be taken by another file
// meanwhile), on Linux with the file's inotify watch, and it is looked at
// (one fstat) at every safety look and rescan as well, the net where events
// do not arrive and the only look elsewhere. Bytes past where reading
// stopped, after the bytes read there, are read on from there, under the
// stream its watch was announced as: a checkpoint keeps that stream's
// position, so a restart reads from it what was appended while it was
// down and watches the file again.
//
// Bounded: at most endedKept generations of each followed path, and
// endedTotal in all (the one changed longest ago goes first: a writer
// that never reopens keeps its file the one changed last), each until it
// is deleted, rewritten, or left unchanged for endedFor. One that goes
// over a cap while it still exists is said once as a warning and counted
// (GenerationsUnwatched); one left unchanged that long is the normal end
// of every rotated file, said at Info and not counted. Only files read under
// their own identity are watched, and only with bytes read: a copy of a
// copytruncate has no writer, and an empty file no bytes to be told by.

const (
	// endedKept bounds the ended generations watched per followed path:
	// a lazy writer appends to the newest, and one that never reopens to
	// the one changed last.
	endedKept = 4
	// endedFor is how long an ended generation left unchanged is watched.
	endedFor = 24 * time.Hour
	// endedTotal bounds the ended generations watched in all: each holds
	// a descriptor and an inotify watch, and a pattern may match
	// thousands of files.
	endedTotal = 1024
)

// endedGen is an ended generation watched for late lines.
type endedGen struct {
	f    *os.File
	key  string // the stream announced for it (Batch.Key)
	name string // the name it was last seen under
	log  string // the followed path it was rotated from
	id   FileID // as its lines were handed on
	dev  uint64
	ino  uint64
	// mark is where reading stopped: the same mark the generations read
	// after it hold (readBefore), moved on as late lines are read, so a
	// listing that finds it later reads neither those lines again nor
	// from its start.
	mark    *readMark
	wd      int       // its file's watch, one of watchRefs; -1 for none
	changed time.Time // its modification time as last seen
	due     bool
}

// GenerationsUnwatched counts the ended generations no longer watched for
// late lines while they still existed because a cap was reached.
func (f *Follower) GenerationsUnwatched() uint64 { return f.unwatched.Load() }

// watchEnded keeps t, a drained generation that ended, watched for late
// lines, taking its file and its watch, and reports whether it did.
func (f *Follower) watchEnded(ctx context.Context, t *tailer) bool {
	if !t.keep || t.f == nil || t.left == nil || t.ino == 0 || t.id.Dev != t.dev || t.id.Ino != t.ino {
		return false
	}
	m := t.left
	if m.end == 0 || m.id.FingerprintLen == 0 || f.followingFile(FileID{Dev: t.dev, Ino: t.ino}) {
		return false
	}
	st, err := t.f.Stat()
	if err != nil {
		return false
	}
	if links, known := linkCount(st); known && links == 0 {
		return false // deleted: no one else can read what is written to it
	}
	f.dropEnded(ctx, func(e *endedGen) bool { return e.dev == t.dev && e.ino == t.ino }, "")
	name := nameOf(cmp.Or(t.log, t.path), FileID{Dev: t.dev, Ino: t.ino})
	e := &endedGen{
		f: t.f, name: cmp.Or(name, t.path), log: cmp.Or(t.log, t.path), id: t.id,
		dev: t.dev, ino: t.ino, mark: m, wd: t.wd, changed: st.ModTime(),
	}
	f.gen++
	e.key = fmt.Sprintf("%s#%d:%d#%d", e.name, e.dev, e.ino, f.gen)
	t.wd = -1 // the watch is e's now
	f.ended = append(f.ended, e)
	// Announced at where reading stopped, and at its end: a checkpoint
	// keeps its position (a restart reads on from it). Drained: a reader
	// merging by time waits for nothing from it. Taken for a file that
	// had just reached its end, each one watched held every other file's
	// events idleSettle (pipeline's order.go), and a catch-up over many
	// generations had them held all along.
	f.send(ctx, Batch{Key: e.key, Path: e.name, Log: e.log, ID: e.id, Offset: m.end, Size: m.end})
	f.send(ctx, Batch{Key: e.key, Path: e.name, Log: e.log, ID: e.id, Offset: m.end, Size: m.end, Idle: true, Drained: true})
	f.log.Debug("watching a drained file for lines written to it late", "path", e.name, "offset", m.end)
	f.capEnded(ctx, e.log)
	return true
}

// capEnded unwatches the ended generations of log changed longest ago
// beyond endedKept, and then those of any log beyond endedTotal.
func (f *Follower) capEnded(ctx context.Context, log string) {
	for {
		var of []*endedGen
		for _, e := range f.ended {
			if e.log == log {
				of = append(of, e)
			}
		}
		if len(of) <= endedKept {
			break
		}
		f.dropOldestEnded(ctx, of, fmt.Sprintf("more than %d rotated files of the log are watched; the one changed longest ago goes", endedKept))
	}
	for len(f.ended) > f.endedTotal {
		f.dropOldestEnded(ctx, f.ended, fmt.Sprintf("more than %d rotated files are watched in all; the one changed longest ago goes", f.endedTotal))
	}
}

// dropOldestEnded unwatches the one of of changed longest ago.
func (f *Follower) dropOldestEnded(ctx context.Context, of []*endedGen, why string) {
	oldest := slices.MinFunc(of, func(a, b *endedGen) int { return a.changed.Compare(b.changed) })
	f.dropEnded(ctx, func(e *endedGen) bool { return e == oldest }, why)
}

// dropEnded stops watching the ended generations gone says, ending their
// streams. why, when not empty, is why one that still exists goes: said,
// and counted.
func (f *Follower) dropEnded(ctx context.Context, gone func(*endedGen) bool, why string) {
	f.ended = slices.DeleteFunc(f.ended, func(e *endedGen) bool {
		if !gone(e) {
			return false
		}
		if why != "" {
			f.unwatched.Add(1)
			f.log.Warn("no longer watching a rotated file read to its end: lines written to it from now on are not read", "path", e.name, "log", e.log, "why", why)
		}
		f.releaseEnded(e)
		e.f.Close()
		f.send(ctx, Batch{Key: e.key, Path: e.name, Log: e.log, ID: e.id, Offset: e.mark.end, Size: e.mark.end, Ended: true})
		return true
	})
}

// releaseEnded drops e's share of its file's watch.
func (f *Follower) releaseEnded(e *endedGen) {
	if e.wd < 0 || f.events == nil {
		return
	}
	if f.watchRefs[e.wd]--; f.watchRefs[e.wd] <= 0 {
		delete(f.watchRefs, e.wd)
		f.events.unwatch(e.wd)
	}
	e.wd = -1
}

// markEnded marks the ended generations to look at: those whose watch saw
// events (every one when events were lost, or at a safety look or a
// rescan: every).
func (f *Follower) markEnded(changed map[int]bool, every bool) {
	for _, e := range f.ended {
		if every || e.wd >= 0 && changed[e.wd] {
			e.due = true
		}
	}
}

// lookEnded looks at the ended generations due: one written to past where
// reading stopped is read on from there; one deleted, rewritten or
// unchanged for endedFor is no longer watched.
func (f *Follower) lookEnded(ctx context.Context) {
	// Asked at every pass of Run's loop: most find none due, and copy
	// nothing. The due ones are taken first, as looking drops some.
	var due []*endedGen
	for _, e := range f.ended {
		if e.due {
			e.due = false
			due = append(due, e)
		}
	}
	now := time.Now()
	for _, e := range due {
		st, err := e.f.Stat()
		if err != nil {
			continue
		}
		links, known := linkCount(st)
		switch size := st.Size(); {
		case size > e.mark.end && e.holds():
			f.resumeEnded(ctx, e)
		case size != e.mark.end:
			// Unchanged in size, it is not read: one fstat a look. A rewrite
			// to the same size is told when it grows (holds, above).
			f.log.Info("a rotated file read to its end was truncated or rewritten; it is no longer watched", "path", e.name)
			f.dropEnded(ctx, func(o *endedGen) bool { return o == e }, "")
		case known && links == 0:
			f.log.Debug("a watched rotated file was deleted", "path", e.name, "links", links, "size", st.Size(), "end", e.mark.end, "ino", e.ino)
			f.dropEnded(ctx, func(o *endedGen) bool { return o == e }, "")
		case now.Sub(st.ModTime()) >= f.endedFor:
			// Every rotated file of a daily rotation ends so: said at Info
			// and not counted, which a daily warning would make noise of.
			f.log.Info("no longer watching a rotated file read to its end: unchanged for a long while", "path", e.name, "for", f.endedFor)
			f.dropEnded(ctx, func(o *endedGen) bool { return o == e }, "")
		default:
			e.changed = st.ModTime()
		}
	}
}

// holds reports whether e's file still starts as it did and holds, just
// before where reading stopped, the bytes read there.
func (e *endedGen) holds() bool {
	return sameStart(e.f, e.mark.id) && e.mark.holdsWhatWasRead(e.f)
}

// resumeEnded reads e's late lines: a tailer of its file from where
// reading stopped, under e's stream, draining.
func (f *Follower) resumeEnded(ctx context.Context, e *endedGen) {
	f.ended = slices.DeleteFunc(f.ended, func(o *endedGen) bool { return o == e })
	seen, err := sight(e.f)
	if err != nil || f.followingFile(seen.id) {
		f.releaseEnded(e)
		e.f.Close()
		f.send(ctx, Batch{Key: e.key, Path: e.name, Log: e.log, ID: e.id, Offset: e.mark.end, Size: e.mark.end, Ended: true})
		return
	}
	if name := nameOf(e.log, FileID{Dev: e.dev, Ino: e.ino}); name != "" {
		e.name = name
	}
	f.log.Info("reading lines written to a rotated file after it was read to its end", "path", e.name, "offset", e.mark.end)
	n := f.addTailer(e.f, e.name, seen.id, e.mark.end, &seen)
	f.takeEnded(n, e)
	// Drained as a file just left: its writer may go on a while.
	n.leftAt = time.Now()
}

// takeEnded makes n, a new tailer of e's file, read on under e's stream
// and move e's mark on, and drops e's watch (n has its own by now).
func (f *Follower) takeEnded(n *tailer, e *endedGen) {
	n.key, n.left, n.log = e.key, e.mark, e.log
	n.draining = true
	f.releaseEnded(e)
}

// endedOf finds the watched ended generation of the file seen (nil when
// there is none); the caller takes it from the watch.
func (f *Follower) endedOf(id FileID) *endedGen {
	i := slices.IndexFunc(f.ended, func(e *endedGen) bool { return e.dev == id.Dev && e.ino == id.Ino && id.Ino != 0 })
	if i < 0 {
		return nil
	}
	return f.ended[i]
}

// closeEnded closes the ended generations' files as the follower stops.
func (f *Follower) closeEnded() {
	for _, e := range f.ended {
		e.f.Close()
	}
	f.ended = nil
}
