package pipeline

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
)

// review2: the correlator's counts come back from the checkpoint
// (Correlator.Restore sets its stats), while detCounted starts at zero: the
// first publish after a restart adds the previous run's evictions to
// graceguard_correlation_evicted_total, which this process's counter had
// exported as 0 until then. Prometheus sees a reset, then the old total
// again: increase() counts the previous run's evictions twice.
func TestReview2RestartDoesNotRecountCorrelationEvictions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := func(lines string) string {
		reg := prometheus.NewRegistry()
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Metrics: NewMetrics(reg, nil), StateDir: dir})
		h.send("pod-a", lines)
		h.idle("pod-a")
		want := fmt.Sprintf("graceguard_records_total %d\n", strings.Count(lines, "\n"))
		var body string
		testsync.WaitFor(t, want, func() bool {
			body = scrape(t, srv.URL)
			return strings.Contains(body, want)
		})
		close(h.batches)
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		return body
	}
	var b strings.Builder
	for i := range 1025 { // one past correlate's maxRefusals: all 1024 go
		fmt.Fprintf(&b, "[2026-11-23 10:00:00,000][XNIO-1 task-r%d] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n", i)
	}
	first := run(b.String())
	if !strings.Contains(first, `graceguard_correlation_evicted_total{what="refusals"} 1024`+"\n") {
		t.Fatalf("the first run did not count its evictions:\n%s", metricLines(first, "evicted"))
	}
	second := run(userRefreshLine(t0.Add(time.Hour), "198.51.100.40", "uid=late,o=T", "late"))
	if got := metricLines(second, `what="refusals"`); got != "" {
		t.Errorf("the second run evicted nothing, yet its /metrics says:\n%s", got)
	}
}
