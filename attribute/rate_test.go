package attribute

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/benchlog"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// load simulates one proxy pod in front of one OpenUnison pod at rate
// token requests per second for secs seconds, each request from its own
// client and lasting 2-20 ms; the proxy logs in the given precision. It
// returns both logs merged in time order, as scan reads them, and each
// OpenUnison event's true client.
func load(rate float64, secs int, precision time.Duration, seed uint64) ([]parser.Event, map[string]netip.Addr) {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := int(rate * float64(secs))
	truth := map[string]netip.Addr{}
	var evs []parser.Event
	for i := range n {
		start := t0.Add(time.Duration(rng.Float64() * float64(secs) * float64(time.Second)))
		d := time.Duration(2+rng.IntN(18)) * time.Millisecond
		at := start.Add(time.Duration(rng.Int64N(int64(d))))
		thread := fmt.Sprint("t", i)
		client := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(i % 250)})
		truth[thread] = client
		ev := ou(parser.KindTokenOK, at.Sub(t0), ouA, ctl1, thread)
		rec := &parser.ProxyRecord{Client: client, Agent: kubectlAgent, Method: "POST", Path: tokenPath, Status: 200,
			Upstreams: []netip.AddrPort{netip.AddrPortFrom(podA, 8443)}, Duration: d, Precision: precision}
		if precision == time.Second { // nginx $time_local: written at the end, truncated
			rec.Format, rec.End = parser.ProxyNginx, start.Add(d).Truncate(time.Second)
			rec.Start = rec.End.Add(-d)
		} else { // Envoy: the start, in ms
			rec.Format, rec.Start = parser.ProxyEnvoy, start.Truncate(time.Millisecond)
			rec.End = rec.Start.Add(d)
		}
		recTime := rec.End
		if precision != time.Second {
			recTime = rec.Start
		}
		// Offset keeps the true end, the order nginx writes in.
		evs = append(evs, ev, parser.Event{Kind: parser.KindProxy, Time: recTime, Source: ngx1, Proxy: rec, Offset: int64(start.Add(d).Sub(t0))})
	}
	// Each log in its own order (nginx by the true end, which it does not
	// log to the ms; Envoy by start), merged by the times they show.
	slices.SortStableFunc(evs, func(a, b parser.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Kind == parser.KindProxy && b.Kind == parser.KindProxy {
			return cmp.Compare(a.Offset, b.Offset) // one second's records, in end order
		}
		return 0
	})
	return evs, truth
}

type rates struct{ exact, wrong, ambiguous, unmatched, total int }

func measure(rate float64, precision time.Duration) rates {
	evs, truth := load(rate, max(10, int(600/rate)), precision, uint64(rate*1000)+uint64(precision))
	a := New(Options{})
	a.ExpectProxies()
	var r rates
	for _, ev := range run(a, evs...) {
		if !IsToken(ev.Kind) {
			continue
		}
		r.total++
		switch ev.Attribution {
		case parser.AttrJoined:
			if ev.IP == truth[ev.Thread] {
				r.exact++
			} else {
				r.wrong++
			}
		case parser.AttrAmbiguous:
			r.ambiguous++
		default:
			r.unmatched++
		}
	}
	return r
}

// TestAttributionRate measures how many token events are attributed
// exactly, ambiguously or not at all as load grows, for nginx's 1-second
// $time_local and for millisecond formats, and holds that no event is ever
// joined to the wrong client. go test ./attribute -run AttributionRate -v
// prints the table the README quotes.
func TestAttributionRate(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-22s %8s %8s %10s %10s\n", "format", "req/s", "exact", "ambiguous", "unmatched")
	for _, f := range []struct {
		name string
		prec time.Duration
	}{{"ingress-nginx (1 s)", time.Second}, {"envoy/istio (1 ms)", time.Millisecond}} {
		for _, rate := range []float64{1, 2, 5, 10, 50, 200} {
			r := measure(rate, f.prec)
			if r.wrong > 0 {
				t.Errorf("%s at %g req/s: %d of %d events joined to the wrong client", f.name, rate, r.wrong, r.total)
			}
			pct := func(n int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(r.total)) }
			fmt.Fprintf(&table, "%-22s %8g %8s %10s %10s\n", f.name, rate, pct(r.exact), pct(r.ambiguous), pct(r.unmatched))
		}
	}
	t.Log(table.String())
}

