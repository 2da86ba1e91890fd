package main

import (
	"errors"
	"github.com/graceguard/graceguard/alert"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/internal/testsync"
)

// hookServer is a webhook receiver that records the users of the alerts
// it took (a replay raises two alerts, one request each), and refuses them with 503 while down.
type hookServer struct {
	*httptest.Server
	mu    sync.Mutex
	users []string
	tries atomic.Int32
	took  atomic.Int32 // requests accepted
	down  atomic.Bool
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.tries.Add(1)
		if h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.took.Add(1)
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, u := range []string{"r1", "r2", "r3", "r4"} {
			if strings.Contains(string(body), `"user":"uid=`+u+`,`) && !slices.Contains(h.users, u) {
				h.users = append(h.users, u)
			}
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.users, " ")
}

// SIGHUP to a running watch process reloads its sinks from the config
// file: a bad sinks: list is refused naming FILE:LINE:COLUMN and the old
// webhook keeps receiving; a good one moves delivery to the new webhook,
// including the alert the old one refused and that was waiting for a retry.
func TestWatchReloadsSinksOnHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath, cfgPath := filepath.Join(dir, "app.log"), filepath.Join(dir, "gg.yaml")
	before, after := newHookServer(t), newHookServer(t)
	writeHookConfig := func(url string) {
		t.Helper()
		cfg := "sinks:\n  - type: webhook\n    name: hook\n    url: " + url + "\n"
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeHookConfig(before.URL + "/hook")
	appendFile(t, logPath, replayLines("r1", 0))

	stderr := &testsync.Buffer{}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1",
		"GRACEGUARD_ARGS=watch --config "+cfgPath+" --format json --poll 5ms --state-dir "+filepath.Join(dir, "state")+" "+logPath)
	cmd.Stderr = stderr
	stdout := &testsync.Buffer{}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Log(stderr.String(), stdout.String())
		}
	}()
	hup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	testsync.WaitFor(t, "r1 at the first webhook", func() bool { return before.got() == "r1" })

	// A bad sinks: list: refused, and the first webhook still receives.
	if err := os.WriteFile(cfgPath, []byte("sinks:\n  - type: webhook\n    name: hook\n    url: ftp://127.0.0.1/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	testsync.WaitFor(t, "the refused reload in the log", func() bool {
		return strings.Contains(stderr.String(), "reload failed") && strings.Contains(stderr.String(), cfgPath+":2:5")
	})
	appendFile(t, logPath, replayLines("r2", 1))
	// Both of r2's alerts, or the second could be the one refused below.
	testsync.WaitFor(t, "r2's two alerts at the first webhook", func() bool { return before.got() == "r1 r2" && before.took.Load() == 4 })

	// The first webhook goes down with r3 queued for a retry; the reload
	// hands r3 to the second.
	before.down.Store(true)
	tries := before.tries.Load()
	appendFile(t, logPath, replayLines("r3", 2))
	testsync.WaitFor(t, "r3 refused by the first webhook", func() bool { return before.tries.Load() > tries })
	writeHookConfig(after.URL + "/hook")
	hup()
	testsync.WaitFor(t, "r3 at the second webhook", func() bool { return after.got() == "r3" })
	appendFile(t, logPath, replayLines("r4", 3))
	testsync.WaitFor(t, "r4 at the second webhook", func() bool { return after.got() == "r3 r4" })
	// The watcher takes the new rules when its loop next picks the reload
	// among what is ready: a stop right after r4 could come first.
	testsync.WaitFor(t, "the rules' reload in the log", func() bool { return strings.Contains(stderr.String(), "rules reloaded") })

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	exited = true
	if err != nil {
		t.Errorf("watch after SIGTERM: %v", err)
	}
	if got := before.got(); got != "r1 r2" {
		t.Errorf("the first webhook took %q after the reload", got)
	}
	if log := stderr.String(); !strings.Contains(log, "sinks reloaded") || !strings.Contains(log, "rules reloaded") {
		t.Errorf("the reload is not in the log")
	}
}

// On SIGHUP configSinks is the only reader of the file, so it places every
// problem itself: YAML syntax, a file that is no mapping, a bad entry.
func TestConfigSinksPlacesProblems(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, data, want string
	}{
		{"syntax", "sinks:\n  - type: webhook\n    url: [http://127.0.0.1/\n", "gg.yaml:3:"},
		{"not a mapping", "- sinks\n", "gg.yaml:1:1: want a mapping"},
		{"bad entry", "format: json\nsinks:\n  - type: webhook\n    url: ftp://127.0.0.1/x\n", "gg.yaml:3:5: sinks[0]"},
		{"unknown key", "sinks:\n  - type: webhook\n    urll: http://127.0.0.1/\n", "gg.yaml:3:5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configSinks(&configFile{path: "gg.yaml", data: []byte(tt.data)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	if cfgs, err := configSinks(&configFile{path: "gg.yaml", data: []byte("format: json\n")}); err != nil || cfgs != nil {
		t.Errorf("a file without sinks: %v, %v", cfgs, err)
	}
}

