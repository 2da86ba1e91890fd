package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/redistest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// Lines of one user's refresh on replica A and its replay on replica B,
// second apart, as OpenUnison writes them.
const (
	tokenURL   = "https://k8sou.example.com/auth/idp/k8sIdp/token"
	sharedDN   = "uid=mmosley,ou=shadow,o=Tremolo"
	refreshOnA = "[2026-11-24 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - " + tokenURL + " - " + sharedDN +
		" - NONE [198.51.100.23] - [f0000000000000000000000000000000000000001]\n"
	replayOnB = "[2026-11-24 10:00:01,000][XNIO-1 task-7] INFO  AccessLog - [AzSuccess] - k8sidp - " + tokenURL + " - " + sharedDN +
		" - NONE [192.0.2.66] - [f0000000000000000000000000000000000000002]\n" +
		"[2026-11-24 10:00:01,000][XNIO-1 task-7] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - " + tokenURL + " - " + sharedDN +
		" - Expired token used within grace period [192.0.2.66] - [f0000000000000000000000000000000000000002]\n"
)

// Two watchers, one per replica's log, sharing one Redis: the replay logged
// by B is judged against the refresh logged by A, whichever line arrives
// first within the settle time, and alerted exactly once, also when a
// second watcher of B's log (a central deployment beside the sidecar)
// raises the same alert.
func TestSharedStateAcrossReplicas(t *testing.T) {
	tests := []struct {
		name        string
		replayFirst bool
		twinOfB     bool
		copyOfB     bool
	}{
		{name: "refresh first"},
		{name: "replay first, refresh within the settle time", replayFirst: true},
		{name: "two watchers of the replaying replica", twinOfB: true},
		// A sidecar reading the node's file and a central watcher reading the
		// API see the same lines under different source ids.
		{name: "the replaying replica's lines read from another source", copyOfB: true},
	}
	// Set once for all cases (t.Setenv forbids parallel tests): the cases
	// spend most of their time waiting out the settle time, so they run side
	// by side, each with its own Redis.
	t.Setenv(redisPasswordEnv, "s3cret-pw")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.WithPassword("s3cret-pw"))
			dir := t.TempDir()
			logA, logB := filepath.Join(dir, "pod-a.log"), filepath.Join(dir, "pod-b.log")
			appendFile(t, logA, "")
			appendFile(t, logB, "")
			state := "redis://" + srv.Addr + "/0"
			watch := func(name, log string) *watchRun {
				return startWatch(t, "--format", "json", "--poll", "5ms", "--settle", "2s", "--state", state,
					"--state-dir", filepath.Join(dir, name), "--listen", "127.0.0.1:0", log)
			}
			a, b := watch("a", logA), watch("b", logB)
			runs := []*watchRun{a, b}
			logB2 := filepath.Join(dir, "pod-b-through-the-api.log")
			appendFile(t, logB2, "")
			if tt.twinOfB {
				runs = append(runs, watch("b2", logB))
			}
			if tt.copyOfB {
				runs = append(runs, watch("b2", logB2))
			}
			for _, r := range runs {
				addr := waitForAddr(t, r)
				testsync.WaitFor(t, "ready", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
			}
			start := time.Now()
			if tt.replayFirst {
				appendFile(t, logB, replayOnB)
				time.Sleep(500 * time.Millisecond)
				appendFile(t, logA, refreshOnA)
			} else {
				appendFile(t, logA, refreshOnA)
				appendFile(t, logB, replayOnB)
			}
			if tt.copyOfB {
				appendFile(t, logB2, replayOnB)
			}
			all := func() []alert.Alert {
				var out []alert.Alert
				for _, r := range runs {
					out = append(out, r.alerts(t)...)
				}
				return out
			}
			deadline := time.Now().Add(8 * time.Second)
			for countRule(all(), "reuse-ip-mismatch") == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if countRule(all(), "reuse-ip-mismatch") == 0 {
				_, m := get(t, "http://"+waitForAddr(t, a)+"/metrics")
				t.Fatalf("no cross-replica alert; alerts:\n%s\nA's log:\n%s\nB's log:\n%s\n%s", describe(all()), a.errOut, b.errOut, m)
			}
			latency := time.Since(start)
			// A second alert would come from another watcher of the replay
			// once it has judged it: wait until every one has, its alerts
			// printed or found claimed by another (counted as duplicates).
			for _, r := range runs[1:] {
				addr := waitForAddr(t, r)
				testsync.WaitFor(t, "the replay judged by every watcher of it", func() bool {
					return len(r.alerts(t)) > 0 || metric(t, addr, "graceguard_alerts_duplicate_total") > 0
				})
			}
			got := all()
			if n := countRule(got, "reuse-ip-mismatch"); n != 1 {
				t.Fatalf("reuse-ip-mismatch sent %d times, want exactly once:\n%s", n, describe(got))
			}
			for _, al := range got {
				if al.Rule == "reuse-ip-mismatch" && (al.PrevIP != "198.51.100.23" || al.IP != "192.0.2.66") {
					t.Errorf("alert %s: prev_ip %s ip %s, want the refresh on A and the replay on B", al.Rule, al.PrevIP, al.IP)
				}
			}
			if len(a.alerts(t)) != 0 {
				t.Errorf("the watcher of A alerted: %s", describe(a.alerts(t)))
			}
			// Timing targets live in benchmarks; this only reports.
			t.Logf("alerted %v after the lines were written (settle 2s)", latency)
			for _, r := range runs {
				if out := r.errOut.String(); strings.Contains(out, "s3cret-pw") {
					t.Errorf("the Redis password was logged:\n%s", out)
				}
			}
		})
	}
}

