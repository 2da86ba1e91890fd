package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// A proxy's log the user named as one (Kubernetes mode: a pod the proxy
// selector picks, whose log may hold nothing yet, as with --from end)
// counts as one from the start, empty or not: the token events read before
// its first record wait for it exactly as for a log that showed itself a
// proxy's by its first line. Known only once its first records arrived,
// and with OpenUnison's log read two seconds on, the refresh before them
// went on unjoined, judged with the controller's address as its client's:
// the replay after it was told against the controller, not the real
// client. The wall clock stands still until both logs have been read.
func TestWatchWaitsForAnEmptyProxyLogTheUserNamed(t *testing.T) {
	t.Parallel()
	const banner = "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"
	for _, c := range []struct {
		name, head string
		named      bool
		glob       string // the file named by a pattern (watch --proxy-logs) instead
	}{
		{"a line at start", banner, false, ""},
		{"empty, named", "", true, ""},
		{"a line at start, named", banner, true, ""},
		{"empty, named by a glob", "", false, "ingress-*.log"},
		{"empty, named by its path", "", false, "./ingress-nginx.log"},
		// Named under another name than the one it is followed by, as
		// /var/log/containers/… links to /var/log/pods/….
		{"empty, named through a symlink", "", false, "link/ingress-*.log"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ou, px := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress-nginx.log")
			writeFile(t, ou, "")
			writeFile(t, px, c.head)
			var attr attribute.Options
			if c.named {
				attr.Expect = true
				attr.PeerOf = func(src string) (netip.Addr, bool) {
					return netip.MustParseAddr("10.1.67.12"), src == px
				}
			}
			opt := WatchOptions{Attribution: attr}
			if c.glob != "" {
				opt.ProxyLogs = []string{filepath.Join(dir, c.glob)}
			}
			if err := os.Symlink(dir, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			h := followAppended(t, []string{ou, px}, opt)
			// The refresh, the replay and a line two seconds on, read
			// before the ingress's records of the two requests.
			appendFile(t, ou, refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
				"[2026-11-23 10:00:03,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example/auth/idp/k8sIdp/auth - uid=other,ou=users - NONE [10.1.67.12] - [s3]\n")
			h.waitEvents(t, parser.KindLogin, 1)
			appendFile(t, px, nginxLine("10:00:00", "203.0.113.9")+nginxLine("10:00:01", "192.0.2.66"))
			h.waitEvents(t, parser.KindProxy, 2)
			h.wantReplayAfterTheRealClient(t)
		})
	}
}

// A --proxy-logs pattern that matches no file when watch starts (the
// controller just started, its log not created yet) still holds the token
// events for the proxy's records: the proxy counts as read past nothing
// until a file of the pattern is read. Held only by the logs' clocks, the
// refresh went on unjoined as soon as OpenUnison's log was read two
// seconds past it, and the replay was told against the controller.
func TestWatchWaitsForAProxyLogNamedBeforeItExists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ou, glob := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress-*.log")
	writeFile(t, ou, "")
	h := followAppended(t, []string{ou, glob}, WatchOptions{ProxyLogs: []string{glob}})
	appendFile(t, ou, refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
		"[2026-11-23 10:00:04,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example/auth/idp/k8sIdp/auth - uid=other,ou=users - NONE [10.1.67.12] - [s3]\n")
	h.waitEvents(t, parser.KindLogin, 1)
	writeFile(t, filepath.Join(dir, "ingress-nginx.log"), nginxLine("10:00:00", "203.0.113.9")+nginxLine("10:00:01", "192.0.2.66")+nginxLine("10:00:05", "198.51.100.7"))
	h.waitEvents(t, parser.KindProxy, 3)
	h.wantReplayAfterTheRealClient(t)
}

