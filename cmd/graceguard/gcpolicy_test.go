package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// gcPercent reads the GC percentage (setting it is the only way to read it).
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func TestBatchGC(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	wantPercent, wantLimit := gcPercent(), debug.SetMemoryLimit(-1)

	restore := batchGC(0)
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != -1 || l != scanMemoryLimit {
		t.Errorf("during a scan: GOGC %d, limit %d; want off and %d", p, l, scanMemoryLimit)
	}
	restore()
	restore() // a second call changes nothing
	if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != wantPercent || l != wantLimit {
		t.Errorf("after: GOGC %d, limit %d; want %d and %d", p, l, wantPercent, wantLimit)
	}

	t.Run("a large live heap brings the usual pacing back", func(t *testing.T) {
		restore := batchGC(0)
		defer restore()
		live := make([]byte, scanMemoryLimit*3/4)
		for i := range live {
			live[i] = 1
		}
		for deadline := time.Now().Add(5 * time.Second); gcPercent() == -1; {
			if time.Now().After(deadline) {
				t.Fatal("GOGC still off with a live heap over half the limit")
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if p, l := gcPercent(), debug.SetMemoryLimit(-1); p != wantPercent || l != wantLimit {
			t.Errorf("GOGC %d, limit %d; want %d and %d", p, l, wantPercent, wantLimit)
		}
		runtime.KeepAlive(live)
	})

	t.Run("GOGC in the environment wins", func(t *testing.T) {
		t.Setenv("GOGC", "50")
		restore := batchGC(0)
		defer restore()
		if p := gcPercent(); p != wantPercent {
			t.Errorf("GOGC %d, want it left at %d", p, wantPercent)
		}
	})
}

// A watch whose live heap nears watchMemoryLimit must not collect without
// a pause: at a fixed limit the collector has less to wait for the nearer
// the live heap comes, nothing once it is over. The 1,000,000-user flood,
// its live heap at 85 of 96 MB, ran ~600 cycles in 13 s (24-29 s of CPU)
// where ~70 did at 76 MB; and a history of 100,000 users with many
// addresses each can be larger than the limit. So after each cycle the
// limit is at least an eighth over what is live. Run in a process of its
// own: the limit is the whole process's.
func TestWatchGCLeavesHeadroomOverTheLiveHeap(t *testing.T) {
	if os.Getenv("GRACEGUARD_WATCHGC_CHILD") == "1" {
		watchGCChild()
		return
	}
	t.Parallel()
	var small, large, live int64
	runGCChild(t, "GRACEGUARD_WATCHGC_CHILD", "limit %d then %d with %d live", &small, &large, &live)
	if small != watchMemoryLimit {
		t.Errorf("with a small live heap the limit is %d, want watchMemoryLimit (%d)", small, watchMemoryLimit)
	}
	if want := headroomOver(live); large < want {
		t.Errorf("with %d bytes live the limit is %d, want at least %d", live, large, want)
	}
}

// watchGCChild prints the memory limit under watch's policy with a small
// live heap, then with one of 92 MiB, after the cycles have been seen.
func watchGCChild() {
	restore := watchGCPolicy()
	defer restore()
	small := limitAfterCycles(func(int64) bool { return true })
	live := make([][]byte, 92)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	var ms runtime.MemStats
	// A cycle that ran while live was being made set a lower limit: wait
	// for one after.
	large := limitAfterCycles(func(limit int64) bool {
		runtime.ReadMemStats(&ms)
		return limit >= headroomOver(int64(ms.HeapAlloc))
	})
	runtime.KeepAlive(live)
	fmt.Printf("limit %d then %d with %d live\n", small, large, ms.HeapAlloc)
}

// headroomOver is the least limit the policy may set over live bytes.
// live is read after the policy read it: what was allocated in between (a
// few kB) is slack.
func headroomOver(live int64) int64 { return live + live/8 - 1<<20 }

// limitAfterCycles runs collections until the limit satisfies ok (the
// policy sets it from a cleanup, after the cycle), at most for 5 s.
func limitAfterCycles(ok func(limit int64) bool) int64 {
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		limit := debug.SetMemoryLimit(-1)
		if ok(limit) || time.Now().After(deadline) {
			return limit
		}
		time.Sleep(time.Millisecond)
	}
}

// The raised limit stops at nine tenths of the container's memory limit:
// past it, the heap of a history larger than the container allows grew
// until the kernel killed the process.
func TestWatchLimitStopsBelowTheContainers(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		name         string
		live, beside uint64
		ceiling      int64
		want         int64
	}{
		{"a small heap", 40 * mib, 8 * mib, 0, watchMemoryLimit},
		{"a large heap, no container limit", 160 * mib, 8 * mib, 0, 188 * mib},
		{"a large heap in a container", 160 * mib, 8 * mib, 172 * mib, 172 * mib},
		{"a container smaller than the fixed limit", 160 * mib, 8 * mib, 57 * mib, watchMemoryLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := watchLimitFor(tc.live, tc.beside, tc.ceiling); got != tc.want {
				t.Errorf("watchLimitFor(%d MiB live, %d beside, ceiling %d) = %d, want %d", tc.live/mib, tc.beside/mib, tc.ceiling, got, tc.want)
			}
		})
	}
}

