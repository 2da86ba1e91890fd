package respond

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterWindowsSlideAndMemoryIsBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l := newLimiter(Limit{N: 1, Per: 10 * time.Minute}, Limit{N: 2, Per: time.Minute})
	steps := []struct {
		user string
		at   time.Duration
		ok   bool
		kind string
	}{
		{"a", 0, true, ""},
		{"a", time.Minute, false, "per_user"},
		{"b", 2 * time.Minute, true, ""},
		{"c", 2*time.Minute + time.Second, true, ""},
		{"d", 2*time.Minute + 2*time.Second, false, "overall"},
		{"d", 4 * time.Minute, true, ""},
		{"a", 10 * time.Minute, true, ""},
	}
	for _, s := range steps {
		ok, kind, _ := l.allow(s.user, t0.Add(s.at))
		if ok != s.ok || kind != s.kind {
			t.Errorf("%s at %s: %v %q, want %v %q", s.user, s.at, ok, kind, s.ok, s.kind)
		}
	}
	l = newLimiter(Limit{N: 1, Per: time.Hour}, Limit{})
	l.maxUsers = 3
	for i := range 5 {
		l.allow(fmt.Sprintf("u%d", i), t0.Add(time.Duration(i)*time.Second))
	}
	if len(l.users) != 3 || l.evicted != 2 || l.users["u0"] != nil || l.users["u4"] == nil {
		t.Errorf("users %v, evicted %d: want the 3 latest, 2 evicted", l.users, l.evicted)
	}
	if len(l.all) != 0 {
		t.Errorf("no overall limit, yet %d times kept", len(l.all))
	}
}

// A released revocation that was the user's only one leaves nothing of the
// user behind: an empty entry took a place among maxUsers and its later
// eviction was counted as one of a user the limiter remembered.
func TestLimiterReleaseForgetsAUserLeftWithNothing(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	l := newLimiter(Limit{N: 1, Per: time.Hour}, Limit{N: 5, Per: time.Minute})
	l.maxUsers = 2
	l.allow("a", t0)
	l.release("a", t0)
	l.allow("b", t0.Add(time.Second))
	l.allow("c", t0.Add(2*time.Second))
	if len(l.users) != 2 || l.evicted != 0 || len(l.all) != 2 {
		t.Errorf("users %v, evicted %d, overall %d: want b and c, none evicted, 2 counted", l.users, l.evicted, len(l.all))
	}
}
