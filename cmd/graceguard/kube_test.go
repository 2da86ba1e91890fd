package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
)

const (
	kubeNS        = "openunison"
	kubePod       = "openunison-orchestra-7d9c-x2x4z"
	kubeContainer = "openunison-orchestra"
)

// kubeServer is a fake API server with one OpenUnison pod (and a sidecar
// container), and a kubeconfig file naming it.
func kubeServer(t *testing.T) (*kubefake.Server, string) {
	t.Helper()
	srv := kubefake.New(t)
	srv.AddPod(kubeNS, kubePod, map[string]string{"app": "openunison-orchestra"}, kubeContainer, "sidecar")
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(srv.Kubeconfig(kubeNS)), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, path
}

// sampleStamp is the time sample.kubectl.log puts before every line.
var sampleStamp = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// withoutIdentity keeps what an alert says, not where it was read.
func withoutIdentity(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		a.ID, a.Source = "", ""
		b, _ := json.Marshal(a)
		out = append(out, string(b))
	}
	return out
}

// watch --kube-selector reads the pod's log through the API: the sample's
// lines, served with kubectl's timestamps, yield the alerts a scan of the
// kubectl-wrapped sample does; /readyz is ready once the pods are listed; a
// restart resumes from the checkpoint and alerts only on what is new.
func TestWatchKube(t *testing.T) {
	repoRoot(t)
	srv, kubeconfig := kubeServer(t)
	srv.Log(kubeNS, kubePod, kubeContainer, sampleStamp, fileLines(t, "testdata/openunison/sample.log")...)
	srv.Log(kubeNS, kubePod, "sidecar", sampleStamp, "[2026-11-23 10:00:00,000][main] INFO  x - not OpenUnison")
	// A name no pod may have, from a broken API server: not followed
	// (its log request would climb out of the namespace), counted.
	srv.AddPod(kubeNS, "../secrets/x", map[string]string{"app": "openunison-orchestra"}, kubeContainer)
	var want []alert.Alert
	for _, line := range fileLines(t, "testdata/golden/sample-kubectl.jsonl") {
		var a alert.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		want = append(want, a)
	}
	args := []string{"--format", "json", "--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:0",
		"--kube-namespace", kubeNS, "--kube-selector", "app=openunison-orchestra", "--kube-container", kubeContainer, "--kubeconfig", kubeconfig}

	w := startWatch(t, args...)
	defer func() {
		if t.Failed() {
			t.Logf("stderr:\n%s", w.errOut.String())
		}
	}()
	testsync.WaitFor(t, "the sample's alerts", func() bool { return len(w.alerts(t)) >= len(want) })
	addr := waitForAddr(t, w)
	if code, body := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz %d %q", code, body)
	}
	got := w.alerts(t)
	if g, x := withoutIdentity(got), withoutIdentity(want); strings.Join(g, "\n") != strings.Join(x, "\n") {
		t.Errorf("alerts\n%s\nwant (as a scan of sample.kubectl.log)\n%s", strings.Join(g, "\n"), strings.Join(x, "\n"))
	}
	source := kubeNS + "/" + kubePod + "/" + kubeContainer
	for _, a := range got {
		if a.Source != source {
			t.Errorf("alert source %q, want %q", a.Source, source)
		}
	}
	// The last lines (no alert follows them) may still be on their way.
	wantLines := `graceguard_lines_read_total{source="` + source + `"} 47`
	testsync.WaitFor(t, "/metrics to count every line", func() bool {
		_, metrics := get(t, "http://"+addr+"/metrics")
		return strings.Contains(metrics, wantLines)
	})
	_, metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`graceguard_kube_streams_waiting{pods="openunison"} 0` + "\n", `graceguard_kube_streams_deferred_total{pods="openunison"} 0` + "\n",
		`graceguard_kube_pods_waiting{pods="openunison"} 0` + "\n", `graceguard_kube_pods_deferred_total{pods="openunison"} 0` + "\n",
		`graceguard_kube_pods_refused_total{pods="openunison"} 1` + "\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// Written while graceguard was down.
	srv.Log(kubeNS, kubePod, kubeContainer, sampleStamp.Add(time.Hour), strings.Split(strings.TrimSuffix(replayLines("k1", 30), "\n"), "\n")...)
	w2 := startWatch(t, args...)
	testsync.WaitFor(t, "the alert for lines written while down", func() bool { return countRule(w2.alerts(t), "reuse-ip-mismatch") == 1 })
	time.Sleep(300 * time.Millisecond)
	for _, a := range w2.alerts(t) {
		if a.User != "uid=k1,ou=shadow,o=Tremolo" {
			t.Errorf("after the restart, an alert for %s (%s) again", a.User, a.Rule)
		}
	}
	if code := w2.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(w.errOut.String()+w2.errOut.String(), srv.Token()) {
		t.Error("the bearer token is in graceguard's log")
	}
}