func describe(as []alert.Alert) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "  %s %s ip=%s prev=%s source=%s\n", a.ID, a.Rule, a.IP, a.PrevIP, a.Source)
	}
	return b.String()
}

// With Redis gone, watch goes on alerting from its own history, says it is
// not ready, counts the failures, and comes back when Redis does.
func TestWatchSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "pod-a.log")
	appendFile(t, logPath, "")
	w := startWatch(t, "--format", "json", "--poll", "5ms", "--settle", "200ms", "--state", "redis://"+srv.Addr+"/0",
		"--state-dir", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", logPath)
	base := "http://" + waitForAddr(t, w)
	readyz := func() int { code, _ := get(t, base+"/readyz"); return code }
	testsync.WaitFor(t, "ready", func() bool { return readyz() == 200 })

	srv.Stop()
	appendFile(t, logPath, replayLines("u1", 0))
	testsync.WaitFor(t, "an alert from local state", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 1 })
	testsync.WaitFor(t, "/readyz to fail", func() bool { return readyz() == 503 })
	_, body := get(t, base+"/readyz")
	if !strings.Contains(body, "shared state unreachable") {
		t.Errorf("/readyz says %q", body)
	}
	_, metrics := get(t, base+"/metrics")
	if !strings.Contains(metrics, "graceguard_shared_state_up 0") || strings.Contains(metrics, "graceguard_shared_state_errors_total 0\n") {
		t.Errorf("metrics must show Redis down and count its errors:\n%s", grepLines(metrics, "shared_state"))
	}

	srv.Restart()
	testsync.WaitFor(t, "ready again", func() bool { return readyz() == 200 })
	appendFile(t, logPath, replayLines("u2", 1))
	testsync.WaitFor(t, "an alert with Redis back", func() bool { return countRule(w.alerts(t), "reuse-ip-mismatch") == 2 })
	if code := w.stop(t); code != 0 {
		t.Fatalf("exit %d:\n%s", code, w.errOut)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rediss:// verifies the server against --state-ca-file: with the CA the
// watcher is ready; without it the certificate is refused and watch stops
// at start (TestWatchRefusesARedisThatRefusesItsSettings).
func TestSharedStateOverTLS(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithTLS())
	dir := t.TempDir()
	logPath := filepath.Join(dir, "pod-a.log")
	appendFile(t, logPath, "")
	w := startWatch(t, "--state", srv.URL(0), "--state-ca-file", srv.CAFile, "--state-dir", t.TempDir(), "--listen", "127.0.0.1:0", logPath)
	base := "http://" + waitForAddr(t, w)
	testsync.WaitFor(t, "/readyz 200", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
}

func TestStateFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty, huge := filepath.Join(dir, "empty"), filepath.Join(dir, "huge")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	os.WriteFile(huge, []byte("hunter2"+strings.Repeat("x", 64<<10)), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--state", "postgres://x"}, "want memory, redis://"},
		// "//" and "@host" forgotten: go-redis took it for localhost:6379,
		// with no password, and the watch started on the wrong Redis.
		{[]string{"--state", "redis:hunter2"}, "want memory, redis://"},
		{[]string{"--state", "redis:default:hunter2@127.0.0.1:1"}, "want memory, redis://"},
		{[]string{"--state", "redis://:hunter2@127.0.0.1:1/0", "--state-ca-file", "ca.pem"}, "needs a rediss://"},
		{[]string{"--state", "rediss://127.0.0.1:1/0", "--state-ca-file", "/nonexistent/ca.pem"}, "--state-ca-file"},
		{[]string{"--state", "redis://127.0.0.1:1/0", "--state-password-file", "/nonexistent/pw"}, "--state-password-file: no such file (its path is not shown: it may be the secret itself)"},
		// An empty password would be sent as none, and the watch fail on
		// NOAUTH at its first command rather than at start.
		{[]string{"--state", "redis://127.0.0.1:1/0", "--state-password-file", empty}, "--state-password-file: " + empty + ": file is empty"},
		{[]string{"--state", "redis://127.0.0.1:1/0", "--state-password-file", huge}, "--state-password-file: " + huge + ": file is larger than 64 KiB"},
		{[]string{"--state", "redis://127.0.0.1:1/0", "--state-password-file", dir}, "--state-password-file: " + dir + ": not a regular file (a directory)"},
		{[]string{"--state", "redis://:hunter2@127.0.0.1:1/x"}, "invalid database number"},
		{[]string{"--state-ca-file", "ca.pem"}, "--state-ca-file: for a redis://"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut testsync.Buffer
			cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
			cmd.SetArgs(append(append([]string{"watch", "--state-dir", ""}, tt.args...), "x.log"))
			code := exitCode(&errOut, cmd.Execute())
			if code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
			if strings.Contains(errOut.String(), "hunter2") {
				t.Errorf("the password was printed: %s", errOut.String())
			}
		})
	}
}

