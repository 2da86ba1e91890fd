package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
	"github.com/graceguard/graceguard/source"
)

// cutLines cuts data into batches of about size bytes (random within
// [size/2, size*3/2) with rng), each ending at a line end, as the follower
// hands a backlog on.
func cutLines(data []byte, size int, rng *rand.Rand) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(len(data), size/2+rng.IntN(size))
		if i := bytes.LastIndexByte(data[:n], '\n'); i >= 0 {
			n = i + 1
		} else if i := bytes.IndexByte(data[n:], '\n'); i >= 0 {
			n += i + 1
		} else {
			n = len(data)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// readThrough hands batches of one file to a watcher on the test's
// goroutine, parsed ahead (the lookahead's path) when ahead, else line by
// line, and returns the alerts in order, the resume position after each
// batch, the stats and the metrics' records and events.
func readThrough(t *testing.T, batches [][]byte, ahead bool) (alerts []string, positions []source.Position, st WatchStats, metricRecords float64, metricEvents map[string]float64) {
	t.Helper()
	m := NewMetrics(prom.NewRegistry(), nil)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Metrics: m, Deliver: func(_ context.Context, g []alert.Alert) error {
		for _, a := range g {
			alerts = append(alerts, a.ID+" "+a.Rule)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := source.FileID{Dev: 1, Ino: 7}
	var off int64
	parsed := 0
	for _, data := range batches {
		p := &prepared{b: source.Batch{Key: "a", Path: "openunison-0.log", ID: id, Data: data, Offset: off}}
		if ahead {
			if p.pre = preparse(data, off, nil, nil); p.pre != nil {
				parsed++
			}
		}
		if err := w.handleAll(ctx, p, false); err != nil {
			t.Fatal(err)
		}
		w.endBatch(false)
		off += int64(len(data))
		positions = append(positions, w.streams["a"].resumePosition())
	}
	if ahead && parsed < len(batches)/3 {
		t.Fatalf("only %d of %d batches were parsed ahead: the test would not compare the two paths", parsed, len(batches))
	}
	if err := w.handleAll(ctx, &prepared{b: source.Batch{Key: "a", Path: "openunison-0.log", ID: id, Offset: off, Idle: true}}, false); err != nil {
		t.Fatal(err)
	}
	if err := w.finish(ctx); err != nil {
		t.Fatal(err)
	}
	w.endBatch(false)
	metricEvents = map[string]float64{}
	for k := range parser.Kind(parser.NumKinds) {
		metricEvents[k.String()] = m.Events.WithLabelValues(k.String()).Value()
	}
	return alerts, positions, w.Stats(), m.Records.Value(), metricEvents
}

// handWritten is a log with what the line path handles with care: stack
// traces (continuation lines) that batches cut through, blank lines, a
// record that breaks the grammar, and lines before the first record.
func handWritten() []byte {
	var b strings.Builder
	b.WriteString("\tat an.orphan.Line(Before.java:1)\n\n")
	for i := range 400 {
		at := fmt.Sprintf("10:%02d:%02d,%03d", i/60%60, i%60, i%1000)
		b.WriteString(refreshLine(at, "198.51.100.23", fmt.Sprintf("s%04d", i)))
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, "[2026-11-23 %s][XNIO-1 task-3] ERROR SomeFilter - Could not refresh token\njava.lang.IllegalStateException: no\n\tat a.b.C.d(C.java:1)\n\n\tat a.b.C.e(C.java:2)\n", at)
		case 3:
			b.WriteString(reuseLines(at, "192.0.2.66", fmt.Sprintf("s%04d", i-1)))
		case 5:
			fmt.Fprintf(&b, "[2026-11-23 %s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [not-an-ip] - [x]\n", at, tokenURL, userDN)
		}
		fmt.Fprintf(&b, "[2026-11-23 %s][XNIO-1 task-1] DEBUG Noise - a line of noise %d\n", at, i)
	}
	return []byte(b.String())
}

// A backlog read with its batches parsed ahead gives exactly what reading
// it line by line gives: the same alerts in the same order, the same counts
// (and metrics), and after every batch the same position to resume from,
// whatever the batches' sizes and however they cut records.
func TestLookaheadAgreesWithLines(t *testing.T) {
	t.Parallel()
	var gen bytes.Buffer
	if _, err := loggen.Write(&gen, loggen.Config{Size: 3 << 20, Seed: 5, ReplayShare: 0.05, Users: 40}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		size int
	}{
		{"generated, 1 MiB batches", gen.Bytes(), 1 << 20},
		{"generated, 64 KiB batches", gen.Bytes(), 64 << 10},
		{"generated, 3 KiB batches", gen.Bytes(), 3 << 10},
		{"hand-written, 2 KiB batches", handWritten(), 2 << 10},
		{"hand-written, 300 B batches", handWritten(), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			batches := cutLines(tc.data, tc.size, rand.New(rand.NewPCG(1, uint64(tc.size))))
			wantAlerts, wantPos, wantSt, wantRec, wantEv := readThrough(t, batches, false)
			gotAlerts, gotPos, gotSt, gotRec, gotEv := readThrough(t, batches, true)
			if len(wantAlerts) == 0 {
				t.Fatal("the log raised no alert: nothing to compare")
			}
			if !slices.Equal(gotAlerts, wantAlerts) {
				t.Errorf("alerts parsed ahead:\n%v\nline by line:\n%v", gotAlerts, wantAlerts)
			}
			for i := range wantPos {
				if gotPos[i] != wantPos[i] {
					t.Fatalf("after batch %d of %d: resume at %+v, line by line at %+v", i, len(wantPos), gotPos[i], wantPos[i])
				}
			}
			if gotSt.Records != wantSt.Records || gotSt.ParseErrors != wantSt.ParseErrors || gotSt.Events != wantSt.Events || gotSt.Alerts != wantSt.Alerts {
				t.Errorf("stats parsed ahead %+v, line by line %+v", gotSt, wantSt)
			}
			if gotRec != float64(gotSt.Records) || wantRec != float64(wantSt.Records) {
				t.Errorf("records metric %v and %v, counted %d and %d", gotRec, wantRec, gotSt.Records, wantSt.Records)
			}
			if !maps.Equal(gotEv, wantEv) {
				t.Errorf("events metric parsed ahead %v, line by line %v", gotEv, wantEv)
			}
			for k := range parser.Kind(parser.NumKinds) {
				if gotEv[k.String()] != float64(gotSt.Events[k]) {
					t.Errorf("events metric %v, counted %v", gotEv, gotSt.Events)
					break
				}
			}
		})
	}
}

