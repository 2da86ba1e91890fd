package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercent reads the GC percentage (setting it is the only way to read it).
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func TestBatchGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	wantPercent, wantLimit := gcPercent(), debug.SetMemoryLimit(-1)

	restore := batchGC(0)
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != -1 || l != scanMemoryLimit {
		t.Errorf("during a scan: GOGC %d, limit %d; want off and %d", p, l, scanMemoryLimit)
	}
	restore()
	restore() // a second call changes nothing
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != wantPercent || l != wantLimit {
		t.Errorf("after: GOGC %d, limit %d; want %d and %d", p, l, wantPercent, wantLimit)
	}

	t.Run("a large live heap brings the usual pacing back", func(t *testing.T) {
		restore := batchGC(0)
		defer restore()
		live := make([]byte, scanMemoryLimit*3/4)
		for i := range live {
			live[i] = 1
		}
		for deadline := time.Now().Add(5 * time.Second); gcPercent() == -1; {
			if time.Now().After(deadline) {
				t.Fatal("GOGC still off with a live heap over half the limit")
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != wantPercent || l != wantLimit {
			t.Errorf("GOGC %d, limit %d; want %d and %d", p, l, wantPercent, wantLimit)
		}
		runtime.KeepAlive(live)
	})

	t.Run("GOGC in the environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "50")
		restore := batchGC(0)
		defer restore()
		if p := gcPercent(); p != wantPercent {
			t.Errorf("GOGC %d, want it left at %d", p, wantPercent)
		}
	})
}
