package prom

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// samples reads an exposition's label-less samples and go_info's line.
func samples(t *testing.T, out string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		if !ok {
			t.Fatalf("line %q", l)
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		m[name] = f
	}
	return m
}

func TestGoCollector(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.MustRegister(NewGoCollector())
	runtime.GC()
	out := exposition(t, r)
	s := samples(t, out)
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"go_memstats_heap_objects", "go_memstats_sys_bytes", "go_gc_duration_seconds_count"} {
		if s[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, s[name])
		}
	}
	if v := s[`go_info{version="`+runtime.Version()+`"}`]; v != 1 {
		t.Errorf("go_info for %s = %v, want 1:\n%s", runtime.Version(), v, out)
	}
	for _, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		if _, ok := s[`go_gc_duration_seconds{quantile="`+q+`"}`]; !ok {
			t.Errorf("no GC pause quantile %s:\n%s", q, out)
		}
	}
	if s[`go_gc_duration_seconds{quantile="1"}`] > s["go_gc_duration_seconds_sum"] {
		t.Errorf("the longest pause is longer than all of them:\n%s", out)
	}
}

func TestProcessCollector(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("process metrics are read from Linux's /proc")
	}
	r := NewRegistry()
	r.MustRegister(NewProcessCollector())
	s := samples(t, exposition(t, r))
	for _, name := range []string{"process_open_fds", "process_max_fds", "process_resident_memory_bytes", "process_virtual_memory_bytes"} {
		if s[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, s[name])
		}
	}
	if _, ok := s["process_cpu_seconds_total"]; !ok {
		t.Error("no process_cpu_seconds_total")
	}
	start := time.Unix(int64(s["process_start_time_seconds"]), 0)
	if since := time.Since(start); since < -time.Minute || since > time.Hour {
		t.Errorf("process started at %v, %v ago: want within the last hour", start, since)
	}
}
