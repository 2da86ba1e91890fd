package main

// An idle watch gives memory back: once the files have been quiet for
// releaseAfter (the pipeline calls WatchOptions.Idle after 2 s; the rest
// is waited here), free memory goes to the operating system, the
// pages of code it touched leave its resident set (codepages_linux.go) and
// the collector runs at a lower GOGC. Process-wide runtime settings are
// the command's to change, never a library package's.

import (
	"runtime/debug"
	"sync"
	"time"
)

// idleGCPercent is GOGC while idle: the heap may grow a fifth over what is
// live before a collection, rather than double. Collections are then more
// frequent, but an idle watch allocates little (~50 kB/s, mostly the
// follower's rotation checks, and 100-200 kB per metrics scrape): with
// 10,000 users, one every 20-30 s at ~5 ms of CPU.
const idleGCPercent = 20

// idleGC lowers GOGC, a process-wide setting, while a watcher is idle after
// releasing memory, and restores it when data comes or the watcher stops.
// With several watchers in one process (tests), it stays lowered while any
// of them is idle.
var idleGC struct {
	sync.Mutex
	idle int // watchers idle
	busy int // GOGC before the first of them went idle
}

// releaseWhenIdle is the watch's WatchOptions.Idle: so what an idle
// process still allocates (metrics scrapes, polls) does not grow the heap
// back to twice the history's size, and the peak of a caught-up backlog
// goes back to the operating system. The release itself waits for
// releaseAfter of quiet (idleRelease).
func releaseWhenIdle(idle bool) {
	if idle {
		idleGCBegin()
		idleRelease.schedule()
		return
	}
	idleRelease.cancel()
	idleGCEnd()
}

// releaseAfter is how long a watch stays idle before it gives memory and
// code pages back. A release costs ~6 ms of CPU (a forced collection, the
// scavenger, and the code paged in again at the next burst), and the
// watcher calls itself idle after 2 s without data: a log writing a line
// every few seconds would pay it at each line, several times the idle CPU
// target. After 30 s of quiet it costs at most 0.02% of a core.
const releaseAfter = 30 * time.Second

// idleRelease runs release once the process has been idle releaseAfter;
// data coming first cancels it.
var idleRelease = delayedRelease{after: releaseAfter, release: func() {
	debug.FreeOSMemory()
	releaseCodePages()
}}

type delayedRelease struct {
	mu      sync.Mutex
	after   time.Duration
	release func()
	timer   *time.Timer
}

func (d *delayedRelease) schedule() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil {
		d.timer = time.AfterFunc(d.after, d.fire)
	}
}

func (d *delayedRelease) fire() {
	d.mu.Lock()
	d.timer = nil
	d.mu.Unlock()
	d.release()
}

func (d *delayedRelease) cancel() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func idleGCBegin() {
	idleGC.Lock()
	defer idleGC.Unlock()
	if idleGC.idle++; idleGC.idle == 1 {
		idleGC.busy = debug.SetGCPercent(idleGCPercent)
		if idleGC.busy < idleGCPercent { // GOGC=off (-1) or lower already: the user's choice
			debug.SetGCPercent(idleGC.busy)
		}
	}
}

func idleGCEnd() {
	idleGC.Lock()
	defer idleGC.Unlock()
	if idleGC.idle--; idleGC.idle == 0 {
		debug.SetGCPercent(idleGC.busy)
	}
}