// A batch that raises several alert groups costs one fsync of the delivery
// ledger, not one a group; each group is in the ledger file before it
// leaves, and a batch that raises nothing costs none.
func TestLedgerSyncedOnceABatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var w *Watcher
	groups := 0
	deliver := func(_ context.Context, g []alert.Alert) error {
		groups++
		ledger, err := os.ReadFile(filepath.Join(dir, sinks.LedgerFile))
		if err != nil {
			t.Fatalf("the ledger was not written before the alert left: %v", err)
		}
		for _, a := range g {
			if !bytes.Contains(ledger, []byte(`"id":"`+a.ID+`"`)) {
				t.Errorf("alert %s left before the ledger wrote it as leaving", a.ID)
			}
		}
		return nil
	}
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), StateDir: dir, Deliver: deliver})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var off int64
	feed := func(data string) {
		t.Helper()
		b := source.Batch{Key: "a", Path: "openunison-0.log", ID: source.FileID{Dev: 1, Ino: 9}, Data: []byte(data), Offset: off}
		off += int64(len(data))
		if err := w.handleAll(ctx, &prepared{b: b}, false); err != nil {
			t.Fatal(err)
		}
		w.endBatch(false)
	}
	replay := replayBench // a user of its own each
	for _, tc := range []struct {
		data      string
		groups    int
		wantSyncs int64
	}{
		{replay(1) + replay(2) + replay(3) + replay(4), 3, 1}, // the fourth waits for the next record
		{replayLater("10:30:00,000"), 1, 2},
		{replayLater("10:31:00,000"), 0, 2},
	} {
		before := groups
		feed(tc.data)
		if got := groups - before; got != tc.groups {
			t.Fatalf("%d alert groups delivered, want %d", got, tc.groups)
		}
		if got := w.ledger.Syncs(); got != tc.wantSyncs {
			t.Fatalf("after %d groups the ledger was fsynced %d times, want %d", groups, got, tc.wantSyncs)
		}
	}
}