func TestMemoryCeiling(t *testing.T) {
	t.Parallel()
	const (
		ownNamespace = "0::/\n"
		hostV2       = "0::/kubepods/pod1/ctr\n"
		hostV1       = "12:memory:/kubepods/pod1/ctr\n11:cpu,cpuacct:/kubepods/pod1/ctr\n0::/\n"
	)
	for _, tc := range []struct {
		name  string
		self  string // /proc/self/cgroup; empty: unreadable
		files map[string]string
		want  int64
	}{
		{"cgroup v2 with a limit", ownNamespace, map[string]string{"memory.max": "201326592\n"}, 201326592 / 10 * 9},
		{"cgroup v2 without", ownNamespace, map[string]string{"memory.max": "max\n"}, 0},
		{"cgroup v1 with a limit", ownNamespace, map[string]string{"memory/memory.limit_in_bytes": "201326592\n"}, 201326592 / 10 * 9},
		{"cgroup v1 without (a page-rounded MaxInt64)", ownNamespace, map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"v2 first", ownNamespace, map[string]string{"memory.max": "100000000\n", "memory/memory.limit_in_bytes": "201326592\n"}, 90000000},
		{"nothing readable", ownNamespace, nil, 0},
		{"garbage", ownNamespace, map[string]string{"memory.max": "lots\n"}, 0},
		{"/proc/self/cgroup unreadable", "", map[string]string{"memory.max": "201326592\n"}, 201326592 / 10 * 9},
		// Without a cgroup namespace of its own the process's cgroup is a
		// path from the host's root, whose own files say no limit.
		{"v2, the host's view, the container's limit", hostV2, map[string]string{
			"kubepods/pod1/ctr/memory.max": "201326592\n", "kubepods/pod1/memory.max": "max\n"}, 201326592 / 10 * 9},
		{"v2, the host's view, only the pod's limit", hostV2, map[string]string{
			"kubepods/pod1/ctr/memory.max": "max\n", "kubepods/pod1/memory.max": "100000000\n"}, 90000000},
		{"v2, the least of the container's and the pod's", hostV2, map[string]string{
			"kubepods/pod1/ctr/memory.max": "300000000\n", "kubepods/pod1/memory.max": "100000000\n"}, 90000000},
		{"v1, the host's view", hostV1, map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n", "memory/kubepods/pod1/ctr/memory.limit_in_bytes": "201326592\n"}, 201326592 / 10 * 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, self := t.TempDir(), filepath.Join(t.TempDir(), "cgroup")
			for name, content := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.self != "" {
				if err := os.WriteFile(self, []byte(tc.self), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := memoryCeiling(root, self); got != tc.want {
				t.Errorf("memoryCeiling = %d, want %d", got, tc.want)
			}
		})
	}
}

// The headroom is the heap goal's, not only the limit's: the runtime
// counts what its in-use spans hold free (the slack between HeapInuse
// and HeapAlloc, left by objects freed among live ones) as memory beside
// the heap. Left out of the limit, that slack ate the eighth over the
// live heap, and the collector ran without a pause again.
func TestWatchGCHeadroomCountsTheSpansSlack(t *testing.T) {
	if os.Getenv("GRACEGUARD_WATCHGC_SLACK_CHILD") == "1" {
		slackChild()
		return
	}
	t.Parallel()
	var live, slack, goal int64
	out := runGCChild(t, "GRACEGUARD_WATCHGC_SLACK_CHILD", "live %d slack %d goal %d", &live, &slack, &goal)
	if slack < live/8 {
		t.Fatalf("the child's heap has %d bytes of slack for %d live: too little to tell", slack, live)
	}
	if want := live + live/16; goal < want {
		t.Errorf("with %d bytes live (%d of slack in its spans) the heap goal is %d, want at least %d\n%s", live, slack, goal, want, out)
	}
}

// slackFill keeps the child's live heap reachable.
var slackFill [][]byte

// slackChild makes a live heap of ~85 MiB of small objects with a quarter
// of their slots freed among them, and prints the heap goal once the
// policy has seen a cycle of it.
func slackChild() {
	restore := watchGCPolicy()
	defer restore()
	all := make([][]byte, 1_200_000)
	for i := range all {
		all[i] = make([]byte, 96)
	}
	for i := range all {
		if i%4 != 0 {
			slackFill = append(slackFill, all[i])
		}
	}
	all = nil
	// The pages all's quarter left free count against the limit until the
	// scavenger returns them, and a heap just over it has no goal above
	// the live heap whatever the policy: return them now.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	// A cycle while all was being made set a limit for a smaller heap:
	// wait for one after.
	limitAfterCycles(func(limit int64) bool {
		runtime.ReadMemStats(&ms)
		return limit >= int64(ms.HeapAlloc+ms.HeapAlloc/8)
	})
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	fmt.Printf("live %d slack %d goal %d (limit %d, sys %d, heap idle %d, released %d)\n", ms.HeapAlloc, ms.HeapInuse-ms.HeapAlloc, s[0].Value.Uint64(), debug.SetMemoryLimit(-1), ms.Sys, ms.HeapIdle, ms.HeapReleased)
	runtime.KeepAlive(slackFill)
}

// runGCChild runs the calling test again in a process of its own (the
// collector's settings are the whole process's), with env set to 1, and
// reads what the child printed as format says, from format's first word
// on. It returns the child's output.
func runGCChild(t *testing.T, env, format string, into ...any) []byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), env+"=1", "GOGC=", "GOMEMLIMIT=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(format, " ")
	at := bytes.Index(out, []byte(first))
	if at < 0 {
		t.Fatalf("child said %q", out)
	}
	if _, err := fmt.Sscanf(string(out[at:]), format, into...); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	return out
}
