package pipeline

// An idle watch gives memory back: after the files go quiet, free memory
// goes to the operating system and the collector runs at a lower GOGC.

import (
	"runtime/debug"
	"sync"
	"time"
)

const (
	// idleRelease is how long the files stay quiet before memory is released.
	idleRelease = 2 * time.Second
	// idleGCPercent is GOGC while idle: the heap may grow a fifth over what
	// is live before a collection, rather than double. Collections are then
	// more frequent, but an idle watch allocates little (~50 kB/s, mostly the
	// follower's rotation checks, and 100-200 kB per metrics scrape): with
	// 10,000 users, one every 20-30 s at ~5 ms of CPU.
	idleGCPercent = 20
)

// idleGC lowers GOGC, a process-wide setting, while a watcher is idle after
// releasing memory, and restores it when data comes or the watcher stops.
// With several watchers in one process (tests), it stays lowered while any
// of them is idle.
var idleGC struct {
	sync.Mutex
	idle int // watchers idle
	busy int // GOGC before the first of them went idle
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
