package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A refused refresh another file logged in the millisecond of a replay, and
// merged between the replay's AzSuccess and its [ExpiredRefreshTokenUsed]
// line (its file's name sorts first), must not commit the AzSuccess as the
// user's refresh: the replay would then be judged against the replayer's
// own address and raise nothing. A scan merges by log time: a line still
// inside the pair window is not the refusal's to commit.
func TestRefusalDoesNotCommitAReplaysTwin(t *testing.T) {
	t.Parallel()
	forEachStore(t, Limits{}, func(t *testing.T, store Store) {
		ctx := context.Background()
		c := NewCorrelator(store, 0)
		var got []Context
		judge := func(_ context.Context, ctx *Context) error { got = append(got, copyContext(ctx)); return nil }
		home := ev(parser.KindTokenOK, 0, "198.51.100.40", source("pod-c"))
		twin := ev(parser.KindTokenOK, 5*time.Second, "192.0.2.99", source("pod-c"), thread("t2"), session("s2"))
		refusal := ev(parser.KindTokenFail, 5*time.Second, "203.0.113.9", source("pod-b"), user("uid=Anonymous,o=Tremolo"))
		reuse := ev(parser.KindGraceReuse, 5*time.Second, "192.0.2.99", source("pod-c"), thread("t2"), session("s2"))
		for _, e := range []*parser.Event{&home, &twin, &refusal, &reuse} {
			if err := c.Observe(ctx, e, judge); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Flush(ctx, judge); err != nil {
			t.Fatal(err)
		}
		rs := reuses(got)
		if len(rs) != 1 || rs[0].Prev == nil || rs[0].Prev.IP != home.IP || rs[0].IPSeen {
			t.Fatalf("the replay must be judged against the user's refresh, not its own AzSuccess: %+v", rs)
		}
		if c.Stats().PairedTokenOK != 1 {
			t.Errorf("paired %d, want 1", c.Stats().PairedTokenOK)
		}
	})
}
