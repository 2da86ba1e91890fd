package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// replicaBacklog writes two replicas' logs that already hold traffic with
// replays across them, and returns their paths and the records written.
func replicaBacklog(t *testing.T, seed int64) ([]string, int64) {
	t.Helper()
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "pod-a.log"), filepath.Join(dir, "pod-b.log")}
	var files []*os.File
	var ws []*bufio.Writer
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		files, ws = append(files, f), append(ws, bufio.NewWriter(f))
	}
	truth, err := loggen.WriteReplicas([]io.Writer{ws[0], ws[1]}, loggen.Config{Size: 4 << 20, Seed: seed, ReplayShare: 0.05, Users: 50})
	for i, f := range files {
		ws[i].Flush()
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return paths, truth.Records
}

// what names an alert by what it says: scan and watch name files
// differently in alert ids.
func what(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s %s %s prev=%s %s", a.Rule, a.User, a.IP, a.PrevIP, a.Time.UTC().Format(time.RFC3339Nano)))
	}
	slices.Sort(out)
	return out
}

// Story 3 of issue 13, as an operator runs it: watch started over two
// replicas' logs that already hold a backlog finds what scan finds in the
// same files, with memory state and with Redis, run after run.
func TestWatchCatchingUpFindsWhatScanFinds(t *testing.T) {
	t.Parallel()
	paths, records := replicaBacklog(t, 21)
	stdout, stderr, code := run(t, nil, append([]string{"scan", "--format", "json", "-q"}, paths...)...)
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var scanned []alert.Alert
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var a alert.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("scan printed %q: %v", line, err)
		}
		scanned = append(scanned, a)
	}
	want := what(scanned)
	srv := redistest.Start(t)
	for i, state := range []string{"memory", "redis", "redis"} {
		t.Run(fmt.Sprintf("%s run %d", state, i), func(t *testing.T) {
			args := []string{"--format", "json", "--from", "start", "--poll", "5ms", "--state-dir", "", "--listen", "127.0.0.1:0"}
			if state == "redis" {
				args = append(args, "--state", fmt.Sprintf("redis://%s/%d", srv.Addr, i), "--settle", "600ms")
			}
			w := startWatch(t, append(args, paths...)...)
			addr := waitForAddr(t, w)
			testsync.WaitFor(t, "every record read", func() bool {
				return metric(t, addr, "graceguard_records_total") >= float64(records)
			})
			if code := w.stop(t); code != 0 {
				t.Fatalf("exit %d:\n%s", code, w.errOut)
			}
			if got := what(w.alerts(t)); !slices.Equal(got, want) {
				t.Fatalf("watch found %d alerts, scan %d:\nwatch:\n%s\nscan:\n%s", len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
