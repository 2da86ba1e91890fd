package main

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A container restarted while watch was stopped logs to a new file (the
// kubelet's link has the new container's id in its name). With --from end
// it is no history: its lines, written before watch came back, are read
// and judged on the restart, while what the first start skipped stays
// skipped.
func TestWatchFromEndReadsALogMadeWhileStopped(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and stops processes")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "containers")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	first, second := filepath.Join(logs, "openunison-1.log"), filepath.Join(logs, "openunison-2.log")
	appendFile(t, first, replayLines("old", 0)) // before the first start: skipped
	if !bornTimeKnown(t, first) {
		t.Skip("this filesystem keeps no birth time; watch reads a new file from its end, as the README says")
	}
	args := []string{"--from=end", filepath.Join(logs, "*.log")}
	p := startWatchProc(t, dir, args...)
	p.logs = []string{first}
	p.waitCheckpointed(t) // following, from the end
	appendFile(t, first, replayLines("u0", 1))
	p.waitAlerts(t, "u0")
	p.stop(t)

	appendFile(t, second, replayLines("u1", 2))
	p = startWatchProc(t, dir, args...)
	p.logs = []string{first, second}
	p.waitAlerts(t, "u0", "u1")
	if n := p.mismatches()["old"]; n != 0 {
		t.Errorf("what the first start skipped alerted %d times", n)
	}
}

// bornTimeKnown says whether the filesystem holding path records when a
// file was made (statx's birth time).
func bornTimeKnown(t *testing.T, path string) bool {
	t.Helper()
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME, &st); err != nil {
		return false
	}
	return st.Mask&unix.STATX_BTIME != 0
}
