package prom

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// GoCollector exposes the Go runtime's state under client_golang's names,
// types and help texts: go_goroutines, go_threads, go_info{version},
// go_gc_duration_seconds (a summary of the GC pauses), and every
// go_memstats_* family client_golang read from runtime.MemStats. It reads
// them with runtime.ReadMemStats and debug.ReadGCStats, not
// runtime/metrics, whose tables were what made client_golang's start slow.
// ReadMemStats stops the world for microseconds, once a scrape.
type GoCollector struct {
	goroutines, threads, info, gc, lastGC *Desc
	memstats                              []memstat
}

// memstat is a go_memstats_* family and the MemStats field it reads.
type memstat struct {
	desc *Desc
	read func(*runtime.MemStats) uint64
}

// NewGoCollector makes the Go runtime's collector; register it to expose it.
func NewGoCollector() *GoCollector {
	c := &GoCollector{
		goroutines: NewDesc("go_goroutines", "Number of goroutines that currently exist.", GaugeValue),
		threads:    NewDesc("go_threads", "Number of OS threads created.", GaugeValue),
		info:       NewDesc("go_info", "Information about the Go environment.", GaugeValue, "version"),
		gc:         NewDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", summaryValue),
		lastGC:     NewDesc("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", GaugeValue),
	}
	for _, m := range []struct {
		name, help string
		typ        ValueType
		read       func(*runtime.MemStats) uint64
	}{
		{"alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.Alloc }},
		{"alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", CounterValue, func(ms *runtime.MemStats) uint64 { return ms.TotalAlloc }},
		{"sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.Sys }},
		{"mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", CounterValue, func(ms *runtime.MemStats) uint64 { return ms.Mallocs }},
		{"frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", CounterValue, func(ms *runtime.MemStats) uint64 { return ms.Frees }},
		{"heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapAlloc }},
		{"heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapSys }},
		{"heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapIdle }},
		{"heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapInuse }},
		{"heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapReleased }},
		{"heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.HeapObjects }},
		{"stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.StackInuse }},
		{"stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.StackSys }},
		{"mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.MSpanInuse }},
		{"mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.MSpanSys }},
		{"mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.MCacheInuse }},
		{"mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.MCacheSys }},
		{"buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.BuckHashSys }},
		{"gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.GCSys }},
		{"other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.OtherSys }},
		{"next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", GaugeValue, func(ms *runtime.MemStats) uint64 { return ms.NextGC }},
	} {
		c.memstats = append(c.memstats, memstat{NewDesc("go_memstats_"+m.name, m.help, m.typ), m.read})
	}
	return c
}

// Describe is the collector's families.
func (c *GoCollector) Describe() []*Desc {
	ds := []*Desc{c.goroutines, c.threads, c.info, c.gc, c.lastGC}
	for _, m := range c.memstats {
		ds = append(ds, m.desc)
	}
	return ds
}

// Collect reads the runtime's state, at a scrape.
func (c *GoCollector) Collect(s *Scrape) {
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
	s.emit(c.lastGC, float64(ms.LastGC)/1e9, nil)
	for _, m := range c.memstats {
		s.emit(m.desc, float64(m.read(&ms)), nil)
	}
}

// ProcessCollector exposes the process's CPU time, memory, file
// descriptors and start time under client_golang's names, read from Linux's
// /proc. Elsewhere those files are missing and it emits nothing of them,
// without an error: process metrics are a convenience, never a reason for
// a scrape to fail.
type ProcessCollector struct {
	cpu, rss, vsize, openFDs, maxFDs, start *Desc
}

// NewProcessCollector exposes process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds.
func NewProcessCollector() *ProcessCollector {
	return &ProcessCollector{
		cpu:     NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterValue),
		rss:     NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", GaugeValue),
		vsize:   NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", GaugeValue),
		openFDs: NewDesc("process_open_fds", "Number of open file descriptors.", GaugeValue),
		maxFDs:  NewDesc("process_max_fds", "Maximum number of open file descriptors.", GaugeValue),
		start:   NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeValue),
	}
}

// Describe is the collector's families.
func (c *ProcessCollector) Describe() []*Desc {
	return []*Desc{c.cpu, c.rss, c.vsize, c.openFDs, c.maxFDs, c.start}
}

// userHZ is the unit of /proc's times: USER_HZ, 100 on every Linux
// architecture graceguard is built for (procfs assumes the same).
const userHZ = 100

// Collect reads /proc, at a scrape.
func (c *ProcessCollector) Collect(s *Scrape) {
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
