package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testparallel"
	"github.com/graceguard/graceguard/internal/testsync"
)

// TestMain lets a test run graceguard as a separate process (to kill it
// with SIGKILL) by running this test binary as the command itself.
func TestMain(m *testing.M) {
	if os.Getenv("GRACEGUARD_RUN_MAIN") == "1" {
		os.Args = append([]string{"graceguard"}, strings.Fields(os.Getenv("GRACEGUARD_ARGS"))...)
		// The harness's variables are no settings: graceguard would say so.
		for _, name := range []string{"GRACEGUARD_RUN_MAIN", "GRACEGUARD_ARGS", crashEnv} {
			os.Unsetenv(name)
		}
		main()
		return
	}
	prestartDeployRenderer()
	// Most of these tests wait (settle times, a child process starting, a
	// poll interval, the demo's story): run two at a time on two cores they
	// kept the CPU a fifth busy (21 s of CPU in 63 s).
	os.Exit(testparallel.Run(m))
}

type watchRun struct {
	out, errOut *testsync.Buffer
	cancel      context.CancelFunc
	done        chan int
	addr        chan string
}

// startWatch runs graceguard watch in-process until stop.
func startWatch(t *testing.T, args ...string) *watchRun {
	t.Helper()
	r := &watchRun{out: &testsync.Buffer{}, errOut: &testsync.Buffer{}, done: make(chan int, 1), addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	cmd := newRootCmd(strings.NewReader(""), r.out, r.errOut)
	cmd.SetArgs(append([]string{"watch"}, args...))
	go func() {
		err := cmd.ExecuteContext(ctx)
		r.done <- exitCode(r.errOut, err)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("watch did not stop")
		}
	})
	return r
}

func (r *watchRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for Cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop on cancel (SIGTERM)")
	}
	return -1
}

