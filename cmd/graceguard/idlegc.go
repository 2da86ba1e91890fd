package main

// An idle watch gives memory back: after the files go quiet (the pipeline
// calls WatchOptions.Idle), free memory goes to the operating system, the
// pages of code it touched leave its resident set (codepages_linux.go) and
// the collector runs at a lower GOGC. Process-wide runtime settings are
// the command's to change, never a library package's.

import (
	"runtime/debug"
	"sync"
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
// goes back to the operating system.
func releaseWhenIdle(idle bool) {
	if idle {
		idleGCBegin()
		debug.FreeOSMemory()
		releaseCodePages()
		return
	}
	idleGCEnd()
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
