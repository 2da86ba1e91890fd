package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// chunks cuts a log into pieces of about n bytes at line ends, as a
// follower hands them out.
func chunks(data []byte, n int) []string {
	var out []string
	for len(data) > 0 {
		i := min(n, len(data))
		if j := bytes.IndexByte(data[i-1:], '\n'); j >= 0 {
			i += j
		} else {
			i = len(data)
		}
		out = append(out, string(data[:i]))
		data = data[i:]
	}
	return out
}

// A watcher following an OpenUnison replica and the ingress controller in
// front of it names every replay's real client, whichever log is read
// ahead: token events wait for the proxy's records and records for events.
func TestWatchJoinsTheProxyLog(t *testing.T) {
	t.Parallel()
	for _, proxyFirst := range []bool{true, false} {
		var ou, pod bytes.Buffer
		truth, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 1 << 20, Seed: 5, ReplayShare: 0.03},
			loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{&pod}})
		if err != nil {
			t.Fatal(err)
		}
		h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Settle: 0})
		ous, pods := chunks(ou.Bytes(), 16<<10), chunks(pod.Bytes(), 16<<10)
		// One log runs several chunks ahead of the other.
		for i := 0; i < max(len(ous), len(pods))+4; i++ {
			lead, lag := pods, ous
			leadKey, lagKey := "ingress-nginx.log", "openunison.log"
			if !proxyFirst {
				lead, lag, leadKey, lagKey = ous, pods, lagKey, leadKey
			}
			if i < len(lead) {
				h.send(leadKey, lead[i])
			}
			if j := i - 4; j >= 0 && j < len(lag) {
				h.send(lagKey, lag[j])
			}
		}
		h.idle("openunison.log")
		h.idle("ingress-nginx.log")
		close(h.batches)
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		mismatch := 0
		for _, a := range h.alerts {
			if strings.HasPrefix(a.IP, "10.1.67.") {
				t.Errorf("proxy first %v: a proxy judged as a client: %s %s ← %s", proxyFirst, a.Rule, a.IP, a.PrevIP)
			}
			if a.Rule == "reuse-ip-mismatch" {
				mismatch++
				if a.Via == "" || a.Peer == "" {
					t.Errorf("proxy first %v: alert without its proxy: %+v", proxyFirst, a)
				}
			}
		}
		h.mu.Unlock()
		if int64(mismatch) < truth.Replays {
			t.Errorf("proxy first %v: %d reuse-ip-mismatch alerts for %d replays", proxyFirst, mismatch, truth.Replays)
		}
		st := h.w.attr.Stats()
		t.Logf("proxy first %v: %d replays, outcomes %v, unmatched records %d", proxyFirst, truth.Replays, st.Outcomes, st.RecordsUnmatched)
	}
}

// What waits for a proxy's record survives a restart: the checkpoint keeps
// the waiting events and records, and the join completes after it.
func TestWatchCheckpointKeepsWhatWaitsForAProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	var got []alert.Alert
	opt := WatchOptions{Rules: rules.Builtin(), StateDir: dir, Settle: time.Hour, Deliver: func(_ context.Context, g []alert.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, g...)
		return nil
	}}
	offsets := map[string]int64{}
	batch := func(key, data string, ino uint64) source.Batch {
		b := source.Batch{Key: key, Path: key, ID: source.FileID{Dev: 1, Ino: ino}, Data: []byte(data), Offset: offsets[key]}
		offsets[key] += int64(len(data))
		return b
	}
	// A line after each record: the last line of a batch may still grow.
	const klog = "I1123 10:00:10.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"
	w1, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	batches := make(chan source.Batch)
	done := make(chan error, 1)
	go func() { done <- w1.Run(ctx, batches) }()
	batches <- batch("ingress", "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"+nginxLine("10:00:00", "203.0.113.9")+klog, 3)
	batches <- batch("pod-a", refreshLine("10:00:00,100", "10.1.67.12", "fa")+reuseLines("10:00:01,500", "10.1.67.12", "fb")+
		refreshLine("10:00:09,000", "10.1.67.12", "fz"), 4)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	w2, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	if st := w2.attr.Stats(); st.WaitingEvents < 3 || st.WaitingRecords != 1 {
		t.Fatalf("restored %d waiting events and %d records, want the refresh, the reuse and its record", st.WaitingEvents, st.WaitingRecords)
	}
	batches = make(chan source.Batch)
	go func() { done <- w2.Run(context.Background(), batches) }()
	batches <- batch("ingress", nginxLine("10:00:01", "192.0.2.66")+nginxLine("10:00:09", "203.0.113.9")+klog, 3)
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range got {
		if a.Rule == "reuse-ip-mismatch" && a.IP == "192.0.2.66" && a.PrevIP == "203.0.113.9" && a.Peer == "10.1.67.12" {
			return
		}
	}
	t.Errorf("the replay was not named after the restart: %+v", got)
}

