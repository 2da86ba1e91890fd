package pipeline

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
)

// userRefreshLine is refreshLine for a user of its own, at t, on a worker
// thread of the session's own (a thread's next request releases its last).
func userRefreshLine(t time.Time, ip, dn, sid string) string {
	return fmt.Sprintf("[2026-11-23 %s][XNIO-1 task-%s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [%s] - [%s]\n",
		t.Format("15:04:05,000"), sid, tokenURL, dn, ip, sid)
}

// What the detector forgets at its caps reaches /metrics, read over HTTP
// as Prometheus reads it while the watcher runs on its own goroutine: the
// rules' throttle keys and correlation's indexes.
func TestWatchCountsDetectorEvictionsOnMetrics(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const (
		throttleCap, throttleBatch = 10_000, 1_000 // rules' maxThrottleKeys, a tenth of it
		pendingCap                 = 4096          // correlate's maxPending
		movesCap, movesBatch       = 16_384, 1_638 // correlate's maxMoves, a tenth of it
		refusalsCap                = 1024          // correlate's maxRefusals: at it, all go
	)
	for _, tc := range []struct {
		name  string
		rules string
		lines func(b *strings.Builder)
		want  string
	}{
		{"rule throttle", "rules:\n  - name: every-refresh\n    description: d\n    severity: info\n    when: event.kind == \"token_ok\"\n    throttle: 1h\n",
			func(b *strings.Builder) {
				for i := range throttleCap + 1 {
					b.WriteString(userRefreshLine(t0.Add(time.Duration(i)*time.Millisecond), "198.51.100.40", fmt.Sprintf("uid=u%d,o=T", i), fmt.Sprintf("f%d", i)))
				}
			}, fmt.Sprintf("graceguard_rule_throttle_evicted_total %d", throttleBatch)},
		{"refreshes waiting for a twin", "",
			func(b *strings.Builder) {
				for i := range pendingCap + 4 {
					b.WriteString(userRefreshLine(t0, "198.51.100.40", fmt.Sprintf("uid=u%d,o=T", i), fmt.Sprintf("f%d", i)))
				}
			}, `graceguard_correlation_evicted_total{what="pending"} 4`},
		{"moved chains", "",
			func(b *strings.Builder) {
				for i := range movesCap + 1 {
					dn, at := fmt.Sprintf("uid=u%d,o=T", i), t0.Add(time.Duration(2*i)*time.Millisecond)
					b.WriteString(userRefreshLine(at, "203.0.113.7", dn, fmt.Sprintf("f%da", i)))
					b.WriteString(userRefreshLine(at.Add(time.Millisecond), "192.0.2.66", dn, fmt.Sprintf("f%db", i)))
				}
			}, fmt.Sprintf(`graceguard_correlation_evicted_total{what="moves"} %d`, movesBatch)},
		{"refusals waiting for their AzFail", "",
			func(b *strings.Builder) {
				for i := range refusalsCap + 1 {
					fmt.Fprintf(b, "[2026-11-23 10:00:00,000][XNIO-1 task-r%d] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n", i)
				}
			}, fmt.Sprintf(`graceguard_correlation_evicted_total{what="refusals"} %d`, refusalsCap)},
		{"rule errors", "rules:\n  - name: careless\n    description: d\n    severity: info\n    when: event.kind == \"token_ok\" && prev.ip == \"192.0.2.1\"\n",
			func(b *strings.Builder) {
				for i := range 3 {
					b.WriteString(userRefreshLine(t0.Add(time.Duration(i)*time.Minute), "198.51.100.40", fmt.Sprintf("uid=u%d,o=T", i), fmt.Sprintf("f%d", i)))
				}
			}, "graceguard_rule_errors_total 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := rules.Builtin()
			if tc.rules != "" {
				var err error
				if set, err = rules.Load(rules.File{Name: "extra.yaml", Data: []byte(tc.rules)}); err != nil {
					t.Fatal(err)
				}
			}
			h, url := newMetricsHarness(t, WatchOptions{Rules: set})
			var b strings.Builder
			tc.lines(&b)
			// In batches of a thousand lines, as a follower reads a
			// backlog: the watcher publishes its counts once a batch, so
			// records_total, the progress waitWhileReading watches, moves
			// while the 30,000 lines are read, not only at their end (one
			// batch read past testsync.Patience under -race on busy cores
			// and looked like a reader that stood still).
			for lines := slices.Collect(strings.Lines(b.String())); len(lines) > 0; {
				n := min(len(lines), 1000)
				h.send("pod-a", strings.Join(lines[:n], ""))
				lines = lines[n:]
			}
			h.idle("pod-a")
			var body string
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the last scrape:\n%s", metricLines(body, "graceguard_"))
				}
			})
			waitWhileReading(t, tc.want, func() (string, bool) {
				body = scrape(t, url)
				return metricLines(body, "graceguard_records_total"), strings.Contains(body, tc.want+"\n")
			})
			h.stop(t)
		})
	}
}

