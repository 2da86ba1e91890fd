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
	// Each family reads its own field: the runtime's own bounds between
	// them catch one read in another's place.
	for _, b := range [][2]string{
		{"go_memstats_sys_bytes", "go_memstats_heap_sys_bytes"},
		{"go_memstats_heap_sys_bytes", "go_memstats_heap_inuse_bytes"},
		{"go_memstats_heap_inuse_bytes", "go_memstats_alloc_bytes"},
		{"go_memstats_alloc_bytes_total", "go_memstats_alloc_bytes"},
		{"go_memstats_mallocs_total", "go_memstats_frees_total"},
		{"go_memstats_mallocs_total", "go_memstats_heap_objects"},
		{"go_memstats_stack_sys_bytes", "go_memstats_stack_inuse_bytes"},
		{"go_memstats_mspan_sys_bytes", "go_memstats_mspan_inuse_bytes"},
		{"go_memstats_mcache_sys_bytes", "go_memstats_mcache_inuse_bytes"},
		{"go_threads", "1"},
	} {
		low, ok := s[b[1]]
		if !ok {
			low, _ = strconv.ParseFloat(b[1], 64)
		}
		if s[b[0]] < low || s[b[0]] == 0 {
			t.Errorf("%s = %v, want at least %s (%v)", b[0], s[b[0]], b[1], low)
		}
	}
	if s["go_memstats_heap_alloc_bytes"] != s["go_memstats_alloc_bytes"] {
		t.Errorf("heap_alloc_bytes %v and alloc_bytes %v differ", s["go_memstats_heap_alloc_bytes"], s["go_memstats_alloc_bytes"])
	}
	if since := time.Since(time.Unix(0, int64(s["go_memstats_last_gc_time_seconds"]*1e9))); since < 0 || since > time.Minute {
		t.Errorf("the last GC %v ago, want just now (the test ran one)", since)
	}
}
