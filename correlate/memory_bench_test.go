package correlate_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/benchlog"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// stream is a generated log's events and the observations a Correlator
// judging them with the built-in rules hands its store.
type stream struct {
	once   sync.Once
	events []parser.Event
	obs    []correlate.Observation
}

// The streams the benchmarks read: the pipeline's Detect benchmark's log
// (64 MB, 500 users, 3% token traffic with races, replays and refusals),
// and the same traffic spread over 10,000 users, whose history no longer
// fits in the caches.
var streams = []struct {
	name  string
	users int
	s     *stream
}{{"users=500", 500, &stream{}}, {"users=10000", 10_000, &stream{}}}

// recorder is a Store that keeps the observations a Correlator makes.
type recorder struct{ obs []correlate.Observation }

func (r *recorder) Apply(_ context.Context, o correlate.Observation) (correlate.Facts, error) {
	r.obs = append(r.obs, o)
	return correlate.Facts{}, nil
}

func (st *stream) load(b *testing.B, users int) ([]parser.Event, []correlate.Observation) {
	st.once.Do(func() {
		var buf bytes.Buffer
		if _, err := loggen.Write(&buf, loggen.Config{Size: 64 << 20, Seed: 1, Users: users}); err != nil {
			b.Fatal(err)
		}
		st.events = benchlog.Events(buf.Bytes())
		rec := &recorder{}
		c := correlate.NewCorrelator(rec, 0)
		c.Judged = rules.NewEngine(rules.Builtin()).Wants
		judge := func(context.Context, *correlate.Context) error { return nil }
		for i := range st.events {
			ev := st.events[i]
			if err := c.Observe(context.Background(), &ev, judge); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Flush(context.Background(), judge); err != nil {
			b.Fatal(err)
		}
		st.obs = rec.obs
	})
	return st.events, st.obs
}

// The memory store alone, fed the observations of a realistic stream:
// what the history costs per event (ns/event) and what it allocates
// (B/op, per whole stream).
//
//	go test ./correlate -run X -bench 'MemoryStream|CorrelatorStream' -benchmem -count 3
func BenchmarkMemoryStream(b *testing.B) {
	for _, sc := range streams {
		b.Run(sc.name, func(b *testing.B) {
			_, obs := sc.s.load(b, sc.users)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cputime.Process()
			for b.Loop() {
				m := correlate.NewMemory(correlate.Limits{})
				for i := range obs {
					if _, err := m.Apply(ctx, obs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(obs)), "ns/event")
			// CPU time moves less than wall time when other work shares
			// the cores: the figure to compare on a loaded machine.
			b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N*len(obs)), "cpu-ns/event")
		})
	}
}

// The Correlator over the memory store, judging with a judge that does
// nothing: correlation's share of the pipeline's Detect benchmark,
// without the rules.
func BenchmarkCorrelatorStream(b *testing.B) {
	for _, sc := range streams {
		b.Run(sc.name, func(b *testing.B) {
			events, _ := sc.s.load(b, sc.users)
			wants := rules.NewEngine(rules.Builtin()).Wants
			judge := func(context.Context, *correlate.Context) error { return nil }
			correlateEach(b, events, wants, judge)
		})
	}
}

// floodEvent is user i's refresh as bench/genflood writes it (the idle
// RSS measurement's history): its own DN, address and session id, 10 ms
// after user i-1's.
func floodEvent(i int) parser.Event {
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 10 * time.Millisecond)
	return parser.Event{
		Kind: parser.KindTokenOK, Time: at, IdP: "k8sidp", User: fmt.Sprintf("uid=flood%07d,ou=shadow,o=Tremolo", i),
		IP:      netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		Session: fmt.Sprintf("f%040d", i), Thread: fmt.Sprintf("XNIO-1 task-%d", i%64), Source: "flood.log", Offset: int64(i) * 200,
		Attribution: parser.AttrDirect,
	}
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The history's live heap per user with 10,000 users who refreshed once
// each (bench/watch.sh's idle history): "store" is the Memory store
// alone, "correlator" the store with the Correlator's own per-user
// indexes (the moved-chains index learns every refresh). The DNs' bytes
// are counted: the history owns its copies.
//
//	go test ./correlate -run X -bench BytesPerUser -benchtime 1x -count 3
func BenchmarkBytesPerUser(b *testing.B) {
	const users = 10_000
	events := make([]parser.Event, users)
	for i := range events {
		events[i] = floodEvent(i)
	}
	ctx := context.Background()
	judge := func(context.Context, *correlate.Context) error { return nil }
	for _, bc := range []struct {
		name       string
		correlator bool
	}{{"store", false}, {"correlator", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var perUser float64
			for b.Loop() {
				before := liveHeap()
				m := correlate.NewMemory(correlate.Limits{})
				var c *correlate.Correlator
				if bc.correlator {
					c = correlate.NewCorrelator(m, 0)
					for i := range events {
						ev := events[i]
						if err := c.Observe(ctx, &ev, judge); err != nil {
							b.Fatal(err)
						}
					}
					if err := c.Flush(ctx, judge); err != nil {
						b.Fatal(err)
					}
				} else {
					for i := range events {
						ev := &events[i]
						o := correlate.Observation{User: correlate.UserOf(ev), Session: ev.Session, Time: ev.Time, IP: ev.IP,
							Action: correlate.Refresh, Attribution: ev.Attribution, Source: ev.Source, Offset: ev.Offset}
						if _, err := m.Apply(ctx, o); err != nil {
							b.Fatal(err)
						}
					}
				}
				after := liveHeap()
				if got := m.Stats().Users; got != users {
					b.Fatalf("%d users tracked, want %d", got, users)
				}
				perUser = (float64(after) - float64(before)) / users
				runtime.KeepAlive(m)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perUser, "B/user")
		})
	}
}

// Correlation with the built-in rules judging, as the pipeline's Detect
// benchmark runs it, with the CPU time per event beside the wall time.
//
//	go test ./correlate -run X -bench JudgedStream -benchtime 10x -count 3
func BenchmarkJudgedStream(b *testing.B) {
	for _, sc := range streams {
		b.Run(sc.name, func(b *testing.B) {
			events, _ := sc.s.load(b, sc.users)
			engine := rules.NewEngine(rules.Builtin())
			var alerts []alert.Alert
			judge := func(_ context.Context, c *correlate.Context) error {
				alerts = engine.Evaluate(alerts[:0], c)
				return nil
			}
			correlateEach(b, events, engine.Wants, judge)
		})
	}
}

// correlateEach runs a fresh Correlator over the memory store through
// events once a benchmark iteration, judging with judge what wants asks
// for, and reports wall and CPU time per event.
func correlateEach(b *testing.B, events []parser.Event, wants func(parser.Kind) bool, judge correlate.Judge) {
	ctx := context.Background()
	evs := make([]parser.Event, len(events))
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		copy(evs, events) // Observe may set an event's Reason
		c := correlate.NewCorrelator(correlate.NewMemory(correlate.Limits{}), 0)
		c.Judged = wants
		for i := range evs {
			if err := c.Observe(ctx, &evs[i], judge); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Flush(ctx, judge); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
	b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N*len(evs)), "cpu-ns/event")
}
