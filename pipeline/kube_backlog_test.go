package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/prom"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
	"github.com/graceguard/graceguard/source/kube"
)

// A watcher catching up on containers' logs through the Kubernetes API
// reads an ingress controller's log, many times OpenUnison's, at the same
// pace over its own connection: OpenUnison's streams reach their end while
// the proxy's is still minutes of log time behind. The API says no size,
// but each line's kubelet stamp tells a stream delivering its past; while
// the proxy's does, the wall-time cap must not release OpenUnison's token
// events unjoined (it did: the alerts were lost or named the proxy).
func TestWatchCatchingUpOnAContainersProxyLogAgreesWithScan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{"openunison-0", "openunison-1", "ingress-nginx"}
	var paths []string
	var bufs []*bytes.Buffer
	for range names {
		bufs = append(bufs, new(bytes.Buffer))
	}
	truth, px, err := loggen.WritePaired([]io.Writer{bufs[0], bufs[1]},
		loggen.Config{Size: 512 << 10, Seed: 7, Users: 100, TokenShare: 0.2, ReplayShare: 0.1},
		loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{bufs[2]}})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		p := filepath.Join(dir, name+".log")
		if err := os.WriteFile(p, bufs[i].Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	want := scanFiles(t, paths)
	if len(want) < 20 {
		t.Fatalf("scan alerted %d times: the backlog tests little", len(want))
	}

	opt := WatchOptions{Rules: rules.Builtin(), Metrics: NewMetrics(prom.NewRegistry(), nil),
		// The cap as a slow connection meets it: past at once.
		Attribution: attribute.Options{MaxWait: time.Millisecond, Expect: true}}
	alerts := collectAlertKeys(&opt)
	w, err := NewWatcher(opt)
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch, 64)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- w.Run(ctx, batches) }()

	// The streams' lines interleaved by bytes, as connections of equal
	// bandwidth deliver them: the proxy's log is most of them.
	written := time.Now().Add(-time.Hour)
	lines := make([][][]byte, len(names))
	offs := make([]int64, len(names))
	for i := range names {
		lines[i] = bytes.SplitAfter(bufs[i].Bytes(), []byte("\n"))
	}
	sent := make([]int64, len(names))
	for {
		next := -1
		for i := range names {
			if len(lines[i]) > 0 && len(lines[i][0]) > 0 && (next < 0 || sent[i] < sent[next]) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		line := lines[next][0]
		lines[next] = lines[next][1:]
		path := "openunison/" + names[next] + "/c"
		batches <- source.Batch{Key: "kube:" + path + "#1", Path: path, Data: line, Offset: offs[next],
			Cursor: fmt.Sprint("c", offs[next]), Written: written}
		offs[next] += int64(len(line))
		sent[next] += int64(len(line))
	}
	for i, name := range names {
		path := "openunison/" + name + "/c"
		batches <- source.Batch{Key: "kube:" + path + "#1", Path: path, Offset: offs[i], Cursor: fmt.Sprint("c", offs[i]), Idle: true}
	}
	close(batches)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, want := opt.Metrics.Records.Value(), float64(truth.Records+px.Lines); n != want {
		t.Errorf("read %v records, want %v", n, want)
	}
	if missing, extra := diff(want, alerts()); len(missing)+len(extra) > 0 {
		t.Fatalf("watch differs from scan: %d of %d alerts missing, %d extra\nmissing:\n%v\nextra:\n%v",
			len(missing), len(want), len(extra), missing, extra)
	}
}

