package source

import (
	"os"
	"path/filepath"
	"slices"
	"time"
)

// When the follower looks at a file. Events (inotify on Linux) only say
// when to look; what a look finds (new lines, a truncation, a rotation, a
// copy) is decided by the same code whichever woke it, so an event lost,
// late or doubled costs time, never a line.
//
//   - A file's own watch (by inode, so a renamed file still draining keeps
//     it) wakes its tailers: bytes were written, or it was truncated.
//   - A directory's watch wakes every tailer of a path in it and matches
//     the patterns again: a name came or went (rotation, a new file). A
//     path that is a symbolic link into another directory (Kubernetes'
//     /var/log/containers) has that directory watched too, while needed.
//     A directory deleted or renamed away loses its watch; one made again
//     under the name is watched at the rescan that finds it.
//   - Every Safety (1 s) every file is looked at anyway. When that look
//     finds new bytes no event announced, and no event for the file comes
//     by the next safety look (counting those the kernel holds that the
//     reading goroutine, unscheduled on a busy machine, has not read yet),
//     events do not arrive for that file (NFS and other network
//     filesystems, some overlay and FUSE mounts): it and
//     every file in its directory are polled every Poll from then on,
//     which is logged once per directory. A file whose watch cannot be
//     added (out of inotify watches) is polled from the start.
//   - Once every file followed has had an event of its own (they do
//     arrive for it), or is on a local filesystem (ext4, XFS, Btrfs, F2FS,
//     ZFS, tmpfs: this kernel makes every change there and reports it,
//     but for stores through a shared mapping, which the safety look
//     finds; a file's own filesystem counts, as a symbolic link in a local
//     directory may name a file on NFS), and its directory has had events
//     (a linked file's own events do not count: the other way round, a
//     local file may be linked from an NFS directory) or is local too,
//     and every pattern's directory is watched, the
//     safety look backs off, doubling its wait up to SafetyMax (10 s): an
//     idle watch then wakes every 10 s, not every second. Without the
//     local filesystems, a file never written since the start kept an
//     idle watch at a look a second for ever (0.06% of a core on this
//     project's VM against 0.015%; README, Performance); network, cluster,
//     FUSE and overlay filesystems still have to show their events first.
//     A look that finds bytes no event announced, or a file not proven
//     yet, brings it back to Safety at once, so detecting a filesystem
//     without events still takes two looks a Safety apart (on a local
//     filesystem that failed to send them, the first of those looks may
//     be SafetyMax away). Patterns whose directory part is a glob (new
//     directories appear only to a rescan) keep the Safety cadence.
//   - A drained file is looked at when its DrainQuiet is over.
//
// With PollOnly, or outside Linux, every file is looked at every Poll.

// notifier says which watched files and directories changed.
type notifier interface {
	// watchFile watches the file f has open (path names it, for errors).
	watchFile(f *os.File, path string) (int, error)
	watchDir(dir string) (int, error)
	// eventsArrive reports whether path (a directory, or a file: a
	// symbolic link is followed) is on a filesystem whose changes this
	// kernel makes itself, so that its events cannot fail to arrive (a
	// local disk, tmpfs): such a directory counts as proven from its first
	// watch, and such a file in it needs no event of its own.
	eventsArrive(path string) bool
	unwatch(wd int)
	// changes is signalled after events arrived.
	changes() <-chan struct{}
	// take returns the watches that saw events since the last take, and
	// whether events may have been lost (then everything changed).
	take() (changed map[int]bool, all bool)
	// dropped returns the watches the kernel removed since the last call:
	// their directory or file was deleted, or its filesystem unmounted
	// (and those unwatch removed, which the follower no longer knows).
	dropped() []int
	// seen counts the events a watch saw.
	seen(wd int) uint64
	// catchUp counts the events the kernel has sent and the notifier has
	// not read yet (its reader unscheduled on a busy machine), so that a
	// file whose events were only late is not taken for one that has none.
	catchUp()
	close() error
}

