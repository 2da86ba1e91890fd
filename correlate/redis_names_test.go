package correlate

import (
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A copytruncate keeps the file's identity and starts its offsets at 0
// again, so a new record can be logged at an old record's offset. The
// shared store names what it learns by where it was logged, to learn a
// re-read line once; a new record there must still be a new event, or its
// reuse is taken as one already counted (issue 13).
func TestNewRecordAtAnOldOffsetIsANewEvent(t *testing.T) {
	forEachStore(t, Limits{}, func(t *testing.T, store Store) {
		at := func(d time.Duration, raw string) parser.Event {
			e := ev(parser.KindGraceReuse, d, "192.0.2.66")
			e.SourceID, e.Offset, e.Raw = "8:1234", 0, raw
			return e
		}
		before := at(0, "[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - first")
		after := at(time.Minute, "[2026-11-23 10:01:00,000][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - after the copytruncate")
		rs := reuses(run(t, store, before, after))
		if len(rs) != 2 {
			t.Fatalf("judged %d reuses, want 2", len(rs))
		}
		if got := rs[1].Reuses10m; got != 2 {
			t.Errorf("the reuse logged at the offset of one before the copytruncate counted %d reuses in 10 minutes, want 2", got)
		}
	})
}
