package pipeline

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// A copytruncate's copy is read under the inode of the file at the path
// (source's copiedFrom), so the copy's stream and the path's stream share a
// sourceID. sourceClock answers for that name with the stream added first
// (streamNames: the file at the path, read long before the copy was made),
// so when the path's stream is idle the copy's waiting refreshes get the
// far future as their clock: a refresh that is a grace reuse's twin is
// committed (from the thief's address) as soon as another thread's event
// comes between it and its reuse line, and the replay raises nothing. The
// same lines read from a rotated generation with its own inode alert.
func TestCopyKeepsItsOwnClock(t *testing.T) {
	t.Parallel()
	r1 := strings.SplitAfter(tortureReplay(1), "\n")
	r5 := strings.SplitAfter(tortureReplay(5), "\n")
	// The twin, another thread's refresh, then the twin's reuse line.
	data := r1[0] + r1[1] + r5[0] + r1[2]
	noise := "[2026-11-23 09:59:00,000][main] INFO  Startup - nothing to see\n"
	path := source.FileID{Dev: 1, Ino: 9, Fingerprint: "path"}
	for _, tc := range []struct {
		name string
		as   source.FileID // the identity the rest is read under
	}{
		{"a rename's generation, its own inode", source.FileID{Dev: 1, Ino: 10, Fingerprint: "gen"}},
		{"a copytruncate's copy, under the path's inode", source.FileID{Dev: 1, Ino: 9, Fingerprint: "copy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var alerted mismatches
			deliver := alerted.deliver
			// Every look at the clock is a second later: the file at the
			// path has been quiet for twinWait or longer by the time
			// the copy is read, as when a quiet log is rotated.
			var calls atomic.Int64
			base := time.Now()
			now := func() time.Time { return base.Add(time.Duration(calls.Add(1)) * time.Second) }
			w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Deliver: deliver, now: now})
			if err != nil {
				t.Fatal(err)
			}
			in := make(chan source.Batch, 8)
			in <- source.Batch{Key: "p", Path: "app.log", ID: path, Data: []byte(noise)}
			in <- source.Batch{Key: "p", Path: "app.log", ID: path, Offset: int64(len(noise)), Idle: true}
			in <- source.Batch{Key: "c", Path: "app.log.1", ID: tc.as, Offset: int64(len(noise)), Data: []byte(data)}
			in <- source.Batch{Key: "c", Path: "app.log.1", ID: tc.as, Offset: int64(len(noise) + len(data)), Ended: true}
			close(in)
			if err := w.Run(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if got := alerted.take(); got["uid=r1,ou=shadow,o=Tremolo"] != 1 {
				t.Errorf("the replay in the rest alerted %d times, want once (%v)", got["uid=r1,ou=shadow,o=Tremolo"], got)
			}
		})
	}
}