// wakeState is a tailer's part of deciding when to look at it.
type wakeState struct {
	wd        int  // its file's watch; -1 for none
	due       bool // look at it now (again, while it reads)
	checkPath bool // also look whether its path names another file now
	polled    bool // events do not arrive for it: look every Poll
	// unannounced: a safety look read bytes no event announced; seenAt is
	// the watch's event count then.
	unannounced bool
	seenAt      uint64
	// suspect: it did, and suspectSeen is the event count then.
	suspect     bool
	suspectSeen uint64
	drainAt     time.Time // when a draining file has been quiet long enough
	// targetDir is the directory of the file its path, a symbolic link,
	// names, where that is another directory (watchTarget); "" for none.
	targetDir string
	// localFile: its file is on a filesystem whose events arrive. Its
	// directory's being on one does not say so: a symbolic link in an ext4
	// directory may name a file on NFS. eventSeen: an event came for it.
	localFile, eventSeen bool
	// linked: its path is a symbolic link to a file in another
	// directory, so its events say nothing of the link's directory.
	linked bool
}

// startEvents opens the notifier, or leaves the follower polling.
func (f *Follower) startEvents() {
	if f.opt.PollOnly {
		return
	}
	n, err := f.newNotifier()
	if err != nil {
		f.log.Info("file events unavailable; polling files", "every", f.opt.Poll, "err", err)
		return
	}
	f.events = n
	f.safetyEvery = f.opt.Safety
	f.nextSafety = time.Now().Add(f.opt.Safety)
	for _, t := range f.tailers {
		f.watch(t)
	}
}

func (f *Follower) stopEvents() {
	if f.events != nil {
		f.events.close()
	}
}

// watch adds the watches a new tailer needs: its file's, and its
// directory's. Where one cannot be added the file is polled.
func (f *Follower) watch(t *tailer) {
	t.wd, t.due, t.checkPath, t.eventSeen, t.linked = -1, true, true, false, false
	if f.events == nil {
		return
	}
	dir := filepath.Dir(t.path)
	if f.pollDirs[dir] {
		t.polled = true
		return
	}
	wd, err := f.events.watchFile(t.f, t.path)
	if err == nil {
		_, err = f.watchDir(dir)
	}
	if err != nil {
		f.pollDir(dir, "file events cannot be watched here; polling", err)
		t.polled = true
		return
	}
	t.wd = wd
	t.localFile = f.events.eventsArrive(t.path)
	f.watchTarget(t, dir)
	f.watchRefs[wd]++
	if !f.proven[dir] || !t.localFile {
		f.safetyBack(time.Now())
	}
}

// safetyBack brings the safety look back to every Safety, the next one at
// most Safety away: a file's events are in doubt.
func (f *Follower) safetyBack(now time.Time) {
	f.safetyEvery = f.opt.Safety
	f.nextSafety = earlier(f.nextSafety, now.Add(f.opt.Safety))
}

// mayBackOff says whether the safety look may slow down: events have been
// seen in the directory of every file looked at by events, or it is on a
// local filesystem, and so is the file or an event came for it; and every
// pattern's directory is watched (so a new file is announced, not found by
// a rescan).
func (f *Follower) mayBackOff() bool {
	for _, p := range f.opt.Patterns {
		if p == "-" {
			continue
		}
		dir := filepath.Dir(p)
		if _, watched := f.dirWatch[dir]; !watched || hasMeta(dir) || f.pollDirs[dir] {
			return false
		}
	}
	for _, t := range f.tailers {
		if !t.polled && (t.wd < 0 || !f.proven[filepath.Dir(t.path)] || !(t.localFile || t.eventSeen)) {
			return false
		}
	}
	return true
}

