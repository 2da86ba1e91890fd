package pipeline

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// review2: one record whose first line is longer than MaxRecord and which
// has a continuation line (a stack trace) is one cut record to scan and to
// watch's parsed-ahead path (BlockStats counts records), but two to watch
// reading line by line: pushLines counts the long line, then the Assembler
// counts the record again when the continuation no longer fits.
func TestReview2WatchCountsACutRecordWithContinuationOnce(t *testing.T) {
	t.Parallel()
	long := "[2026-11-23 10:00:00,000][XNIO-1 task-2] ERROR AccessLog - " + strings.Repeat("x", parser.MaxRecord) + "\n\tat io.openunison.X(X.java:1)\n"
	data := long + refreshLine("10:00:01,000", "198.51.100.40", "fa") + refreshLine("10:00:02,000", "198.51.100.40", "fb")
	for _, tc := range []struct {
		name       string
		prepareMin int
	}{
		{"read line by line", len(data) + 1},
		{"parsed ahead", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			defer srv.Close()
			h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Metrics: NewMetrics(reg, nil), prepareMin: tc.prepareMin})
			h.send("pod-a", data)
			h.idle("pod-a")
			var body string
			testsync.WaitFor(t, "the records", func() bool {
				body = scrape(t, srv.URL)
				return strings.Contains(body, "graceguard_records_total 3\n")
			})
			if want := "graceguard_records_cut_total 1\n"; !strings.Contains(body, want) {
				t.Errorf("want %q, got:\n%s", want, metricLines(body, "cut"))
			}
			close(h.batches)
			if err := <-h.done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