// A container's proxy log taken for one catching up (its lines came long
// after their kubelet stamps) that stops sending, neither idle nor ended
// (a connection hung, a kubelet gone, a connection being made again), no
// longer suspends the wall-time cap once it has sent no line for
// backlogStall: the token events it held go on unjoined, not kept until
// MaxPending.
func TestWatchLaggingContainersProxyLogThatStopsHoldsNothing(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	m := NewMetrics(prom.NewRegistry(), nil)
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Metrics: m, now: clock.now,
		Attribution: attribute.Options{MaxWait: 100 * time.Millisecond, Expect: true},
		Deliver:     func(context.Context, []alert.Alert) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan source.Batch, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, batches) }()
	defer func() {
		cancel()
		<-done
	}()
	batch := func(path, data string, written time.Time) source.Batch {
		return source.Batch{Key: "kube:" + path + "#1", Path: path, Data: []byte(data), Cursor: "c", Written: written}
	}
	// An hour behind: the proxy's stream is reading its past.
	batches <- batch("ingress-nginx/controller/c", nginxLine("10:00:00", "203.0.113.9"), clock.now().Add(-time.Hour))
	batches <- batch("openunison/ou/c", refreshLine("10:00:30,100", "10.1.67.12", "fa")+refreshLine("10:00:33,000", "10.1.67.12", "fb"), time.Time{})
	testsync.WaitFor(t, "the refresh waiting for the proxy's record", func() bool {
		return m.AttrWaiting.WithLabelValues("events").Value() >= 1
	})
	clock.add(time.Second) // past MaxWait, while the proxy's stream may still be sending
	clock.add(backlogStall)
	// Reconnecting, it says so, and sends nothing: that is no backlog read.
	away := batch("ingress-nginx/controller/c", "", time.Time{})
	away.Away = true
	batches <- away
	testsync.WaitFor(t, "the refresh gone on once the proxy's stream stopped", func() bool {
		return m.AttrWaiting.WithLabelValues("events").Value() == 0
	})
	// Its peer, no proxy known, is taken for its client.
	if n := m.Attribution.WithLabelValues("direct").Value(); n != 1 {
		t.Errorf("%v token events went on as direct, want the refresh", n)
	}
}

// A container's proxy log catching up is not taken for one that stopped
// when the watcher, not the stream, spent backlogStall elsewhere: busy (a
// loaded node, a long judgement) while the stream's next lines waited in
// its input. The token events held for those lines meet them; released on
// the wall time the watcher was busy, they went on unjoined (under load,
// most of a backlog's alerts were lost or named the proxy).
func TestWatchBusyOverALaggingContainersProxyLogKeepsItsEventsWaiting(t *testing.T) {
	t.Parallel()
	busy, resume := make(chan struct{}), make(chan struct{})
	k := startKubeWatch(t, func(b source.Batch) {
		if bytes.Contains(b.Data, []byte("[fb]")) {
			busy <- struct{}{}
			<-resume
		}
	})
	k.log(kubePX, nginxLine("10:00:00", "192.0.2.1"))
	k.awaitProxyLines(t, 1)
	k.log(kubeOU, refreshLine("10:00:30,100", kubePXAddr, "fa"), otherLine("10:00:30,500"))
	k.awaitWaiting(t, 1)
	k.log(kubeOU, refreshLine("10:00:34,000", kubePXAddr, "fb"))
	<-busy
	// Then OpenUnison's next lines, and the proxy's record of the first
	// refresh and more, come while the watcher is busy and the wall clock
	// runs.
	k.log(kubeOU, otherLine("10:00:36,000"), otherLine("10:00:37,000"))
	testsync.WaitFor(t, "OpenUnison's lines in the watcher's input", func() bool { return len(k.batches) == 2 })
	k.log(kubePX, nginxLine("10:00:30", "203.0.113.9"), nginxLine("10:00:40", "192.0.2.2"))
	testsync.WaitFor(t, "the proxy's lines in the watcher's input", func() bool { return len(k.batches) == 4 })
	k.clock.add(backlogStall + time.Second)
	close(resume)

	testsync.WaitFor(t, "both refreshes gone on", func() bool { return k.outcomes() >= 2 })
	if n := k.outcome("joined"); n != 1 {
		t.Errorf("%v token events joined to a proxy's record, want the first refresh (unattributed %v)", n, k.outcome("unattributed"))
	}
}

// A lagging container's proxy log that sends nothing more while the
// watcher has nothing else to read has stalled: once backlogStall has
// passed, the events it held go on, unjoined; not a moment before.
func TestWatchLaggingContainersProxyLogSilentWhileTheWatcherWaitsHoldsNothing(t *testing.T) {
	t.Parallel()
	k := startKubeWatch(t, nil)
	k.log(kubePX, nginxLine("10:00:00", "192.0.2.1"))
	k.awaitProxyLines(t, 1)
	k.log(kubeOU, refreshLine("10:00:30,100", kubePXAddr, "fa"), otherLine("10:00:30,500"))
	k.awaitWaiting(t, 1)
	k.clock.add(backlogStall - time.Millisecond)
	k.awaitTicks(t, 2) // the second begins after the first's metrics
	if n := k.m.AttrWaiting.WithLabelValues("events").Value(); n != 1 {
		t.Fatalf("%v token events waiting short of backlogStall, want the refresh", n)
	}
	k.clock.add(time.Millisecond)
	k.awaitWaiting(t, 0)
	if n := k.outcome("unattributed"); n != 1 {
		t.Errorf("%v token events went on unattributed, want the refresh", n)
	}
}