// replayLater is a record of noise at a time after replayBench's first few.
func replayLater(at string) string {
	return fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-1] DEBUG Noise - nothing\n", at)
}

// A batch no worker has taken yet is parsed by the watcher when it needs
// it next (lookahead.help), once: the worker that gets to it later passes,
// and what the watcher made of it is what a worker makes.
func TestLookaheadHelpParsesWhatNoWorkerTook(t *testing.T) {
	t.Parallel()
	data := handWritten()
	for _, tc := range []struct {
		name    string
		claimed bool // a worker took it first
	}{{"no worker took it", false}, {"a worker took it", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No workers: the batch waits in work as behind busy ones.
			l := &lookahead{work: make(chan *prepared, 2), spare: make(chan []candidate, 2), max: 2, min: 1}
			l.take(source.Batch{Key: "a", Data: data})
			p := l.queue[0]
			if tc.claimed {
				p.claimed.Store(true)
			}
			l.help()
			select {
			case <-l.ready():
				if tc.claimed {
					t.Fatal("the watcher parsed a batch a worker had taken")
				}
			default:
				if !tc.claimed {
					t.Fatal("the first batch is not ready after help: the watcher would wait for a worker")
				}
				return
			}
			want := preparse(data, 0, nil, nil)
			if p.pre == nil || p.pre.head != want.head || p.pre.tail != want.tail || p.pre.stats != want.stats || len(p.pre.cands) != len(want.cands) {
				t.Fatalf("help made %+v, a worker makes %+v", p.pre, want)
			}
			if q := <-l.work; q != p || q.claimed.CompareAndSwap(false, true) {
				t.Fatal("a worker could claim the batch the watcher parsed")
			}
		})
	}
}

// Before judging a batch the watcher takes every batch the follower has
// ready, as far as the lookahead has room, and notes the follower's end.
func TestLookaheadFillTakesWhatIsReady(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		ready, max int
		closed     bool
		wantQueued int
		wantClosed bool
	}{
		{"room for all", 3, 6, false, 3, false},
		{"more than room", 8, 6, false, 6, false},
		{"the end after the batches", 2, 6, true, 2, true},
		{"full before the end", 4, 3, true, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := make(chan source.Batch, tc.ready)
			for range tc.ready {
				in <- source.Batch{Key: "a", Data: []byte("x\n")}
			}
			if tc.closed {
				close(in)
			}
			l := &lookahead{work: make(chan *prepared, tc.max), spare: make(chan []candidate, tc.max), max: tc.max, min: 1 << 20}
			l.fill(in)
			if len(l.queue) != tc.wantQueued || l.closed != tc.wantClosed {
				t.Fatalf("queued %d (closed %v), want %d (closed %v)", len(l.queue), l.closed, tc.wantQueued, tc.wantClosed)
			}
		})
	}
}

// floodBatch is a MiB of nothing but token requests, each by another user
// from another address: every record a candidate, as in a flood of users.
func floodBatch(first int) []byte {
	var b bytes.Buffer
	for i := first; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "[2026-11-23 00:00:%02d,%03d][XNIO-1 task-%d] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=flood%07d,ou=shadow,o=Tremolo - NONE [10.%d.%d.%d] - [f%040d]\n",
			i/1000%60, i%1000, i%64, i, (i>>16)&255, (i>>8)&255, i&255, i)
	}
	return b.Bytes()
}

