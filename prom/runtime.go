package prom

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// goCollector exposes the Go runtime's state under client_golang's names,
// types and help texts, for the families dashboards use; it reads them with
// runtime.ReadMemStats and debug.ReadGCStats, not runtime/metrics, whose
// tables are what made client_golang's start slow.
type goCollector struct {
	goroutines, threads, info, gc, alloc, heapInuse, heapObjects, sys *Desc
}

// NewGoCollector exposes go_goroutines, go_threads, go_info{version},
// go_gc_duration_seconds (a summary of the GC pauses), and
// go_memstats_alloc_bytes, _heap_inuse_bytes, _heap_objects and _sys_bytes.
func NewGoCollector() Collector {
	return &goCollector{
		goroutines: NewDesc("go_goroutines", "Number of goroutines that currently exist.", GaugeValue),
		threads:    NewDesc("go_threads", "Number of OS threads created.", GaugeValue),
		info:       NewDesc("go_info", "Information about the Go environment.", GaugeValue, "version"),
		gc:         NewDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", summaryValue),
		alloc: NewDesc("go_memstats_alloc_bytes",
			"Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", GaugeValue),
		heapInuse: NewDesc("go_memstats_heap_inuse_bytes",
			"Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", GaugeValue),
		heapObjects: NewDesc("go_memstats_heap_objects",
			"Number of currently allocated objects. Equals to /gc/heap/objects:objects.", GaugeValue),
		sys: NewDesc("go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", GaugeValue),
	}
}

func (c *goCollector) Describe() []*Desc {
	return []*Desc{c.goroutines, c.threads, c.info, c.gc, c.alloc, c.heapInuse, c.heapObjects, c.sys}
}

func (c *goCollector) Collect(s *Scrape) {
	s.emit(c.goroutines, float64(runtime.NumGoroutine()), nil)
	threads, _ := runtime.ThreadCreateProfile(nil)
	s.emit(c.threads, float64(threads), nil)
	s.emit(c.info, 1, []string{runtime.Version()})

	// Five pause quantiles: the minimum, the quartiles and the maximum, as
	// client_golang asks debug.ReadGCStats for them.
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	sum := &summary{count: uint64(gc.NumGC), sum: gc.PauseTotal.Seconds()}
	for i, q := range gc.PauseQuantiles {
		sum.quantiles = append(sum.quantiles, [2]float64{float64(i) / 4, q.Seconds()})
	}
	f := s.family(c.gc)
	f.samples = append(f.samples, sample{summary: sum})

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.emit(c.alloc, float64(ms.Alloc), nil)
	s.emit(c.heapInuse, float64(ms.HeapInuse), nil)
	s.emit(c.heapObjects, float64(ms.HeapObjects), nil)
	s.emit(c.sys, float64(ms.Sys), nil)
}

// processCollector exposes the process's CPU time, memory, file
// descriptors and start time under client_golang's names, read from Linux's
// /proc. Elsewhere those files are missing and it emits nothing of them,
// without an error: process metrics are a convenience, never a reason for
// a scrape to fail.
type processCollector struct {
	cpu, rss, vsize, openFDs, maxFDs, start *Desc
}

// NewProcessCollector exposes process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds.
func NewProcessCollector() Collector {
	return &processCollector{
		cpu:     NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterValue),
		rss:     NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", GaugeValue),
		vsize:   NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeValue),
		openFDs: NewDesc("process_open_fds", "Number of open file descriptors.", GaugeValue),
		maxFDs:  NewDesc("process_max_fds", "Maximum number of open file descriptors.", GaugeValue),
		start:   NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeValue),
	}
}

func (c *processCollector) Describe() []*Desc {
	return []*Desc{c.cpu, c.rss, c.vsize, c.openFDs, c.maxFDs, c.start}
}

// userHZ is the unit of /proc's times: USER_HZ, 100 on every Linux
// architecture graceguard is built for (procfs assumes the same).
const userHZ = 100

func (c *processCollector) Collect(s *Scrape) {
	if st, ok := readProcStat(); ok {
		s.emit(c.cpu, float64(st.utime+st.stime)/userHZ, nil)
		s.emit(c.vsize, float64(st.vsize), nil)
		s.emit(c.rss, float64(st.rss*uint64(os.Getpagesize())), nil)
		if boot, ok := bootTime(); ok {
			s.emit(c.start, float64(boot)+float64(st.starttime)/userHZ, nil)
		}
	}
	if n, ok := openFDs(); ok {
		s.emit(c.openFDs, float64(n), nil)
	}
	if n, ok := maxFDs(); ok {
		s.emit(c.maxFDs, n, nil)
	}
}

type procStat struct{ utime, stime, starttime, vsize, rss uint64 }

// readProcStat reads /proc/self/stat's times and sizes. The fields are
// counted from the end of the command name, which is in parentheses and
// may hold spaces and parentheses of its own.
func readProcStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	// After the name: state is field 3 of proc(5); utime 14, stime 15,
	// starttime 22, vsize 23, rss 24.
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return procStat{}, false
	}
	var st procStat
	for _, p := range []struct {
		field int
		to    *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		n, err := strconv.ParseUint(string(f[p.field-3]), 10, 64)
		if err != nil {
			return procStat{}, false
		}
		*p.to = n
	}
	return st, true
}

// bootTime is /proc/stat's btime: the seconds since the epoch the system
// booted at, which a process's start time counts from.
func bootTime() (uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// openFDs counts /proc/self/fd's entries. Since Linux 6.2 the directory's
// size is that count, read without listing it; before, the size is 0.
func openFDs() (int, bool) {
	if fi, err := os.Stat("/proc/self/fd"); err == nil && fi.Size() > 0 {
		return int(fi.Size()), true
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	// Less the descriptor of the directory being listed.
	return len(names) - 1, true
}

// maxFDs is the soft limit of open files, from /proc/self/limits;
// "unlimited" reads as the largest uint64, as procfs reads it.
func maxFDs() (float64, bool) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("Max open files")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			if string(f[0]) == "unlimited" {
				return float64(^uint64(0)), true
			}
			n, err := strconv.ParseUint(string(f[0]), 10, 64)
			return float64(n), err == nil
		}
	}
	return 0, false
}