// prove notes the directories events were seen in: a file's or the
// directory's own watch. A linked file's events prove only itself: a
// local file linked from an NFS directory says nothing of the files
// another machine makes there.
func (f *Follower) prove(changed map[int]bool) {
	for wd := range changed {
		if dir, ok := f.watchDirs[wd]; ok {
			f.proven[dir] = true
		}
	}
	for _, t := range f.tailers {
		if t.wd >= 0 && changed[t.wd] {
			if !t.linked {
				f.proven[filepath.Dir(t.path)] = true
			}
			t.eventSeen = true
		}
	}
}

// watchDir watches dir once; a failure is tried again at the next rescan.
func (f *Follower) watchDir(dir string) (int, error) {
	if wd, ok := f.dirWatch[dir]; ok {
		return wd, nil
	}
	wd, err := f.events.watchDir(dir)
	if err != nil {
		return -1, err
	}
	f.dirWatch[dir] = wd
	f.watchDirs[wd] = dir
	if f.events.eventsArrive(dir) {
		f.proven[dir] = true
	}
	return wd, nil
}

// watchPatternDirs watches the directories a pattern's new files would be
// created in, when they can be named without matching.
func (f *Follower) watchPatternDirs() {
	if f.events == nil {
		return
	}
	for _, p := range f.opt.Patterns {
		if dir := filepath.Dir(p); p != "-" && !hasMeta(dir) && !f.pollDirs[dir] {
			_, _ = f.watchDir(dir) // it may not exist yet: the rescan tries again
		}
	}
}

func (f *Follower) pollDir(dir, why string, err error) {
	if !f.pollDirs[dir] {
		f.pollDirs[dir] = true
		f.log.Warn(why, "dir", dir, "every", f.opt.Poll, "err", err)
	}
}

// watchTarget watches the directory of the file t's path names when the
// path is a symbolic link into another directory, as Kubernetes'
// /var/log/containers/*.log are into /var/log/pods: a rotation there (the
// file renamed, a new one made a moment later) makes no event in dir, and
// the new file would wait for the next safety look (up to SafetyMax).
func (f *Follower) watchTarget(t *tailer, dir string) {
	if fi, err := os.Lstat(t.path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return
	}
	resolved, err := filepath.EvalSymlinks(t.path)
	if err != nil {
		return
	}
	target := filepath.Dir(resolved)
	if realDir, err := filepath.EvalSymlinks(dir); err != nil || realDir == target {
		return
	}
	t.linked = true
	if _, err := f.watchDir(target); err != nil {
		return // the safety look still finds the new file
	}
	t.targetDir = target
	f.targetRefs[target]++
}

// unwatchTarget drops the watch of t's link target's directory when no
// other tailer needs it: a central watcher over /var/log/containers sees
// pods (each a directory) come and go all day, and its watches and maps
// must not grow with them.
func (f *Follower) unwatchTarget(t *tailer) {
	dir := t.targetDir
	if dir == "" {
		return
	}
	t.targetDir = ""
	if f.targetRefs[dir]--; f.targetRefs[dir] > 0 {
		return
	}
	delete(f.targetRefs, dir)
	for _, p := range f.opt.Patterns {
		if filepath.Dir(p) == dir {
			return
		}
	}
	for _, o := range f.tailers {
		if filepath.Dir(o.path) == dir {
			return
		}
	}
	f.forgetDirName(dir)
}

// forgetDirName stops watching the directory by the name dir. inotify
// gives one watch to one directory whatever it is called: a pattern may
// name the same directory through a symbolic link, and the watch stays
// while another name has it.
func (f *Follower) forgetDirName(dir string) {
	wd, ok := f.dirWatch[dir]
	if !ok {
		return
	}
	delete(f.dirWatch, dir)
	delete(f.proven, dir)
	for other, w := range f.dirWatch {
		if w == wd {
			f.watchDirs[wd] = other
			return
		}
	}
	delete(f.watchDirs, wd)
	f.events.unwatch(wd)
}

// unwatch drops an ended tailer's watch when no other tailer reads its
// file (after a copytruncate two tailers share the inode).
func (f *Follower) unwatch(t *tailer) {
	if f.events == nil {
		return
	}
	f.unwatchTarget(t)
	if t.wd < 0 {
		return
	}
	f.watchRefs[t.wd]--
	if f.watchRefs[t.wd] <= 0 {
		delete(f.watchRefs, t.wd)
		f.events.unwatch(t.wd)
	}
	t.wd = -1
}