// Until the pods have been listed, /readyz says so.
func TestWatchKubeNotReadyUntilListed(t *testing.T) {
	t.Parallel()
	srv, kubeconfig := kubeServer(t)
	srv.SetToken("another-token") // the kubeconfig's is refused
	w := startWatch(t, "--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:0",
		"--kube-selector", "app=openunison-orchestra", "--kubeconfig", kubeconfig)
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "the refusal in the log", func() bool { return strings.Contains(w.errOut.String(), "cannot list pods") })
	if code, body := get(t, "http://"+addr+"/readyz"); code != 503 || !strings.Contains(body, "listing pods") {
		t.Errorf("/readyz %d %q, want 503 listing pods", code, body)
	}
}

// A role that may list pods but not read their logs leaves the detector
// blind: /readyz says so, naming what the role needs, instead of 200.
func TestWatchKubeNotReadyWhileLogsAreRefused(t *testing.T) {
	t.Parallel()
	srv, kubeconfig := kubeServer(t)
	srv.DenyLogs(true)
	w := startWatch(t, "--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:0",
		"--kube-selector", "app=openunison-orchestra", "--kube-container", kubeContainer, "--kubeconfig", kubeconfig)
	addr := waitForAddr(t, w)
	testsync.WaitFor(t, "/readyz naming the refusal", func() bool {
		code, body := get(t, "http://"+addr+"/readyz")
		return code == 503 && strings.Contains(body, "needs get on pods/log")
	})
	srv.DenyLogs(false)
	testsync.WaitFor(t, "/readyz ready once the logs are served", func() bool {
		code, _ := get(t, "http://"+addr+"/readyz")
		return code == 200
	})
}

func TestWatchKubeUsageErrors(t *testing.T) {
	_, kubeconfig := kubeServer(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "gg.yaml")
	os.WriteFile(config, []byte("kube-pod: a\nkube-selector: app=b\n"), 0o644)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"nothing to read", nil, nil, "needs at least one PATH"},
		// It would only be reported again at every rescan, for ever.
		{"a pattern that can never match", nil, []string{"x.log", "/var/log/[a"}, `pattern "/var/log/[a": syntax error in pattern`},
		{"pod and selector", nil, []string{"--kube-pod", "a", "--kube-selector", "app=b"}, "exclude each other"},
		{"pod and selector from the config file", nil, []string{"--config", config}, "exclude each other"},
		{"namespace alone", nil, []string{"--kube-namespace", kubeNS, "x.log"}, "need --kube-pod or --kube-selector"},
		{"kubeconfig alone", nil, []string{"--kubeconfig", kubeconfig, "x.log"}, "need --kube-pod or --kube-selector"},
		{"no such kubeconfig", nil, []string{"--kube-selector", "app=b", "--kubeconfig", filepath.Join(dir, "none")}, "--kubeconfig: open "},
		{"no such context", nil, []string{"--kube-selector", "app=b", "--kubeconfig", kubeconfig, "--kube-context", "prod"}, "prod"},
		{"bad selector", nil, []string{"--kube-selector", "app in (", "--kubeconfig", kubeconfig}, "label selector"},
		{"bad pod name", nil, []string{"--kube-pod", "Not_A_Pod", "--kubeconfig", kubeconfig}, "pod name"},
		{"bad namespace", nil, []string{"--kube-pod", "a", "--kube-namespace", "Not/A/Namespace", "--kubeconfig", kubeconfig}, "namespace"},
		// The environment supplies the pods, so no PATH is needed: the
		// error is the kubeconfig's.
		{"selector from the environment", map[string]string{"GRACEGUARD_KUBE_SELECTOR": "app=b", "GRACEGUARD_KUBECONFIG": filepath.Join(dir, "none")}, nil, "GRACEGUARD_KUBECONFIG: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"watch", "--state-dir", filepath.Join(t.TempDir(), "state")}, tt.args...)
			_, stderr, code := run(t, nil, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// kill -9 at random moments while the pod keeps logging: lines after the
// last checkpoint are read again, under the same alert ids (the container
// id and the virtual offset), so every replay alerts exactly once.
func TestWatchKubeSurvivesKill9(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	srv, kubeconfig := kubeServer(t)
	args := "--kube-selector app=openunison-orchestra --kube-container " + kubeContainer + " --kubeconfig " + kubeconfig
	survivesKill9(t, t.TempDir(), args, 6, func(n int) {
		lines := strings.Split(strings.TrimSuffix(replayLines(fmt.Sprintf("k%02d", n), n), "\n"), "\n")
		srv.Log(kubeNS, kubePod, kubeContainer, sampleStamp.Add(time.Duration(n)*time.Minute), lines...)
	})
}
