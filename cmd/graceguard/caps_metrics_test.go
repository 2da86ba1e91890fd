package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// Every cap's evictions are on the real listener's /metrics from the
// start, at zero: the rules' throttles, cut records, and with a GeoIP
// database its cache (the per-label counters, correlation's and the
// sinks' throttles, appear at their first eviction; their own packages'
// tests drive them there).
func TestWatchExportsItsCapsOnMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	appendFile(t, logPath, replayLines("u1", 0))
	city, err := filepath.Abs(filepath.Join("..", "..", testCityDB))
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, "--format", "json", "--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", "--geoip-city", city, "--poll", "5ms", logPath)
	testsync.WaitFor(t, "the first alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	_, metrics := get(t, "http://"+waitForAddr(t, w)+"/metrics")
	for _, want := range []string{
		"graceguard_rule_throttle_evicted_total 0\n",
		"graceguard_rule_errors_total 0\n",
		"graceguard_records_cut_total 0\n",
		"graceguard_geo_cache_evicted_total 0\n",
		"graceguard_geo_cache_entries ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "graceguard_geo_cache_entries 0\n") {
		t.Error("the GeoIP cache is empty after the log's public addresses were placed")
	}
}