// markDue marks the tailers to look at now, and reports whether the
// patterns are to be matched again (a directory changed).
func (f *Follower) markDue(now time.Time) (rescan bool) {
	if f.events == nil {
		if f.pollDue(now) {
			for _, t := range f.tailers {
				t.due, t.checkPath = true, true
			}
		}
		return false
	}
	safety := f.safetyDue(now)
	// The patterns are matched again at safety looks (when Rescan is no
	// shorter), not at a timer of their own: one wake a second when idle.
	rescan = safety && f.opt.Rescan >= f.opt.Safety
	// Before take: a watch's IN_IGNORED comes after its last events, so
	// those are all among the changes taken next.
	dropped := f.events.dropped()
	changed, all := f.events.take()
	f.prove(changed)
	poll := f.pollDue(now)
	for wd := range changed {
		if _, ok := f.watchDirs[wd]; ok {
			rescan = true
		}
	}
	for _, t := range f.tailers {
		f.markTailer(t, now, changed, all, safety, poll)
	}
	f.markEnded(changed, all || safety)
	// Forgotten after the tailers are marked: a directory's last events (a
	// file in it deleted, the directory itself) are among these changes.
	stale := f.replacedDirWatches(changed, all)
	if f.forgetDropped(now, dropped) {
		rescan = true
	}
	if f.forgetNames(now, stale) {
		rescan = true
	}
	return rescan || all
}

func (f *Follower) pollDue(now time.Time) bool {
	if now.Before(f.nextPoll) {
		return false
	}
	f.nextPoll = now.Add(f.opt.Poll)
	return true
}

// safetyDue reports whether it is time for a safety look; then it judges
// the suspects of the last one and counts each file's events before the
// changes are taken: an event that comes between is among the changes,
// one that comes after is counted past seenAt.
func (f *Follower) safetyDue(now time.Time) bool {
	if now.Before(f.nextSafety) {
		return false
	}
	f.judgeSuspects()
	if f.mayBackOff() {
		f.safetyEvery = min(2*f.safetyEvery, max(f.opt.SafetyMax, f.opt.Safety))
	} else {
		f.safetyEvery = f.opt.Safety
	}
	f.nextSafety = now.Add(f.safetyEvery)
	for _, t := range f.tailers {
		if !t.polled && t.wd >= 0 {
			t.seenAt = f.events.seen(t.wd)
		}
	}
	return true
}

func (f *Follower) markTailer(t *tailer, now time.Time, changed map[int]bool, all, safety, poll bool) {
	switch {
	case all || t.wd >= 0 && changed[t.wd]:
		t.due = true
	case safety && !t.due:
		t.due, t.unannounced = true, !t.polled && t.wd >= 0
	}
	if all || f.dirChanged(changed, filepath.Dir(t.path)) || f.dirChanged(changed, t.targetDir) || safety || poll && t.polled {
		t.due, t.checkPath = true, true
	}
	if !t.drainAt.IsZero() && !now.Before(t.drainAt) {
		t.due = true
	}
}

// forgetDropped forgets the watches in gone, which the kernel removed, and
// reports whether a directory's was among them (forgetNames forgets a name
// that holds another directory now). A directory deleted (or renamed)
// and made again under its name is a new directory the old watch does not
// see: kept, it would count as watched, the safety look would back off,
// and every new file there would wait for it. Forgotten, the directory is
// watched again at the rescan that finds it, at Safety meanwhile. A file's
// watch is removed while the file is open only when its filesystem is
// unmounted: the file is then looked at by safety looks alone.
func (f *Follower) forgetDropped(now time.Time, gone []int) (dirGone bool) {
	for _, wd := range gone {
		if _, ok := f.watchDirs[wd]; ok {
			delete(f.watchDirs, wd)
			for name, w := range f.dirWatch {
				if w == wd {
					delete(f.dirWatch, name)
					delete(f.proven, name)
				}
			}
			// The kernel's watch is gone; the notifier forgets it too.
			f.events.unwatch(wd)
			dirGone = true
		}
		if _, ok := f.watchRefs[wd]; ok {
			delete(f.watchRefs, wd)
			for _, t := range f.tailers {
				if t.wd == wd {
					t.wd, t.due = -1, true
				}
			}
			for _, e := range f.ended {
				if e.wd == wd {
					e.wd, e.due = -1, true
				}
			}
		}
	}
	if dirGone {
		f.safetyBack(now)
	}
	return dirGone
}