// --state-password-file's value is the file's with the white space around
// it dropped, as every secret file's (internal/secretfile): an editor's
// CRLF and an indenting blank are not part of the password.
func TestStatePasswordFileTrimmed(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(" hunter2\t\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &stateFlags{url: "redis://127.0.0.1:1/0", passwordFile: pw}
	opt, err := s.redisOptions()
	if err != nil || opt.Password != "hunter2" {
		t.Errorf("redisOptions: %v, password %q; want \"hunter2\"", err, opt.Password)
	}
}

// --state-prefix names Redis keys, --state-password-file and
// --state-ca-file reach a Redis: typed with the memory store they do
// nothing (the prefix was taken saying nothing). Set in the config file or
// the environment they are defaults for when --state is a Redis, as the
// --revoke-* flags and --alerts-format are
// (TestWatchSinkFlagsWithoutTheirSink); the password and CA files were
// refused from there too, so a chart's shared settings could not name them.
func TestWatchRedisFlagsWithoutRedis(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("state-prefix: \"team-a:\"\nstate-password-file: pw\nstate-ca-file: ca.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const refused = "for a redis:// or rediss:// --state"
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want string // "" for a watch that runs
	}{
		{"typed", nil, []string{"--state-prefix", "team-a:"}, "graceguard: --state-prefix: " + refused},
		{"typed with --state memory", nil, []string{"--state", "memory", "--state-prefix", "team-a:"}, "graceguard: --state-prefix: " + refused},
		{"password and CA typed", nil, []string{"--state-password-file", "pw", "--state-ca-file", "ca.pem"}, "graceguard: --state-password-file, --state-ca-file: " + refused},
		{"typed over a config file's", nil, []string{"--config", cfg, "--state-ca-file", "ca.pem"}, "graceguard: --state-ca-file: " + refused},
		{"config file", nil, []string{"--config", cfg}, ""},
		{"environment", map[string]string{"GRACEGUARD_STATE_PREFIX": "team-a:", "GRACEGUARD_STATE_PASSWORD_FILE": "pw", "GRACEGUARD_STATE_CA_FILE": "ca.pem"}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			checkWatchRunsOrRefuses(t, tt.args, tt.want)
		})
	}
}