// BenchmarkAttribute is the cost of attribution per token event: push the
// event and its proxy record, release, at 50 requests per second through
// one proxy and one OpenUnison pod.
func BenchmarkAttribute(b *testing.B) {
	evs, _ := load(50, 60, time.Millisecond, 7)
	b.ReportAllocs()
	b.ResetTimer()
	var out []parser.Event
	tokens := 0
	for b.Loop() {
		a := New(Options{})
		a.ExpectProxies()
		for i := range evs {
			a.Push(evs[i], t0)
			now := evs[i].Time
			out = a.Release(out[:0], func(string) time.Time { return now }, t0)
		}
		out = a.Flush(out[:0])
		tokens += len(evs) / 2
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token-event")
}

var (
	plainLogOnce sync.Once
	plainLog     []parser.Event
)

// plainEvents are the events of the issue-2 benchmark log (64 MB, 3% token
// traffic, generated), parsed as a scan parses them: a plain OpenUnison
// log, no proxy's.
func plainEvents(tb testing.TB) []parser.Event {
	plainLogOnce.Do(func() {
		var buf bytes.Buffer
		if _, err := loggen.Write(&buf, loggen.Config{Size: 64 << 20, Seed: 1}); err != nil {
			tb.Fatal(err)
		}
		plainLog = benchlog.Events(buf.Bytes())
	})
	return plainLog
}

// BenchmarkPassPlain is the cost of attribution per event in a scan of
// OpenUnison's log alone (pipeline/scan.go's attributed): every event goes
// through Pass, with the merged log's clock, into a New Attributor (a
// scan makes one). The events are copied afresh, untimed, before each pass
// over the log. cpu-ns/event is the benchmark
// thread's CPU time (Linux): the figure to compare when other work shares
// the cores and stretches the wall time.
//
//	go test ./attribute -run X -bench PassPlain -count 10
func BenchmarkPassPlain(b *testing.B) {
	evs := plainEvents(b)
	work := make([]parser.Event, len(evs))
	runtime.LockOSThread() // for cputime.Thread
	defer runtime.UnlockOSThread()
	var cpu time.Duration
	cpuOK := true
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		copy(work, evs)
		b.StartTimer()
		c0, ok0 := cputime.Thread()
		a := New(Options{})
		for i := range work {
			if !a.Pass(&work[i], work[i].Time) {
				b.Fatal("an event of a plain log did not pass")
			}
		}
		c1, ok1 := cputime.Thread()
		cpu, cpuOK = cpu+c1-c0, cpuOK && ok0 && ok1
	}
	events := float64(b.N * len(evs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	if cpuOK {
		b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
	}
}

// BenchmarkAttributeBacklog is the cost of attribution per token event
// for a watcher catching up on a proxy's log read after OpenUnison's (an
// ingress logs a cluster's traffic, OpenUnison its own, so its log of the
// same hours is the larger): every OpenUnison event of ten minutes at 50
// requests per second is held before the first record comes, then the
// records come in order, each followed by a release.
//
//	go test ./attribute -run X -bench AttributeBacklog
func BenchmarkAttributeBacklog(b *testing.B) {
	for _, secs := range []int{60, 600} {
		b.Run(fmt.Sprint(secs, "s"), func(b *testing.B) { benchmarkAttributeBacklog(b, secs) })
	}
}

func benchmarkAttributeBacklog(b *testing.B, secs int) {
	evs, _ := load(50, secs, time.Second, 7)
	var ous, recs []parser.Event
	for _, ev := range evs {
		if ev.Kind == parser.KindProxy {
			recs = append(recs, ev)
		} else {
			ous = append(ous, ev)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var out []parser.Event
	tokens := 0
	for b.Loop() {
		a := New(Options{})
		a.ExpectProxies()
		for i := range ous {
			a.Push(ous[i], t0)
		}
		a.SetCatchingUp(true)
		ouEnd := ous[len(ous)-1].Time
		for i := range recs {
			a.Push(recs[i], t0)
			now := recs[i].Time
			out = a.Release(out[:0], func(src string) time.Time {
				if src == "" || recs[i].Source == src {
					return now
				}
				return ouEnd
			}, t0)
		}
		a.SetCatchingUp(false)
		out = a.Flush(out[:0])
		tokens += len(ous)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tokens), "ns/token-event")
}