// replacedDirWatches returns the names of the watched directories that
// saw events (all of them when events were lost) whose watch no longer
// watches the directory the name holds: it was renamed away, or deleted
// (its IN_IGNORED may be among the events a full queue lost), and maybe
// made again. Adding a watch to a directory already watched hands back
// its watch, so each name is asked again; a new watch is dropped again at
// once, the rescan adding it back for a pattern's directory.
func (f *Follower) replacedDirWatches(changed map[int]bool, all bool) []string {
	var stale []string
	for name, wd := range f.dirWatch {
		if !all && !changed[wd] {
			continue
		}
		nwd, err := f.events.watchDir(name)
		if err == nil && nwd == wd {
			continue
		}
		if _, known := f.watchDirs[nwd]; err == nil && !known {
			f.events.unwatch(nwd)
		}
		stale = append(stale, name)
	}
	return stale
}

// forgetNames forgets the watch of each name that no longer reaches its
// directory; the watch itself goes only when no other name reaches it.
func (f *Follower) forgetNames(now time.Time, names []string) bool {
	for _, name := range names {
		f.forgetDirName(name) // nothing when the kernel's drop forgot it already
	}
	if len(names) > 0 {
		f.safetyBack(now)
	}
	return len(names) > 0
}

// dirChanged says whether the watch of dir saw events.
func (f *Follower) dirChanged(changed map[int]bool, dir string) bool {
	wd, ok := f.dirWatch[dir]
	return ok && changed[wd]
}

// looked is told whether a look at t read anything: bytes that a safety
// look found and no event announced make t a suspect, judged at the next
// safety look, a Safety away.
func (f *Follower) looked(t *tailer, read bool) {
	if t.unannounced && read {
		t.suspect, t.suspectSeen = true, t.seenAt
		f.safetyBack(time.Now())
	}
	t.unannounced = false
}

// judgeSuspects polls the files that read bytes no event announced, when
// no event for them has come since: events do not arrive for them.
func (f *Follower) judgeSuspects() {
	if !slices.ContainsFunc(f.tailers, func(t *tailer) bool { return t.suspect }) {
		return
	}
	f.events.catchUp()
	for _, t := range f.tailers {
		if !t.suspect {
			continue
		}
		t.suspect = false
		if t.polled || f.events.seen(t.wd) != t.suspectSeen {
			continue
		}
		dir := filepath.Dir(t.path)
		f.pollDir(dir, "file events do not arrive for files here (a network or overlay filesystem?); polling them", nil)
		for _, o := range f.tailers {
			if filepath.Dir(o.path) == dir {
				o.polled = true
			}
		}
	}
}

// nextLook is when the follower must look again with no event.
func (f *Follower) nextLook(lastScan time.Time) time.Time {
	next := lastScan.Add(f.opt.Rescan)
	if f.events == nil {
		return earlier(next, f.nextPoll)
	}
	if f.opt.Rescan >= f.opt.Safety {
		next = f.nextSafety // rescans come with safety looks
	}
	next = earlier(next, f.nextSafety)
	for _, t := range f.tailers {
		if t.polled {
			next = earlier(next, f.nextPoll)
		}
		if !t.drainAt.IsZero() {
			next = earlier(next, t.drainAt)
		}
	}
	return next
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