// A --proxy-logs pattern that still matches nothing awaitNamedFor after
// the start (a typo, a proxy gone) is no longer waited for: token events
// go on by the other logs' clocks again, not each after MaxWait for ever.
func TestWatchGivesUpAProxyLogPatternThatMatchesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ou := filepath.Join(dir, "openunison.log")
	writeFile(t, ou, "")
	h := followAppended(t, []string{ou}, WatchOptions{ProxyLogs: []string{filepath.Join(dir, "typo-*.log")}})
	h.clock.add(awaitNamedFor)
	appendFile(t, ou, refreshLine("10:00:00,100", "10.1.67.12", "fa")+
		"[2026-11-23 10:00:04,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example/auth/idp/k8sIdp/auth - uid=other,ou=users - NONE [10.1.67.12] - [s3]\n")
	h.waitEvents(t, parser.KindLogin, 1)
	// The wall clock stands still: only the logs' clocks can release it.
	testsync.WaitFor(t, "the refresh released by OpenUnison's clock", func() bool {
		return h.m.AttrWaiting.WithLabelValues("events").Value() == 0 && h.m.Events.WithLabelValues(parser.KindTokenOK.String()).Value() == 1
	})
}

// appendedHarness is a watcher following real files with a real follower,
// its wall clock moved by the test alone.
type appendedHarness struct {
	m      *Metrics
	clock  *stepClock
	mu     sync.Mutex
	alerts []alert.Alert
}

// followAppended follows paths, already created (globs: as they come),
// until the test ends; it returns once the watcher has heard of every one
// of them but the globs.
func followAppended(t *testing.T, paths []string, opt WatchOptions) *appendedHarness {
	t.Helper()
	h := &appendedHarness{m: NewMetrics(prom.NewRegistry(), nil), clock: &stepClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}}
	var mu sync.Mutex
	heard := map[string]bool{}
	opt.Rules, opt.Metrics, opt.now = rules.Builtin(), h.m, h.clock.now
	opt.handled = func(b source.Batch) {
		mu.Lock()
		defer mu.Unlock()
		heard[b.Path] = true
	}
	opt.Deliver = func(_ context.Context, g []alert.Alert) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.alerts = append(h.alerts, g...)
		return nil
	}
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	batches := follow(ctx, source.Options{Patterns: paths, Poll: 10 * time.Millisecond}, 4)
	done := make(chan error, 1)
	go func() { done <- w.Run(context.WithoutCancel(ctx), batches) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	testsync.WaitFor(t, "every file announced", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !slices.ContainsFunc(paths, func(p string) bool { return !heard[p] && !strings.ContainsAny(p, "*?[") })
	})
	return h
}

// wantReplayAfterTheRealClient lets the wall clock pass every wait, then
// checks the one replay's alert names its client, 192.0.2.66, after the
// refresh's real client, 203.0.113.9, as the proxy's records say.
func (h *appendedHarness) wantReplayAfterTheRealClient(t *testing.T) {
	t.Helper()
	h.clock.add(5 * time.Second)
	testsync.WaitFor(t, "nothing waiting for a proxy record", func() bool {
		return h.m.AttrWaiting.WithLabelValues("events").Value() == 0
	})
	got := h.rule("reuse-ip-mismatch")
	if len(got) != 1 || got[0].IP != "192.0.2.66" || got[0].PrevIP != "203.0.113.9" {
		t.Errorf("reuse-ip-mismatch alerts %s, want one naming 192.0.2.66 after the real client 203.0.113.9", clientsOf(got))
	}
}

// waitEvents waits until n events of kind k have been read.
func (h *appendedHarness) waitEvents(t *testing.T, k parser.Kind, n int) {
	t.Helper()
	testsync.WaitFor(t, "the lines appended read", func() bool { return h.m.Events.WithLabelValues(k.String()).Value() >= float64(n) })
}

// rule returns the alerts of rule delivered so far.
func (h *appendedHarness) rule(rule string) []alert.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []alert.Alert
	for _, a := range h.alerts {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func clientsOf(alerts []alert.Alert) string {
	var b strings.Builder
	for _, a := range alerts {
		fmt.Fprintf(&b, "[%s %s (peer %s, %s) after %s (peer %s)]", a.Rule, a.IP, a.Peer, a.Attribution, a.PrevIP, a.PrevPeer)
	}
	return cmp.Or(b.String(), "none")
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}
