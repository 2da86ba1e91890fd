package pipeline

import "time"

// idleRelease is how long the files stay quiet before a watcher reports
// itself idle (WatchOptions.Idle): a sidecar that caught up on a backlog
// should not keep its peak size for ever, but a pause between bursts is no
// reason to give memory back.
const idleRelease = 2 * time.Second

// How often a watcher releases what waits, checkpoints and flushes: while
// reading, and once idle while something still waits on the wall clock.
const (
	busyTick = 50 * time.Millisecond
	idleTick = time.Second
)

// tickEvery is the watcher's tick now. Once the files have gone quiet
// (released) with nothing waiting on the wall clock and the checkpoint
// written, there is nothing for a tick to do: it stops (0), and the watcher
// sleeps until a batch, a reload or the end wakes it. Every tick of an idle
// watch is a wake of the process (and of the Go runtime's monitor), which
// is most of what an idle watch costs.
func (w *Watcher) tickEvery() time.Duration {
	switch {
	case !w.released:
		return busyTick
	case w.waitsOnClock() || w.opt.StateDir != "" && w.changed:
		return idleTick
	default:
		return 0
	}
}

// waitsOnClock says whether something waits for wall-clock time to pass
// rather than for data: reuses held for the other replicas (Settle), events
// queued behind a source that sends nothing, ended sources still merging,
// token events waiting for their proxy records (attribution's wall-clock
// bound), files a checkpoint kept events of and not read yet (restoredWait),
// what a store learned while its shared part was down, written
// back by the tick's flush once it is up, and a file gone quiet less than
// twinWait ago, whose last refresh waits for it (sourceClock).
func (w *Watcher) waitsOnClock() bool {
	if wb, ok := w.store.(writingBack); ok && wb.WriteBackPending() > 0 {
		return true
	}
	if w.quieting() {
		return true
	}
	// A file the checkpoint kept events of and this run has not read holds
	// them for restoredWait of wall time (held.go): a tick must come after
	// it, or they wait for the next line of any file.
	return len(w.held) > 0 || w.queued > 0 || len(w.ending) > 0 || w.attr.Waiting() || len(w.unseen) > 0
}

// writingBack is a store that keeps what its shared part did not get, for
// its Flush to write back.
type writingBack interface {
	WriteBackPending() int
}

// goneIdle is called from the tick: once the files have been quiet for
// idleRelease and the last checkpoint since then is written (its encoding
// is garbage worth returning too), the watcher drops what only a busy
// watcher needs and reports itself idle.
func (w *Watcher) goneIdle() {
	if w.released || w.opt.now().Sub(w.busyAt) < idleRelease || w.opt.StateDir != "" && w.changed {
		return
	}
	w.released = true
	w.attr.Idle()
	if w.opt.Idle != nil {
		w.opt.Idle(true)
	}
}

// busyAgain is called when data comes: the idle hook hears of it first.
func (w *Watcher) busyAgain() {
	if w.released && w.opt.Idle != nil {
		w.opt.Idle(false)
	}
	w.busyAt, w.released = w.opt.now(), false
}

// quieting says whether a file went quiet less than twinWait before the
// last tick looked at what waits (lookedAt): the refreshes it has waiting
// are committed at the first tick that looks once that has passed. The
// watcher may report itself idle sooner (its last batch took longer than
// idleRelease to judge, or the idle batch came late), and a stopped tick
// would leave them waiting for the next line of any file. Not by the time
// now: the tick that went idle looked a moment before twinWait had passed
// and the rest of it (a checkpoint, on a loaded machine) took it past; by
// now the tick stopped with the refresh it had not committed still
// waiting, until the next line of any file.
func (w *Watcher) quieting() bool {
	for _, s := range w.streams {
		if s.idle && w.lookedAt.Sub(s.idleSince) < w.twinWait() {
			return true
		}
	}
	return false
}