// waitWhileReading waits for cond as testsync.WaitFor does, but gives up
// only once progress (what it returns beside the condition) has stood
// still for testsync.Patience: a backlog of tens of thousands of lines
// under -race, beside other parallel tests, can take longer than that to
// read without anything being wrong.
func waitWhileReading(t *testing.T, what string, cond func() (progress string, ok bool)) {
	t.Helper()
	var last string
	deadline := time.Now().Add(testsync.Patience)
	for {
		progress, ok := cond()
		if ok {
			return
		}
		if progress != last {
			last, deadline = progress, time.Now().Add(testsync.Patience)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (reading stood still at %q)", what, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newMetricsHarness is a watch harness whose metrics the test scrapes over
// HTTP, as Prometheus does while the watcher runs on its own goroutine.
func newMetricsHarness(t *testing.T, opt WatchOptions) (h *watchHarness, url string) {
	t.Helper()
	reg := prom.NewRegistry()
	srv := httptest.NewServer(reg.Handler())
	t.Cleanup(srv.Close)
	opt.Metrics = NewMetrics(reg, nil)
	return newWatchHarnessWith(t, opt), srv.URL
}

// stop ends the harness's watcher and fails the test if it ended badly.
func (h *watchHarness) stop(t *testing.T) {
	t.Helper()
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func metricLines(body string, subs ...string) string {
	var out []string
	for l := range strings.Lines(body) {
		for _, s := range subs {
			if strings.HasPrefix(l, "graceguard_") && strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "")
}

// A record longer than parser.MaxRecord is cut there, and watch counts it
// in /metrics once, as scan's summary does, whether its batch is read line
// by line or parsed ahead: the line-by-line path once counted a long line,
// then again the record its continuation (a stack trace) overflowed.
func TestWatchCountsCutRecordsOnMetrics(t *testing.T) {
	t.Parallel()
	long := "[2026-11-23 10:00:00,000][XNIO-1 task-2] INFO  AccessLog - " + strings.Repeat("x", parser.MaxRecord) + "\n"
	for _, in := range []struct {
		name             string
		data             string
		records, wantCut int
	}{
		{"two long lines", long + refreshLine("10:00:01,000", "198.51.100.40", "fa") + long + refreshLine("10:00:02,000", "198.51.100.40", "fb"), 4, 2},
		{"a long line with a stack trace", long + "\tat io.openunison.X(X.java:1)\n" + refreshLine("10:00:01,000", "198.51.100.40", "fa") + refreshLine("10:00:02,000", "198.51.100.40", "fb"), 3, 1},
	} {
		for _, read := range []struct {
			name       string
			prepareMin int
		}{
			{"read line by line", len(in.data) + 1},
			{"parsed ahead", 1},
		} {
			t.Run(in.name+"/"+read.name, func(t *testing.T) {
				t.Parallel()
				h, url := newMetricsHarness(t, WatchOptions{Rules: rules.Builtin(), prepareMin: read.prepareMin})
				h.send("pod-a", in.data)
				h.idle("pod-a")
				var body string
				testsync.WaitFor(t, "the records", func() bool {
					body = scrape(t, url)
					return strings.Contains(body, fmt.Sprintf("graceguard_records_total %d\n", in.records))
				})
				if want := fmt.Sprintf("graceguard_records_cut_total %d\n", in.wantCut); !strings.Contains(body, want) {
					t.Errorf("want %q, got:\n%s", want, metricLines(body, "records"))
				}
				h.stop(t)
			})
		}
	}
}

// The GeoIP cache's evictions reach /metrics: a cache of two addresses
// asked for three forgets one.
func TestGeoCacheEvictionsOnMetrics(t *testing.T) {
	t.Parallel()
	db, err := geo.OpenConfig(geo.Config{City: "../testdata/geoip/graceguard-test-city.mmdb", CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	reg := prom.NewRegistry()
	RegisterGeoCache(reg, db.Stats)
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	for _, a := range []string{"203.0.113.7", "198.51.100.23", "192.0.2.66"} {
		db.Lookup(netip.MustParseAddr(a))
	}
	body := scrape(t, srv.URL)
	for _, want := range []string{"graceguard_geo_cache_evicted_total 1\n", "graceguard_geo_cache_entries 2\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metricLines(body, "geo"))
		}
	}
}
