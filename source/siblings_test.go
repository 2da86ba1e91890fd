package source

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Several files a glob matches in one directory, restarted from a
// checkpoint that names each: each is followed at its own path for as
// long as it is there, lines written long after the restart included.
// None is taken for another's generation rotated while graceguard was
// down, drained, and dropped once quiet.
func TestFollowRestartedOverSeveralFilesFollowsEach(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			a := newWriter(t, filepath.Join(dir, "a.log"), "a")
			b := newWriter(t, filepath.Join(dir, "b.log"), "b")
			a.write(5)
			b.write(5)
			opt := Options{Patterns: []string{filepath.Join(dir, "*.log")}, PollOnly: m.pollOnly, DrainQuiet: 50 * time.Millisecond}
			saved := stopAndSave(t, opt, 10)
			if len(saved) != 2 {
				t.Fatalf("saved %v", saved)
			}
			opt.Positions = saved
			c, _, _ := follow(t, opt)
			a.write(5)
			b.write(5)
			c.waitLines(t, 10)
			c.waitIdle(t)
			// Longer than a drain's quiet: a file taken for a rotated
			// generation would be closed by now.
			time.Sleep(4 * opt.DrainQuiet)
			a.write(5)
			b.write(5)
			a.close()
			b.close()
			c.waitLines(t, 20)
			time.Sleep(50 * time.Millisecond) // any duplicate
			c.checkEachOnceInOrderFrom(t, map[string][2]int{"a": {5, 15}, "b": {5, 15}})
		})
	}
}

// checkEachOnceInOrder asserts that, for each prefix, lines 0..n-1 came
// once each and in order, and that nothing else came.
func (c *collector) checkEachOnceInOrder(t *testing.T, want map[string]int) {
	t.Helper()
	from := map[string][2]int{}
	for prefix, n := range want {
		from[prefix] = [2]int{0, n}
	}
	c.checkEachOnceInOrderFrom(t, from)
}

// checkEachOnceInOrderFrom is checkEachOnceInOrder for lines [from, to) of
// each prefix.
func (c *collector) checkEachOnceInOrderFrom(t *testing.T, want map[string][2]int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	got := map[string][]string{}
	total := 0
	for _, l := range c.order {
		prefix, _, _ := strings.Cut(l, " ")
		got[prefix] = append(got[prefix], l)
	}
	for prefix, r := range want {
		var w []string
		for i := r[0]; i < r[1]; i++ {
			w = append(w, fmt.Sprintf("%s %06d", prefix, i))
		}
		if fmt.Sprint(got[prefix]) != fmt.Sprint(w) {
			t.Errorf("%s: read %d lines %v\nwant %d lines %v", prefix, len(got[prefix]), got[prefix], len(w), w)
		}
		total += len(w)
	}
	if len(c.order) != total {
		t.Errorf("read %d lines, want %d: %q", len(c.order), total, c.order)
	}
}