// Without the proxy's log, reuses through it are counted in /metrics and
// named once in the log, with the log to add.
func TestWatchCountsUnattributedReuses(t *testing.T) {
	t.Parallel()
	var logs testsync.Buffer
	reg := prom.NewRegistry()
	m := NewMetrics(reg, nil)
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Attribution: attribute.Options{Proxies: []netip.Prefix{netip.MustParsePrefix("10.1.67.0/24")}}})
	h.send("pod-a", refreshLine("10:00:00,000", "10.1.67.12", "fa")+reuseLines("10:00:00,043", "10.1.67.56", "fb")+
		refreshLine("10:05:00,000", "10.1.67.12", "fc")+reuseLines("10:05:00,043", "10.1.67.56", "fd"))
	h.idle("pod-a")
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	if v := m.Unattributed.Value(); v != 2 {
		t.Errorf("graceguard_unattributed_reuses_total %v, want 2", v)
	}
	if v := m.Attribution.WithLabelValues("unattributed").Value(); v != 6 {
		t.Errorf("graceguard_attribution_total{attribution=unattributed} %v, want 6", v)
	}
	if n := strings.Count(logs.String(), "came through a proxy"); n != 1 {
		t.Errorf("%d log lines about unattributed reuses, want one:\n%s", n, logs.String())
	}
	if n := h.count("reuse-ip-mismatch") + h.count("reuse-new-ip"); n != 0 {
		t.Errorf("%d address alerts on unattributed reuses", n)
	}
}

// A backlog of an OpenUnison replica's log and its ingress's, read from
// the start: watch joins every request and alerts as scan does, whichever
// log the follower reads ahead. In /var/log/containers openunison-… sorts
// before traefik-… and after ingress-nginx-…; here the proxy's log is
// named to sort either side. Busy seconds of nginx's whole-second times
// leave many requests to be told apart by order alone, and some replays to
// be alerted on the pair proof alone.
func TestWatchCatchingUpBehindAProxyAgreesWithScan(t *testing.T) {
	t.Parallel()
	for _, proxy := range []string{"ingress-nginx.log", "zz-ingress-nginx.log"} {
		t.Run(proxy, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			paths := []string{filepath.Join(dir, "openunison.log"), filepath.Join(dir, proxy)}
			records := pairedBacklog(t, paths)
			if _, alerts := scanAlerts(t, openInputs(t, paths)); pairProofs(alerts) == 0 {
				t.Fatal("scan alerted no replay on the pair proof: the backlog tests nothing")
			}
			want := scanFiles(t, paths)
			got := watchFiles(t, paths, records, WatchOptions{})
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
					len(missing), len(want), len(extra), missing, extra)
			}
		})
	}
}

// pairedBacklog writes one replica's log and its ingress-nginx's, dense
// with token requests and replays, to paths, and returns their records.
func pairedBacklog(t *testing.T, paths []string) int64 {
	t.Helper()
	var files []*os.File
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	truth, px, err := loggen.WritePaired([]io.Writer{files[0]}, loggen.Config{Size: 128 << 10, Seed: 1, Users: 30, TokenShare: 0.5, ReplayShare: 0.2, Rate: 15},
		loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{files[1]}, NoiseShare: -1})
	for _, f := range files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return truth.Records + px.Lines
}

// pairProofs counts the alerts only the pair proof could raise: a reuse
// and its refresh both ambiguous (the refresh's address is still its
// proxy's).
func pairProofs(alerts []alert.Alert) int {
	n := 0
	for _, a := range alerts {
		if a.Rule == "reuse-ip-mismatch" && a.Attribution == parser.AttrAmbiguous.String() && a.PrevIP == "" && a.PrevPeer != "" {
			n++
		}
	}
	return n
}