// What the batches taken ahead hold stays within aheadCandidates whatever the
// log's lines: a MiB of token requests parses into ~2 MiB of candidates,
// and six such batches ahead (with as many spare slices) were ~30 MB of a
// flood's live heap. A usual log, a candidate in twenty records, still
// fills the queue to its depth, which catching up at scan's pace needs.
func TestLookaheadHoldsWithinItsBudget(t *testing.T) {
	t.Parallel()
	var usual bytes.Buffer
	if _, err := loggen.Write(&usual, loggen.Config{Size: 24 << 20, Seed: 9, Users: 200}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		batches   func() [][]byte
		wantDepth bool // the queue reaches aheadDepth
		densities int  // how many the log's candidates change between
		// spares bounds the spare slices kept at the end: those of the
		// log's last density.
		spares int
		// changing adds to what the batches ahead may hold: a density's
		// batches taken while the last one's slices are parsed into.
		changing int
	}{
		{"token requests only", func() [][]byte {
			var out [][]byte
			for i := range 10 {
				out = append(out, floodBatch(i*5000))
			}
			return out
		}, false, 1, aheadCandidates, 0},
		{"a usual log", func() [][]byte { return cutLines(usual.Bytes(), 700<<10, rand.New(rand.NewPCG(1, 2))) }, true, 1, aheadCandidates, 0},
		// The flood's candidate slices, grown to its density, went round
		// again as the usual log's spares: kept, they held what the budget
		// charged the usual log's batches several times over, until the
		// watcher was idle. (The batches parsed into them while the density
		// changed still pass the budget with more workers than two.)
		{"a flood, then a usual log", func() [][]byte {
			var out [][]byte
			for i := range 6 {
				out = append(out, floodBatch(i*5000))
			}
			return append(out, cutLines(usual.Bytes(), 700<<10, rand.New(rand.NewPCG(1, 2)))...)
		}, false, 2, aheadCandidates, aheadCandidates},
	} {
		// The queue of this machine, and of one with eight cores.
		for _, depth := range []int{aheadDepth(workerCount()), aheadDepth(8)} {
			t.Run(fmt.Sprintf("%s, %d ahead", tc.name, depth), func(t *testing.T) {
				t.Parallel()
				holdsWithinBudget(t, tc.batches(), depth, tc.wantDepth, tc.densities, tc.spares, tc.changing)
			})
		}
	}
}

// holdsWithinBudget takes batches through a lookahead of depth batches in
// the watcher's order and checks what it held.
func holdsWithinBudget(t *testing.T, batches [][]byte, depth int, wantDepth bool, densities, spareBytes, changing int) {
	w := &Watcher{opt: WatchOptions{prepareMin: prepareMin, lookahead: depth}}
	l := w.newLookahead()
	defer l.stop()
	in := make(chan source.Batch, len(batches))
	for i, data := range batches {
		// An array of its own: recycle hands a batch's array to the
		// followers' pool, from which another test's follower reads a
		// file into it. Slices of one log shared it with the batches
		// after them and with the other cases, which read each other's
		// files then (lines counted twice elsewhere in the package).
		in <- source.Batch{Key: "a", Data: bytes.Clone(data), Offset: int64(i) << 20}
	}
	close(in)
	most, deepest, biggest := 0, 0, 0
	l.fill(in)
	for len(l.queue) > 0 {
		// Every batch queued parsed: the most it can hold.
		held := 0
		for _, p := range l.queue {
			p.wait()
			held += cap(p.pre.cands) * candidateSize
			biggest = max(biggest, cap(p.pre.cands)*candidateSize)
		}
		most, deepest = max(most, held), max(deepest, len(l.queue))
		// As the watcher does: the batch judged is recycled once
		// judged, the next taken while it was.
		p := l.pop()
		l.fill(in)
		for _, q := range l.queue {
			q.wait()
		}
		l.recycle(p)
	}
	spares := 0
	for len(l.spare) > 0 {
		spares += cap(<-l.spare) * candidateSize
	}
	t.Logf("held at most %d bytes of candidates in %d batches (the largest %d), %d bytes of spares", most, deepest, biggest, spares)
	// The budget is checked before a batch is taken: one more may
	// pass it.
	if limit := aheadCandidates + biggest + changing; most > limit {
		t.Errorf("the batches ahead held %d bytes of candidates, over aheadCandidates and a batch's (%d)", most, limit)
	}
	if spares > spareBytes {
		t.Errorf("the spare candidate slices kept %d bytes, over %d", spares, spareBytes)
	}
	if wantDepth && deepest < depth {
		t.Errorf("the queue held at most %d batches, want %d: the workers would run dry", deepest, depth)
	}
	// Past the first queue's worth at a density, a worker finds a
	// spare slice: growing one a batch cost a usual log's catch-up
	// ~10% of its CPU.
	if grown := int(l.grown.Load()); grown > densities*(deepest+1) {
		t.Errorf("workers grew %d candidate slices for %d batches taken at most %d at a time", grown, len(batches), deepest)
	}
}