// A watch started without sinks gains them on SIGHUP: alerts raised after
// the reload reach the new webhook, those before it stay stdout's.
func TestWatchGainsSinksOnHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath, cfgPath := filepath.Join(dir, "app.log"), filepath.Join(dir, "gg.yaml")
	hook := newHookServer(t)
	if err := os.WriteFile(cfgPath, []byte("format: json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	appendFile(t, logPath, replayLines("r1", 0))
	p := startWatchProc(t, dir, "--config", cfgPath, "--listen", "127.0.0.1:0", logPath)
	testsync.WaitFor(t, "r1 on stdout", func() bool {
		data, _ := os.ReadFile(p.alerts)
		return strings.Contains(string(data), `"user":"uid=r1,`)
	})
	// First sinks that cannot be made (two of one name): refused, and the
	// next reload still makes the first dispatcher (its metrics were once
	// registered twice, a panic).
	dup := "sinks:\n  - type: webhook\n    name: hook\n    url: " + hook.URL + "/a\n  - type: webhook\n    name: hook\n    url: " + hook.URL + "/b\n"
	if err := os.WriteFile(cfgPath, []byte(dup), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the refused reload", func() bool {
		data, _ := os.ReadFile(p.errPath)
		return strings.Contains(string(data), "reload failed")
	})
	if err := os.WriteFile(cfgPath, []byte("sinks:\n  - type: webhook\n    name: hook\n    url: "+hook.URL+"/hook\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the webhook named after the reload", func() bool {
		data, _ := os.ReadFile(p.errPath)
		return strings.Count(string(data), "alerts go to") == 2 && strings.Contains(string(data), "webhook http://127.0.0.1")
	})
	appendFile(t, logPath, replayLines("r2", 1))
	testsync.WaitFor(t, "r2 at the webhook", func() bool { return hook.got() == "r2" })
	// The watcher's delivery metrics name the path each group took: r1
	// stdout alone, r2 stdout and the queues the reload made (it stayed
	// "stdout", so a queue's failure was counted as stdout's).
	// (The webhook may take r2 before the watcher counts it: awaited.)
	addr := opsAddr(t, p.errPath)
	testsync.WaitFor(t, "r1 counted under stdout, r2 under stdout+queues", func() bool {
		_, metrics := get(t, "http://"+addr+"/metrics")
		return strings.Contains(metrics, `graceguard_sink_deliveries_total{sink="stdout"} 1`) &&
			strings.Contains(metrics, `graceguard_sink_deliveries_total{sink="stdout+queues"} 1`)
	})
	p.stop(t)
	if got := hook.got(); got != "r2" {
		t.Errorf("the webhook took %q, want r2 alone", got)
	}
}

// opsAddr is the address a watch process logged it serves /metrics on.
func opsAddr(t *testing.T, errPath string) string {
	t.Helper()
	var addr string
	testsync.WaitFor(t, "the ops listener", func() bool {
		data, _ := os.ReadFile(errPath)
		var ok bool
		addr, ok = loggedAddr(string(data))
		return ok
	})
	return addr
}

// A sink's rules: must name rules that exist: filtered on a misspelt name
// it would never get an alert, and nothing said so. At start (exit 2) and
// on SIGHUP alike loadAlerting refuses it, naming the list's place.
func TestSinkRulesNameRulesThatExist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(rulesFile, []byte("rules:\n  - name: my-rule\n    severity: low\n    when: event.kind == \"grace_reuse\"\n    summary: '\"x\"'\n  - name: reuse-burst\n    enabled: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, rules, want string
	}{
		{"built-in", "[reuse-ip-mismatch]", ""},
		{"from a rule file", "[my-rule]", ""},
		{"a built-in the rule file disabled", "[reuse-burst]", ""},
		{"misspelt", "[reuse-ip-mismatch, reuse-ip-mismatchh]", `gg.yaml:5:12: sinks[0].rules: no rule is named "reuse-ip-mismatchh"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := "sinks:\n  - type: file\n    path: " + filepath.Join(dir, "alerts.json") + "\n    name: f\n    rules: " + tt.rules + "\n"
			o := &watchOptions{alertFlags: alertFlags{ruleFiles: []string{rulesFile}}}
			_, err := o.loadAlerting(&configFile{path: "gg.yaml", data: []byte(data)}, alert.Info)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, new(usageError))):
				t.Errorf("error %v, want a usage error naming %s", err, tt.want)
			}
		})
	}
}
