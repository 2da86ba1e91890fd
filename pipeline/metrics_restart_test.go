package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
)

// A restart from a checkpoint brings the correlator's counts back
// (Correlator.Restore sets its stats); they are the earlier run's, so this
// process's counters must not add them at its first publish: Prometheus
// reads a restart as a reset, and increase() would count them twice.
func TestRestartDoesNotRecountCorrelationEvictions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	// run waits for every line of want on /metrics (published once a batch,
	// the records read before what judging them evicted) besides the
	// records' count.
	run := func(lines string, want ...string) string {
		h, url := newMetricsHarness(t, WatchOptions{Rules: rules.Builtin(), StateDir: dir})
		h.send("pod-a", lines)
		h.idle("pod-a")
		want = append(want, fmt.Sprintf("graceguard_records_total %d\n", strings.Count(lines, "\n")))
		var body string
		testsync.WaitFor(t, strings.Join(want, ""), func() bool {
			body = scrape(t, url)
			for _, w := range want {
				if !strings.Contains(body, w) {
					return false
				}
			}
			return true
		})
		h.stop(t)
		return body
	}
	var b strings.Builder
	for i := range 1025 { // one past correlate's maxRefusals: all 1024 go
		fmt.Fprintf(&b, "[2026-11-23 10:00:00,000][XNIO-1 task-r%d] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n", i)
	}
	run(b.String(), `graceguard_correlation_evicted_total{what="refusals"} 1024`+"\n")
	second := run(userRefreshLine(t0.Add(time.Hour), "198.51.100.40", "uid=late,o=T", "late"))
	if got := metricLines(second, `what="refusals"`); got != "" {
		t.Errorf("the second run evicted nothing, yet its /metrics says:\n%s", got)
	}
}
