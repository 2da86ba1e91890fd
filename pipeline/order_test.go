package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/golden"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// tieReplicas are two replicas' logs where a refresh (from the client's new
// address) and the replay of the token it rotated share a millisecond: the
// replay must be judged against that refresh, the one that made its token
// stale, whichever file is named first. The tests name the replay's file so
// that it sorts first: only the order by kind puts the refresh before it.
func tieReplicas() (a, b string) {
	a = refreshLine("10:00:00,000", "203.0.113.1", "fa") +
		refreshLine("10:00:05,000", "198.51.100.40", "fc") +
		refreshLine("10:00:09,000", "198.51.100.40", "fd")
	b = strings.ReplaceAll(reuseLines("10:00:05,000", "192.0.2.99", "fb"), "task-2", "task-7") +
		strings.ReplaceAll(refreshLine("10:00:09,500", "203.0.113.9", "fe"), "task-2", "task-7")
	return a, b
}

func TestScanOrderOfArgumentsDoesNotMatter(t *testing.T) {
	t.Parallel()
	a, b := tieReplicas()
	run := func(inputs ...Input) string {
		_, alerts, err := scan(t, inputs...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(alerts, "\n") + "\n"
	}
	refreshes, replay := Input{Name: "pod-b.log", R: strings.NewReader(a)}, Input{Name: "pod-a.log", R: strings.NewReader(b)}
	ab := run(refreshes, replay)
	refreshes.R, replay.R = strings.NewReader(a), strings.NewReader(b)
	ba := run(replay, refreshes)
	if ab != ba {
		t.Fatalf("scan a b and scan b a differ:\n--- a b\n%s--- b a\n%s", ab, ba)
	}
	if !strings.Contains(ab, "192.0.2.99 198.51.100.40") {
		t.Errorf("the replay must be judged against the refresh of the same millisecond (previous address 198.51.100.40):\n%s", ab)
	}
	golden.Check(t, "testdata/scan-tie.golden", []byte(ab))
}

// watch breaks a same-millisecond tie across files as scan does, whichever
// file it reads first.
func TestWatchBreaksTiesAsScanDoes(t *testing.T) {
	t.Parallel()
	a, b := tieReplicas()
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "pod-b.log"), filepath.Join(dir, "pod-a.log") // refreshes, replay
	for p, data := range map[string]string{pa: a, pb: b} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := scanFiles(t, []string{pa, pb})
	if len(want) == 0 || !strings.Contains(want[0], "prev=198.51.100.40") {
		t.Fatalf("scan found %q: want the replay judged against the refresh of its millisecond", want)
	}
	for _, order := range [][]string{{pa, pb}, {pb, pa}} {
		got := feedInTurn(t, order, WatchOptions{})
		if !slices.Equal(got, want) {
			t.Errorf("reading %s first: watch found\n%s\nscan found\n%s", filepath.Base(order[0]), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// A restart with generations to read announces them and the file at the
// path, each waiting for the one before (source.Batch.Behind): the oldest's
// events pass at once, as nothing can come before them. Held for the
// others (announced, never read), they waited for a stall and filled the
// merge queue, and catching up crawled with 50,000 events in every
// checkpoint.
func TestWatchDoesNotHoldAGenerationForThoseWaitingBehindIt(t *testing.T) {
	t.Parallel()
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Deliver: func(context.Context, []alert.Alert) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	oldest := source.FileID{Dev: 1, Ino: 3, Fingerprint: "oldest"}
	var data strings.Builder
	for i := range 20 {
		data.WriteString(refreshLine(fmt.Sprintf("10:00:%02d,000", i), "203.0.113.1", fmt.Sprintf("f%d", i)))
	}
	for _, b := range []source.Batch{
		{Key: "g2", Path: "app.log.2", ID: oldest, Offset: 100},
		{Key: "g1", Path: "app.log.1", ID: source.FileID{Dev: 1, Ino: 4, Fingerprint: "next"}, Behind: "g2"},
		{Key: "p", Path: "app.log", ID: source.FileID{Dev: 1, Ino: 5, Fingerprint: "now"}, Behind: "g1"},
		{Key: "g2", Path: "app.log.2", ID: oldest, Offset: 100, Data: []byte(data.String())},
	} {
		if err := w.handle(context.Background(), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w.queued != 0 {
		t.Errorf("%d events of the oldest generation wait in the merge for generations behind it", w.queued)
	}
}

// Two generations of one log (a rotated file still being read and the
// file now at its path) are one stream of lines: OpenUnison wrote the old
// one's to the end before the new one's first, on the same threads. Lines
// of the two stamped in the same millisecond must go in that order, not by
// their offsets, which are of two files: the new file's first replay's
// [AzSuccess], passed between the old file's last [AzSuccess] and its
// reuse on the same thread, was taken for a refresh, and neither replay
// raised an alert.
func TestWatchKeepsAnOlderGenerationsLinesFirst(t *testing.T) {
	t.Parallel()
	replay := func(victim, thief, sid string) string {
		return strings.ReplaceAll(refreshLine("10:00:00,000", victim, sid+"1"), "task-2", "task-1") +
			reuseLines("10:00:00,000", thief, sid+"2")
	}
	older := replay("203.0.113.1", "192.0.2.91", "fa") + replay("203.0.113.2", "192.0.2.92", "fb")
	newer := replay("203.0.113.3", "192.0.2.93", "fc") + replay("203.0.113.4", "192.0.2.94", "fd")

	whole := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(whole, []byte(older+newer), 0o644); err != nil {
		t.Fatal(err)
	}
	want := scanFiles(t, []string{whole})
	if n := countRule(want, "reuse-ip-mismatch"); n != 4 {
		t.Fatalf("scan of the two generations as one file: %d reuse-ip-mismatch alerts, want 4:\n%s", n, strings.Join(want, "\n"))
	}

	var (
		mu  sync.Mutex
		got []string
	)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range g {
			got = append(got, alertKey(a))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background(), batches) }()
	old, cur := source.FileID{Dev: 1, Ino: 10}, source.FileID{Dev: 1, Ino: 11}
	for _, b := range []source.Batch{
		{Key: "old", Path: whole, ID: old, Data: []byte(older)},
		// The rotation: the file now at the path is announced behind it.
		{Key: "cur", Path: whole, ID: cur, Behind: "old"},
		{Key: "cur", Path: whole, ID: cur, Data: []byte(newer)},
		{Key: "old", Path: whole, ID: old, Offset: int64(len(older)), Ended: true},
		{Key: "cur", Path: whole, ID: cur, Offset: int64(len(newer)), Idle: true},
	} {
		batches <- b
	}
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("watch found\n%s\nscan of the generations as one file found\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func countRule(alerts []string, rule string) int {
	n := 0
	for _, a := range alerts {
		if strings.HasPrefix(a, rule+" ") {
			n++
		}
	}
	return n
}

// A generation announced behind itself, or two behind each other (nothing
// the follower sends, but a batch is input), must not make a cycle of
// older generations: both would wait on each other, out of the merge, and
// finding the oldest would never end.
func TestWatchIgnoresACycleOfGenerations(t *testing.T) {
	t.Parallel()
	n := 0
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error { n += len(g); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	a, b := source.FileID{Dev: 1, Ino: 20}, source.FileID{Dev: 1, Ino: 21}
	first := strings.ReplaceAll(refreshLine("10:00:00,000", "203.0.113.1", "fa"), "task-2", "task-1")
	replay := reuseLines("10:00:00,000", "192.0.2.91", "fb")
	in := make(chan source.Batch, 8)
	for _, bt := range []source.Batch{
		{Key: "a", Path: "app.log", ID: a, Behind: "a"},
		{Key: "b", Path: "app.log", ID: b, Behind: "a"},
		{Key: "a", Path: "app.log", ID: a, Behind: "b"},
		{Key: "a", Path: "app.log", ID: a, Data: []byte(first)},
		{Key: "b", Path: "app.log", ID: b, Data: []byte(replay)},
		{Key: "a", Path: "app.log", ID: a, Offset: int64(len(first)), Ended: true},
		{Key: "b", Path: "app.log", ID: b, Offset: int64(len(replay)), Idle: true},
	} {
		in <- bt
	}
	close(in)
	if err := w.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("the replay raised no alert")
	}
}
