package prom

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The process metrics are read from Linux's /proc.
func TestProcessCollector(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.MustRegister(NewProcessCollector())
	s := samples(t, exposition(t, r))
	for _, name := range []string{"process_open_fds", "process_max_fds", "process_resident_memory_bytes", "process_virtual_memory_bytes"} {
		if s[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, s[name])
		}
	}
	// Against what the kernel tells the process directly: units (pages,
	// clock ticks) and fields read wrong show here.
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	if got := s["process_cpu_seconds_total"]; got < cpu-0.1 || got > cpu+0.1 {
		t.Errorf("process_cpu_seconds_total %v, getrusage %v", got, cpu)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if rss := s["process_resident_memory_bytes"]; rss < float64(ms.HeapInuse)/2 || rss > float64(ms.Sys)+256<<20 {
		t.Errorf("process_resident_memory_bytes %v, with %v of heap in use and %v from the system", rss, ms.HeapInuse, ms.Sys)
	}
	if vsize, rss := s["process_virtual_memory_bytes"], s["process_resident_memory_bytes"]; vsize < rss {
		t.Errorf("process_virtual_memory_bytes %v below the resident %v", vsize, rss)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if got := s["process_max_fds"]; got != float64(lim.Cur) {
		t.Errorf("process_max_fds %v, the soft limit %v", got, lim.Cur)
	}
	start := time.Unix(int64(s["process_start_time_seconds"]), 0)
	if since := time.Since(start); since < -time.Minute || since > time.Hour {
		t.Errorf("process started at %v, %v ago: want within the last hour", start, since)
	}
}