// kubeWatch is a watcher with a clock the test moves, following through
// the fake API server an OpenUnison pod's log and an ingress controller's,
// every line stamped by its kubelet an hour before the clock: a backlog.
type kubeWatch struct {
	clock   *stepClock
	srv     *kubefake.Server
	m       *Metrics
	batches chan source.Batch
	ticks   chan struct{}
}

const (
	kubeNS     = "openunison"
	kubeOU     = "openunison-orchestra-0"
	kubePX     = "ingress-nginx-controller-0"
	kubePXAddr = "10.1.67.12"
)

// startKubeWatch starts the watcher, handled told of each batch, and the
// kube source feeding it, until the test ends.
func startKubeWatch(t *testing.T, handled func(source.Batch)) *kubeWatch {
	t.Helper()
	k := &kubeWatch{clock: &stepClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}, srv: kubefake.New(t),
		m: NewMetrics(prom.NewRegistry(), nil), batches: make(chan source.Batch, 8), ticks: make(chan struct{}, 1)}
	for _, pod := range []string{kubeOU, kubePX} {
		k.srv.AddPod(kubeNS, pod, map[string]string{"tier": "auth"}, "c")
	}
	w, err := NewWatcher(WatchOptions{Rules: rules.Builtin(), Metrics: k.m, now: k.clock.now, handled: handled,
		ticked: func() {
			select {
			case k.ticks <- struct{}{}:
			default:
			}
		},
		// The proxy's pod, by its address, as --kube-proxy-selector names it.
		Attribution: attribute.Options{MaxWait: 100 * time.Millisecond, Expect: true,
			PeerOf: func(src string) (netip.Addr, bool) {
				return netip.MustParseAddr(kubePXAddr), src == kubeNS+"/"+kubePX+"/c"
			}},
		Deliver: func(context.Context, []alert.Alert) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	// No idle batch while the test runs: the streams are still sending.
	src, err := kube.New(kube.Options{Config: k.srv.ClientConfig(), Namespace: kubeNS, Selector: "tier=auth", Idle: time.Hour}, k.batches)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- src.Run(ctx) }()
	go func() { done <- w.Run(ctx, k.batches) }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return k
}

func (k *kubeWatch) log(pod string, texts ...string) {
	for _, text := range texts {
		k.srv.Log(kubeNS, pod, "c", k.clock.now().Add(-time.Hour), strings.TrimSuffix(text, "\n"))
	}
}

func (k *kubeWatch) awaitProxyLines(t *testing.T, n float64) {
	t.Helper()
	testsync.WaitFor(t, "the proxy's lines read", func() bool { return k.m.Lines.WithLabelValues(kubeNS+"/"+kubePX+"/c").Value() == n })
}

// awaitWaiting waits for n token events waiting for the proxy's records.
func (k *kubeWatch) awaitWaiting(t *testing.T, n float64) {
	t.Helper()
	testsync.WaitFor(t, fmt.Sprint(n, " token events waiting"), func() bool { return k.m.AttrWaiting.WithLabelValues("events").Value() == n })
}

func (k *kubeWatch) awaitTicks(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-k.ticks:
		case <-time.After(testsync.Patience):
			t.Fatal("the watcher stopped ticking")
		}
	}
}

func (k *kubeWatch) outcome(name string) float64 {
	return k.m.Attribution.WithLabelValues(name).Value()
}

// outcomes counts the token events attribution let go.
func (k *kubeWatch) outcomes() float64 {
	var n float64
	for _, name := range []string{"direct", "joined", "ambiguous", "unattributed"} {
		n += k.outcome(name)
	}
	return n
}

// otherLine is an OpenUnison line that is no event: the record before it
// is whole once it is read.
func otherLine(at string) string { return "[2026-11-23 " + at + "][main] INFO  x - y" }