func openInputs(t *testing.T, paths []string) []Input {
	t.Helper()
	var in []Input
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		in = append(in, Input{Name: p, R: f})
	}
	return in
}

// An ingress logs all of a cluster's traffic, OpenUnison only its own, so
// on a backlog the proxy's log is many times the size of the replicas'
// logs of the same hours, and a watcher reads those to their end long
// before the proxy's records of the same time. Attribution's wall-time
// bound (MaxWait, a few seconds, here a millisecond to stand for a backlog
// larger than this one) must not release the events meanwhile: they went
// on unjoined, and most of the backlog's alerts were lost or named the
// ingress (on 16 MB of replicas' logs and their ingress's 184 MB, 400–1,900
// of scan's 3,294).
func TestWatchCatchingUpOnAProxysLargerLogAgreesWithScan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		replicas, users int
		seed            int64
		maxWait         time.Duration
	}{
		{3, 200, 5, time.Millisecond},
		// Two OpenUnison pods behind one busy NAT address: the upstream of
		// each pod's log must be learned to tell its requests from the
		// other's. Voting for it ahead of the match, a whole batch of the
		// proxy's backlog at once, learned neither: 96 of 170 alerts lost.
		// Only while events wait to learn the proxy's peer, which MaxWait
		// (the default here) bounds.
		{2, 100, 7, 0},
		// A chain moved on one replica 1.2 s before the other replica
		// refused its old client: scan judged the refusal while the move's
		// refresh still waited for its twin, and missed the chain-takeover
		// watch raised.
		{2, 200, 7, 0},
	} {
		t.Run(fmt.Sprintf("%d replicas %d users seed %d", tc.replicas, tc.users, tc.seed), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var paths []string
			var ws []io.Writer
			for _, name := range []string{"openunison-0.log", "openunison-1.log", "openunison-2.log"}[:tc.replicas] {
				f, err := os.Create(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				paths, ws = append(paths, f.Name()), append(ws, f)
			}
			px, err := os.Create(filepath.Join(dir, "zz-ingress-nginx.log"))
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			paths = append(paths, px.Name())
			truth, pxs, err := loggen.WritePaired(ws, loggen.Config{Size: 1 << 20, Seed: tc.seed, Users: tc.users, TokenShare: 0.2, ReplayShare: 0.1},
				loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{px}})
			if err != nil {
				t.Fatal(err)
			}
			want := scanFiles(t, paths)
			if len(want) < 50 {
				t.Fatalf("scan alerted %d times: the backlog tests little", len(want))
			}
			got := watchFiles(t, paths, truth.Records+pxs.Lines, WatchOptions{Attribution: attribute.Options{MaxWait: tc.maxWait}})
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
					len(missing), len(want), len(extra), missing, extra)
			}
		})
	}
}

// A replay whose proxy record is missing (a line lost, or its path forged
// through X-Envoy-Original-Path) leaves OpenUnison's token requests of that
// moment outnumbering the proxy's records: none is joined, and /metrics and
// the log say so, naming the header to strip rather than a log to add.
func TestWatchCountsOutnumberedRequests(t *testing.T) {
	t.Parallel()
	var logs testsync.Buffer
	m := NewMetrics(prom.NewRegistry(), nil)
	h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const klog = "I1123 10:00:10.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"
	hidden := strings.Replace(nginxLine("10:00:00", "192.0.2.66"), "/auth/idp/k8sIdp/token", "/healthz", 1)
	h.send("ingress", nginxLine("10:00:00", "203.0.113.9")+hidden+nginxLine("10:00:09", "203.0.113.9")+klog)
	h.send("pod-a", refreshLine("10:00:00,000", "10.1.67.12", "fa")+reuseLines("10:00:00,043", "10.1.67.12", "fb")+
		refreshLine("10:00:09,000", "10.1.67.12", "fc"))
	h.idle("ingress")
	h.idle("pod-a")
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	if v := m.Outnumbered.Value(); v < 2 {
		t.Errorf("graceguard_attribution_outnumbered_total %v, want the refresh and the replay (2 or more)", v)
	}
	if !strings.Contains(logs.String(), "X-Envoy-Original-Path") || strings.Contains(logs.String(), "--timezone") {
		t.Errorf("the log does not name the outnumbered requests' cause:\n%s", logs.String())
	}
}