// The same as two real processes, one per replica's log: the replay logged
// by B is judged against A's refresh and alerted once. B is then killed with
// SIGKILL and comes back as a new pod would, its state directory gone: it
// reads its whole log again, and the alert is not sent again (the claim in
// Redis is another watcher's now).
func TestSharedStateAcrossWatchProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	srv := redistest.Start(t)
	dir := t.TempDir()
	logA, logB := filepath.Join(dir, "pod-a.log"), filepath.Join(dir, "pod-b.log")
	appendFile(t, logA, "")
	appendFile(t, logB, "")
	start := func(name, log string) (cmd *exec.Cmd, outPath, addr string) {
		outPath, errPath := filepath.Join(dir, name+".jsonl"), filepath.Join(dir, name+".log")
		out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		errOut, err := os.OpenFile(errPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer errOut.Close()
		before, err := errOut.Seek(0, io.SeekEnd) // a restarted run's file holds the last run's lines
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1", "GRACEGUARD_ARGS=watch --format json --poll 5ms --checkpoint-every 100ms --listen 127.0.0.1:0"+
			" --state redis://"+srv.Addr+"/0 --state-dir "+filepath.Join(dir, name)+" "+log)
		cmd.Stdout, cmd.Stderr = out, errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		testsync.WaitFor(t, name+" watching", func() bool {
			data, _ := os.ReadFile(errPath)
			log := string(data[before:])
			addr, _ = loggedAddr(log)
			return addr != "" && strings.Contains(log, "msg=watching")
		})
		return cmd, outPath, addr
	}
	alertsIn := func(paths ...string) []alert.Alert {
		var as []alert.Alert
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				var a alert.Alert
				if json.Unmarshal([]byte(line), &a) == nil {
					as = append(as, a)
				}
			}
		}
		return as
	}
	a, outA, _ := start("a", logA)
	defer func() { a.Process.Signal(syscall.SIGTERM); a.Wait() }()
	b, outB, addrB := start("b", logB)
	appendFile(t, logB, replayOnB) // the replay first, the refresh after it
	testsync.WaitFor(t, "B reading the replay", func() bool {
		return metric(t, addrB, `graceguard_events_total{kind="grace_reuse"}`) == 1
	})
	appendFile(t, logA, refreshOnA)
	testsync.WaitFor(t, "the cross-replica alert", func() bool { return countRule(alertsIn(outA, outB), "reuse-ip-mismatch") > 0 })
	// B's writes to Redis are batched until its next checkpoint, the first
	// written after the alert (its last before, the held replay's, came a
	// settle time earlier).
	testsync.WaitFor(t, "B's checkpoint after the alert", func() bool {
		ckpt, err1 := os.Stat(filepath.Join(dir, "b", "checkpoint.gob"))
		out, err2 := os.Stat(outB)
		return err1 == nil && err2 == nil && !ckpt.ModTime().Before(out.ModTime())
	})
	b.Process.Kill()
	b.Wait()
	if err := os.RemoveAll(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	b, _, addrB = start("b", logB)
	defer func() { b.Process.Signal(syscall.SIGTERM); b.Wait() }()
	// The new B reads the replay again and, past its settle time, finds
	// both alerts claimed by the B that was killed.
	testsync.WaitFor(t, "the replay judged again", func() bool {
		return metric(t, addrB, "graceguard_alerts_duplicate_total") >= 2 || len(alertsIn(outA, outB)) > 2
	})
	got := alertsIn(outA, outB)
	if n := countRule(got, "reuse-ip-mismatch"); n != 1 || len(got) != 2 {
		t.Fatalf("alerts across both processes and the restart:\n%s\nwant reuse-ip-mismatch and reuse-new-ip once each", describe(got))
	}
	for _, al := range got {
		if al.PrevIP != "198.51.100.23" {
			t.Errorf("%s judged against prev %q, want A's refresh", al.Rule, al.PrevIP)
		}
	}
}