func (r *watchRun) alerts(t *testing.T) []alert.Alert {
	t.Helper()
	var out []alert.Alert
	for _, line := range strings.Split(strings.TrimSpace(r.out.String()), "\n") {
		if line == "" {
			continue
		}
		var a alert.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("bad alert line %q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// replayLines writes a refresh from home and, seconds later, a grace reuse
// of its token from elsewhere: one reuse-ip-mismatch alert per call.
func replayLines(user string, minute int) string {
	dn := "uid=" + user + ",ou=shadow,o=Tremolo"
	url := "https://k8sou.example.com/auth/idp/k8sIdp/token"
	at := func(sec int) string {
		return fmt.Sprintf("2026-11-23 %02d:%02d:%02d,000", 10+minute/60, minute%60, sec)
	}
	sid := fmt.Sprintf("f%040d", minute)
	return fmt.Sprintf("[%s][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [198.51.100.23] - [f%040d]\n", at(0), url, dn, minute+1) +
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [192.0.2.66] - [%s]\n", at(2), url, dn, sid) +
		fmt.Sprintf("[%s][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.66] - [%s]\n", at(2), url, dn, sid)
}

func countRule(as []alert.Alert, rule string) int {
	n := 0
	for _, a := range as {
		if a.Rule == rule {
			n++
		}
	}
	return n
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric is one series' value in the /metrics of the watcher listening on
// addr (series as exposed: the name and its labels), -1 while it is not
// exposed.
func metric(t *testing.T, addr, series string) float64 {
	t.Helper()
	_, body := get(t, "http://"+addr+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// The whole life of a watch: alerts as lines arrive, health and metrics,
// a SIGHUP with a broken rule file (old rules stay) and a good one, a
// SIGTERM, and a restart that resumes without repeating anything.
func TestWatchLifecycle(t *testing.T) {
	dir := t.TempDir()
	logPath, rulesPath, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(rulesPath, []byte("rules: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	appendFile(t, logPath, replayLines("u1", 0))
	args := []string{"--format", "json", "--state-dir", state, "--listen", "127.0.0.1:0", "--rules", rulesPath, "--poll", "5ms", logPath}
	w := startWatch(t, args...)
	testsync.WaitFor(t, "the first alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })

	addr := waitForAddr(t, w)
	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, _ := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz %d", code)
	}
	// The watcher publishes its counts once a batch, after the batch's
	// alerts went out (pipeline's publish): a scrape right after the first
	// alert could come first, and did under -race.
	lacking := func() (out []string) {
		_, metrics := get(t, "http://"+addr+"/metrics")
		for _, want := range []string{
			`graceguard_alerts_total{rule="reuse-ip-mismatch",severity="high"} 1`,
			`graceguard_events_total{kind="grace_reuse"} 1`,
			`graceguard_lines_read_total{source="` + logPath + `"} 3`,
			`graceguard_tracked_users 1`,
			`graceguard_evictions_total{what="users"} 0`,
			`graceguard_sink_deliveries_total{sink="stdout"} 1`,
			`graceguard_lag_seconds`,
			`graceguard_parse_errors_total 0`,
			`graceguard_generations_lost_total 0`,
			`graceguard_generations_unwatched_total 0`,
		} {
			if !strings.Contains(metrics, want) {
				out = append(out, want)
			}
		}
		return out
	}
	lacks := lacking()
	for deadline := time.Now().Add(testsync.Patience); len(lacks) > 0 && time.Now().Before(deadline); lacks = lacking() {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range lacks {
		t.Errorf("/metrics lacks %q", want)
	}

	// A broken rule file on SIGHUP: logged, old rules kept.
	os.WriteFile(rulesPath, []byte("rules:\n  - name: Broken Name\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testsync.WaitFor(t, "the reload failure in the log", func() bool { return strings.Contains(w.errOut.String(), "reload failed") })
	appendFile(t, logPath, replayLines("u2", 1))
	testsync.WaitFor(t, "the second alert", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })

	// A good one: a new rule takes effect.
	os.WriteFile(rulesPath, []byte("rules:\n  - name: any-reuse\n    severity: info\n    when: event.kind == \"grace_reuse\"\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	testsync.WaitFor(t, "the reload", func() bool { return strings.Contains(w.errOut.String(), "rules reloaded") })
	appendFile(t, logPath, replayLines("u3", 2))
	testsync.WaitFor(t, "the new rule's alert", func() bool { return countRule(w.alerts(t), "any-reuse") == 1 })

	if code := w.stop(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0; stderr:\n%s", code, w.errOut.String())
	}
	before := len(w.alerts(t))

	// Written while it was down.
	appendFile(t, logPath, replayLines("u4", 3))
	w2 := startWatch(t, args...)
	testsync.WaitFor(t, "the alert for lines written while down", func() bool { return countRule(w2.alerts(t), "reuse-ip-mismatch") == 1 })
	// Its lines are the last: every line before them was judged by now
	// (one file, in order), so a repeat would be out already.
	got := w2.alerts(t)
	for _, a := range got {
		if a.User != "uid=u4,ou=shadow,o=Tremolo" {
			t.Errorf("after the restart, an alert for %s (%s) again; %d alerts before", a.User, a.Rule, before)
		}
	}
	if len(got) != 3 {
		t.Errorf("after the restart: %d alerts, want 3 for u4 (mismatch, new ip, any-reuse)", len(got))
	}
}

func waitForAddr(t *testing.T, w *watchRun) string {
	t.Helper()
	var addr string
	testsync.WaitFor(t, "the ops listener", func() bool {
		var ok bool
		addr, ok = loggedAddr(w.errOut.String())
		return ok
	})
	return addr
}

// loggedAddr is the address a watch's log says it serves /metrics on.
func loggedAddr(log string) (string, bool) {
	i := strings.Index(log, "addr=")
	if i < 0 {
		return "", false
	}
	return strings.Fields(log[i+len("addr="):])[0], true
}

// kill -9 at random moments while lines keep coming: every replay alerts
// across all the runs, once, or twice for the group a kill cut between
// stdout's write and the ledger's (one a kill at most).
func TestWatchSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	survivesKill9(t, dir, "--poll 5ms "+logPath, 8, func(n int) {
		appendFile(t, logPath, replayLines(fmt.Sprintf("k%02d", n), n))
	})
}

// survivesKill9 runs watch with args in rounds of five, writing rounds
// replays with write in each and killing it with SIGKILL after each round,
// then once more: every replay must alert across the runs, and only the
// group a kill cut between stdout's write and the ledger's may come twice.
func survivesKill9(t *testing.T, dir, args string, rounds int, write func(n int)) {
	t.Helper()
	outPath, state := filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "state")
	run := func() *exec.Cmd {
		out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1",
			"GRACEGUARD_ARGS=watch --format json --checkpoint-every 100ms --state-dir "+state+" "+args)
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out.Close()
		return cmd
	}
	written := 0
	for round := 0; round < 5; round++ {
		cmd := run()
		for range rounds {
			write(written)
			written++
			time.Sleep(time.Duration(10+round*17%40) * time.Millisecond)
		}
		cmd.Process.Kill() // SIGKILL: no chance to checkpoint
		cmd.Wait()
	}
	cmd := run()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	// One more, written now: once its alert is out, the last run has
	// judged every line before it, so a repeat would be out too.
	write(written)
	written++
	counts := map[string]int{}
	testsync.WaitFor(t, "every replay's alert", func() bool {
		data, _ := os.ReadFile(outPath)
		counts = map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var a alert.Alert
			if json.Unmarshal([]byte(line), &a) == nil && a.Rule == "reuse-ip-mismatch" {
				counts[a.User]++
			}
		}
		return len(counts) == written
	})
	twice := 0
	for user, n := range counts {
		if n != 1 {
			twice++
			if n > 2 || twice > 5 {
				t.Errorf("%s alerted %d times (%d replays more than once after 5 kills)", user, n, twice)
			}
		}
	}
}

// Alerts reach a webhook named by flag and a file sink named in the config
// file's sinks: list, as well as stdout.
func TestWatchDeliversToSinks(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var posted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, string(body))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	logPath, cfgPath, alertsPath := filepath.Join(dir, "app.log"), filepath.Join(dir, "gg.yaml"), filepath.Join(dir, "alerts.jsonl")
	os.WriteFile(cfgPath, []byte("poll: 5ms\nsinks:\n  - type: file\n    path: "+alertsPath+"\n"), 0o644)
	appendFile(t, logPath, replayLines("s1", 0))
	w := startWatch(t, "--config", cfgPath, "--format", "json", "--state-dir", filepath.Join(dir, "state"), "--webhook-url", srv.URL+"/hook", logPath)
	defer func() {
		if t.Failed() {
			t.Log(w.errOut.String())
		}
	}()
	testsync.WaitFor(t, "the webhook and the file", func() bool {
		mu.Lock()
		n := len(posted)
		mu.Unlock()
		data, _ := os.ReadFile(alertsPath)
		return n >= 1 && strings.Count(string(data), "\n") >= 1
	})
	mu.Lock()
	first := posted[0]
	mu.Unlock() // the server's handler takes the lock while watch drains its queue
	if !strings.Contains(first, `"user":"uid=s1,ou=shadow,o=Tremolo"`) {
		t.Errorf("webhook body %q", first)
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d: %s", code, w.errOut.String())
	}
	// It said at start where alerts go, without the webhook URL's secret.
	log := w.errOut.String()
	if !strings.Contains(log, `msg="alerts go to"`) || !strings.Contains(log, "file "+alertsPath) || !strings.Contains(log, "webhook") {
		t.Errorf("no start-up line naming the sinks:\n%s", log)
	}
}

// watch's example selected app=openunison-orchestra, a label the orchestra
// chart's pods do not carry: copied, it watched no pod and said only that
// nothing was judged. The flag's help, the README and the manifests use
// the chart's label.
func TestWatchHelpSelectsTheOrchestraChartsLabel(t *testing.T) {
	t.Parallel()
	stdout, _, code := run(t, nil, "watch", "--help")
	if code != 0 || !strings.Contains(stdout, "--kube-selector application=openunison-orchestra") || strings.Contains(stdout, "app=openunison-orchestra") {
		t.Errorf("exit %d; watch --help's example does not select application=openunison-orchestra:\n%s", code, stdout)
	}
}
