package pipeline

import (
	"testing"
	"time"

	"github.com/graceguard/graceguard/rules"
)

// An idle watcher ticks only while something waits on the wall clock or a
// checkpoint is still to be written; with nothing, it does not tick at all.
func TestWatchTickStopsWhenIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		released bool
		stateDir bool
		changed  bool
		held     bool
		queued   int
		want     time.Duration
	}{
		{"busy", false, true, false, false, 0, busyTick},
		{"idle, nothing waits", true, true, false, false, 0, 0},
		{"idle without a state dir", true, false, true, false, 0, 0},
		{"idle, a checkpoint to write", true, true, true, false, 0, idleTick},
		{"idle, a reuse held for the other replicas", true, false, false, true, 0, idleTick},
		{"idle, events queued behind a silent source", true, false, false, false, 2, idleTick},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt := WatchOptions{Rules: rules.Builtin()}
			if tt.stateDir {
				opt.StateDir = t.TempDir()
			}
			w, err := NewWatcher(opt)
			if err != nil {
				t.Fatal(err)
			}
			w.released, w.changed, w.queued = tt.released, tt.changed, tt.queued
			if tt.held {
				w.held = append(w.held, heldEvent{})
			}
			if got := w.tickEvery(); got != tt.want {
				t.Errorf("tick every %v, want %v", got, tt.want)
			}
		})
	}
}
