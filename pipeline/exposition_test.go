package pipeline

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/golden"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/respond"
	"github.com/graceguard/graceguard/sinks"
)

// exposedStore is a store with every optional report the store collector
// reads: shared-state health and write-back.
type exposedStore struct{}

func (exposedStore) Stats() correlate.MemoryStats {
	return correlate.MemoryStats{Users: 1234567, Sessions: 42, UsersEvicted: 3, UsersExpired: 0, IPsEvicted: 1e6,
		IPsExpired: 7, SessionsEvicted: 1, SessionIPsCapped: 123456789, MovesIndexEvicted: 2}
}
func (exposedStore) Up() bool                { return true }
func (exposedStore) Errors() int64           { return 5 }
func (exposedStore) HistoryLost() int64      { return 2 }
func (exposedStore) WriteBackPending() int   { return 0 }
func (exposedStore) WriteBackDropped() int64 { return 100001 }

// TestMetricsExposition pins what /metrics shows of graceguard's own
// metrics, byte for byte, with children whose label values need escaping
// and sorting and values in each of the text format's float forms: the
// exposition is graceguard's interface to every operator's dashboards and
// alerts, so a change of library must not change it. Of the Go and process
// collectors it pins the families' HELP and TYPE lines (their values move).
func TestMetricsExposition(t *testing.T) {
	reg := prom.NewRegistry()
	reg.MustRegister(prom.NewGoCollector(), prom.NewProcessCollector())
	m := NewMetrics(reg, exposedStore{})
	RegisterGenerationsLost(reg, func() uint64 { return 9 })
	RegisterGenerationsUnwatched(reg, func() uint64 { return 2 })
	RegisterGeoCache(reg, func() geo.Stats { return geo.Stats{Evictions: 16384, Entries: 16384} })
	sm := sinks.NewMetrics(reg)
	rm := respond.NewMetrics(reg)

	m.Lines.WithLabelValues("openunison/orchestra-2/orchestra").Add(1000)
	m.Lines.WithLabelValues("openunison/orchestra-1/orchestra").Add(999999)
	m.Lines.WithLabelValues(`odd "quoted" \back\slash` + "\nnewline").Inc()
	m.Lines.WithLabelValues("").Inc()
	m.Bytes.WithLabelValues("openunison/orchestra-1/orchestra").Add(1 << 40)
	m.Records.Add(0.1)
	m.Cut.Add(1e-7)
	m.Events.WithLabelValues("refresh").Add(12345678901234)
	m.Events.WithLabelValues("auth").Add(2)
	m.ParseErrors.Add(math.Inf(1))
	m.Alerts.WithLabelValues("grace-reuse", "high").Inc()
	m.Alerts.WithLabelValues("grace-reuse", "critical").Inc()
	m.Alerts.WithLabelValues("addr-move", "high").Add(3)
	m.SinkDeliveries.WithLabelValues("slack").Inc()
	m.Held.Set(-1)
	m.Lag.Set(-0.25)
	m.Checkpoints.WithLabelValues("ok").Add(17)
	m.Checkpoints.WithLabelValues("error").Add(0)
	m.RuleErrors.Add(1.5)
	m.Attribution.WithLabelValues("direct").Add(10)
	m.AttrWaiting.WithLabelValues("events").Set(math.NaN())
	m.AttrWaiting.WithLabelValues("records").Set(math.Inf(-1))
	m.AttrEvicted.WithLabelValues("records_unmatched").Add(4)
	m.StateFailures.WithLabelValues("ledger").Inc()
	m.CorrEvicted.WithLabelValues("place_pairs").Add(2)
	m.CorrEvicted.WithLabelValues("pending").Add(1)
	// m.SinkFailures, HeldOverflow and the others left alone: an empty
	// vector shows nothing, an untouched counter shows 0.

	sm.Sent.WithLabelValues("slack").Add(40)
	sm.DeadLettered.WithLabelValues("webhook", "permanent").Inc()
	sm.DeadLettered.WithLabelValues("slack", "too_old").Inc()
	sm.DeadLettered.WithLabelValues("slack", "permanent").Add(2)
	sm.Queue.WithLabelValues("slack").Set(3)
	sm.Queue.WithLabelValues("gone").Set(1)
	sm.Queue.DeleteLabelValues("gone")

	rm.Revocations.WithLabelValues("ended").Inc()
	rm.HeldBack.WithLabelValues("per_user").Inc()
	rm.Queue.Set(2)

	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4; charset=utf-8") {
		t.Errorf("Content-Type %q", ct)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}

	var own strings.Builder
	runtimeFamilies := map[string]bool{}
	for l := range strings.Lines(string(body)) {
		name := familyOf(l)
		switch {
		case strings.HasPrefix(name, "graceguard_"):
			own.WriteString(l)
		case strings.HasPrefix(l, "# "):
			runtimeFamilies[strings.TrimSuffix(l, "\n")] = true
		}
	}
	golden.Check(t, "testdata/metrics.golden", []byte(own.String()))
	for _, want := range runtimeMetadata {
		if !runtimeFamilies[want] {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// runtimeMetadata are the Go and process collectors' families graceguard
// exposes, as client_golang named and described them.
var runtimeMetadata = []string{
	"# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
	"# TYPE go_gc_duration_seconds summary",
	"# HELP go_goroutines Number of goroutines that currently exist.",
	"# TYPE go_goroutines gauge",
	"# HELP go_info Information about the Go environment.",
	"# TYPE go_info gauge",
	"# HELP go_memstats_alloc_bytes Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.",
	"# TYPE go_memstats_alloc_bytes gauge",
	"# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes",
	"# TYPE go_memstats_heap_inuse_bytes gauge",
	"# HELP go_memstats_heap_objects Number of currently allocated objects. Equals to /gc/heap/objects:objects.",
	"# TYPE go_memstats_heap_objects gauge",
	"# HELP go_memstats_sys_bytes Number of bytes obtained from system. Equals to /memory/classes/total:byte.",
	"# TYPE go_memstats_sys_bytes gauge",
	"# HELP go_threads Number of OS threads created.",
	"# TYPE go_threads gauge",
	"# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
	"# TYPE process_cpu_seconds_total counter",
	"# HELP process_max_fds Maximum number of open file descriptors.",
	"# TYPE process_max_fds gauge",
	"# HELP process_open_fds Number of open file descriptors.",
	"# TYPE process_open_fds gauge",
	"# HELP process_resident_memory_bytes Resident memory size in bytes.",
	"# TYPE process_resident_memory_bytes gauge",
	"# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
	"# TYPE process_start_time_seconds gauge",
	"# HELP process_virtual_memory_bytes Virtual memory size in bytes.",
	"# TYPE process_virtual_memory_bytes gauge",
}

// familyOf is the metric name a line of the exposition is about: a HELP or
// TYPE line's third word, or a sample's name.
func familyOf(line string) string {
	if rest, ok := strings.CutPrefix(line, "# "); ok {
		f := strings.Fields(rest)
		if len(f) < 2 {
			return ""
		}
		return f[1]
	}
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		return line[:i]
	}
	return line
}
