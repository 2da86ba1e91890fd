package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/golden"
	"github.com/graceguard/graceguard/internal/wrap"
)

// sampleSets are the testdata inputs with golden alerts, named by the golden
// file they produce.
var sampleSets = map[string][]string{
	"sample":         {"testdata/openunison/sample.log"},
	"sample-cri":     {"testdata/openunison/sample.cri.log"},
	"sample-docker":  {"testdata/openunison/sample.docker.log"},
	"sample-kubectl": {"testdata/openunison/sample.kubectl.log"},
	"two-replicas":   {"testdata/openunison/pod-a.log", "testdata/openunison/pod-b.log"},
	"pod-b-alone":    {"testdata/openunison/pod-b.log"},
	"sample-geo": {"--geoip-city", "testdata/geoip/graceguard-test-city.mmdb", "--geoip-asn", "testdata/geoip/graceguard-test-asn.mmdb",
		"testdata/openunison/sample.log"},
	"two-replicas-geo": {"--geoip-city", "testdata/geoip/graceguard-test-city.mmdb", "--geoip-asn", "testdata/geoip/graceguard-test-asn.mmdb",
		"testdata/openunison/pod-a.log", "testdata/openunison/pod-b.log"},
}

// The wrapped samples are generated from sample.log; -update rewrites them.
func TestWrappedSamplesAreCurrent(t *testing.T) {
	repoRoot(t)
	plain, err := os.ReadFile("testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	forms := map[string]string{
		"testdata/openunison/sample.cri.log":     wrap.CRI(lines, 120),
		"testdata/openunison/sample.docker.log":  wrap.Docker(lines, 150),
		"testdata/openunison/sample.kubectl.log": wrap.Kubectl(lines),
	}
	for path, want := range forms {
		golden.Check(t, path, []byte(want))
	}
}

func TestScanGolden(t *testing.T) {
	repoRoot(t)
	for name, files := range sampleSets {
		for _, format := range []string{"json", "text"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				stdout, stderr, code := run(t, nil, append([]string{"scan", "--format", format, "--color", "never"}, files...)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				ext := map[string]string{"json": ".jsonl", "text": ".txt"}[format]
				golden.Check(t, filepath.Join("testdata", "golden", name+ext), []byte(stdout))
			})
		}
	}
}

// What the sample log must yield, independent of the golden files: the
// benign races, the roaming user and the noise are quiet; the two replays
// alert on both address rules.
func TestScanSampleFindsTheReplays(t *testing.T) {
	repoRoot(t)
	// Physical lines differ where the runtime split long lines into pieces.
	lines := map[string]string{"sample.log": "lines 47", "sample.cri.log": "lines 100", "sample.docker.log": "lines 80", "sample.kubectl.log": "lines 47"}
	for file, lineCount := range lines {
		t.Run(file, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, "scan", "--format", "json", "testdata/openunison/"+file)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				var a alert.Alert
				if err := json.Unmarshal([]byte(line), &a); err != nil {
					t.Fatalf("bad JSON %q: %v", line, err)
				}
				got = append(got, a.Rule+" "+a.User+" "+a.IP+" <- "+a.PrevIP)
			}
			want := []string{
				"reuse-ip-mismatch uid=jjackson,ou=shadow,o=Tremolo 192.0.2.66 <- 198.51.100.23",
				"reuse-new-ip uid=jjackson,ou=shadow,o=Tremolo 192.0.2.66 <- 198.51.100.23",
				"reuse-ip-mismatch uid=v6user,ou=shadow,o=Tremolo 2001:db8:ffff::66 <- 2001:db8:85a3::8a2e:370:7334",
				"reuse-new-ip uid=v6user,ou=shadow,o=Tremolo 2001:db8:ffff::66 <- 2001:db8:85a3::8a2e:370:7334",
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, w := range []string{lineCount, "records 40", "grace_reuse 5", "token_ok 13", "token_fail 2", "login 1", "refusal 1", "other 18", "parse errors 0"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("summary lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestScanJSONKeys(t *testing.T) {
	repoRoot(t)
	stdout, _, _ := run(t, nil, "scan", "--format", "json", "testdata/openunison/sample.log")
	first := strings.SplitN(stdout, "\n", 2)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil {
		t.Fatal(err)
	}
	keys := []string{"id", "time", "rule", "severity", "summary", "user", "ip", "prev_ip", "prev_time", "session",
		"idp", "url", "source", "geo", "prev_geo", "distance_km", "speed_kmh", "interval_ms", "raw", "response"}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("alert JSON lacks key %q", k)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("alert JSON has %d keys, want exactly %d", len(m), len(keys))
	}
	if m["time"] != "2026-11-23T10:01:32.401Z" {
		t.Errorf("time %v: want RFC 3339 with milliseconds in UTC", m["time"])
	}
}

func TestScanIDsAreDeterministic(t *testing.T) {
	repoRoot(t)
	a, _, _ := run(t, nil, "scan", "--format", "json", "testdata/openunison/sample.log")
	b, _, _ := run(t, nil, "scan", "--format", "json", "testdata/openunison/sample.log")
	if a != b || a == "" {
		t.Error("two scans of one file gave different output")
	}
}

// A file named twice, by its name or through a link (Kubernetes'
// /var/log/containers/*.log are links into /var/log/pods, and a glob may
// match both), is read once: read twice, each replay's [AzSuccess] came
// again after its reuse, as a refresh from the thief's address, and the
// sample's four alerts were none.
func TestScanReadsAFileNamedTwiceOnce(t *testing.T) {
	repoRoot(t)
	sample, err := filepath.Abs("testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "pod.log")
	if err := os.Symlink(sample, link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files []string
	}{
		{"the same name", []string{sample, sample}},
		{"a link to it", []string{link, sample}},
		{"stdin from it", []string{"-", sample}},
		{"it and stdin from it", []string{sample, "-"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdin io.Reader
			if slices.Contains(tt.files, "-") {
				f, err := os.Open(sample)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			stdout, stderr, code := run(t, stdin, append([]string{"scan", "--format", "json"}, tt.files...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if n := strings.Count(stdout, "\n"); n != 4 {
				t.Errorf("%d alerts, want the sample's 4:\n%s", n, stderr)
			}
			if want := tt.files[1] + " is " + tt.files[0] + ", named before: read once"; !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		})
	}
}

// Stdin named twice from a pipe is read once too: two inputs shared the
// one stream, each took the reads the other did not, and lines torn
// between them were judged as two halves (a 2.7 MB stream gave other
// alerts than the same stream named once).
func TestScanReadsStdinNamedTwiceOnce(t *testing.T) {
	repoRoot(t)
	sample, err := os.ReadFile("testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"scan", "timeline"} {
		t.Run(name, func(t *testing.T) {
			args := []string{"scan", "--format", "json", "-", "-"}
			if name == "timeline" {
				args = []string{"timeline", "--format", "json", "jjackson", "-", "-"}
			}
			// Not an *os.File: a pipe, which has no identity to compare.
			stdin := io.MultiReader(bytes.NewReader(sample))
			stdout, stderr, code := run(t, stdin, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if want := "- is -, named before: read once"; !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
			if want := map[string]int{"scan": 4, "timeline": 2}[name]; strings.Count(stdout, "\n") != want {
				t.Errorf("%d lines, want %d:\n%s", strings.Count(stdout, "\n"), want, stdout)
			}
		})
	}
}

// A directory named as an input is said to be one, once, and the other
// inputs are scanned: it was read, failed with "read d: read d: is a
// directory", and was also noted as a file holding no OpenUnison record.
func TestScanOfADirectorySaysSo(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	stdout, stderr, code := run(t, nil, "scan", "--format", "json", "testdata/openunison/sample.log", dir)
	if code != exitRuntime {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "cannot read " + dir + ": it is a directory"; strings.Count(stderr, dir) != 1 || !strings.Contains(stderr, want) {
		t.Errorf("stderr names %s %d times, want once, as %q:\n%s", dir, strings.Count(stderr, dir), want, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 4 {
		t.Errorf("%d alerts, want the sample's 4", n)
	}
}

func TestScanMissingFileStillScansTheOthers(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := run(t, nil, "scan", "--format", "json", "testdata/openunison/nope.log", "testdata/openunison/sample.log")
	if code != exitRuntime {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "testdata/openunison/nope.log") || strings.Count(stdout, "\n") != 4 {
		t.Errorf("want the missing file named and the other's 4 alerts; stderr %q, %d alerts", stderr, strings.Count(stdout, "\n"))
	}
}

func TestScanStdinAndMinSeverity(t *testing.T) {
	repoRoot(t)
	f, err := os.Open("testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout, stderr, code := run(t, f, "scan", "--min-severity", "high", "--color", "never", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 2 || strings.Contains(stdout, "MEDIUM") {
		t.Errorf("--min-severity high printed %d alerts:\n%s", n, stdout)
	}
	if !strings.Contains(stdout, " [-]") {
		t.Errorf("stdin alerts should name the source -:\n%s", stdout)
	}
}

func TestScanTimezone(t *testing.T) {
	repoRoot(t)
	stdout, _, code := run(t, nil, "scan", "--format", "json", "--timezone", "Europe/Berlin", "testdata/openunison/sample.log")
	if code != 0 || !strings.Contains(stdout, `"time":"2026-11-23T09:01:32.401Z"`) {
		t.Errorf("Europe/Berlin times must be an hour earlier in UTC:\n%s", stdout)
	}
}

func TestScanColor(t *testing.T) {
	repoRoot(t)
	stdout, _, _ := run(t, nil, "scan", "--color", "always", "testdata/openunison/sample.log")
	if !strings.Contains(stdout, "\x1b[31mHIGH") {
		t.Errorf("--color always: no colour in %q", stdout)
	}
	stdout, _, _ = run(t, nil, "scan", "testdata/openunison/sample.log")
	if strings.Contains(stdout, "\x1b[") {
		t.Error("--color auto coloured a buffer that is no terminal")
	}
}

func TestScanParseErrorsAreNamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.log")
	content := "[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k8sIdp/token - uid=a,o=T - NONE [999.1.1.1] - [null]\n"
	if err := os.WriteFile(bad, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "scan", bad)
	if code != 0 {
		t.Errorf("a parse error is counted, not fatal: exit %d", code)
	}
	if !strings.Contains(stderr, bad+":1:123: bad IP address") || !strings.Contains(stderr, "parse errors 1") {
		t.Errorf("stderr %q: want the file, line and column of the parse error and the count", stderr)
	}
}

// Behind an ingress controller every address is private; scan says so once,
// with what to change, and says nothing when clients' addresses are seen.
func TestScanDiagnosesIngress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	line := func(ip string, user int) string {
		return fmt.Sprintf("[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k8sIdp/token - uid=u%d,o=T - NONE [%s] - [f1]\n", user, ip)
	}
	write := func(name string, ips ...string) string {
		var b strings.Builder
		for i, ip := range ips {
			b.WriteString(line(ip, i%3))
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(b.String()), 0o644)
		return p
	}
	// Two controller pods carrying every request: a proxy.
	ingress := write("ingress.log", "10.1.67.56", "10.1.67.57", "10.1.67.56", "10.1.67.57", "10.1.67.56", "10.1.67.57", "10.1.67.56", "10.1.67.57")
	// As many private addresses as requests: clients in the cluster, or a
	// simulator on loopback; judged as clients, no diagnosis.
	clients := write("clients.log", "10.1.5.1", "10.1.5.2", "10.1.5.3", "10.1.5.4", "10.1.5.5")
	public := write("public.log", "10.1.67.56", "203.0.113.7")
	_, stderr, _ := run(t, nil, "scan", ingress)
	if strings.Count(stderr, "note: every token-endpoint request came through 2 private addresses (8 requests, e.g. 10.1.67.56)") != 1 ||
		!strings.Contains(stderr, "proxy's access log") || strings.Contains(stderr, "LoadBalancer") {
		t.Errorf("no ingress diagnosis naming the proxy's log in:\n%s", stderr)
	}
	for _, p := range []string{clients, public} {
		if _, stderr, _ := run(t, nil, "scan", p); strings.Contains(stderr, "note:") {
			t.Errorf("%s: a diagnosis although its addresses are clients:\n%s", filepath.Base(p), stderr)
		}
	}
}

// raceThroughTwoControllers is client-go's benign race as OpenUnison logs
// it behind ingress-nginx: the refresh and the reuse 43 ms apart, each
// from another controller pod.
const raceThroughTwoControllers = `[2026-11-23 10:01:00,100][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - NONE [10.1.67.12] - [f1111111111111111111111111111111111111111]
[2026-11-23 10:01:00,143][XNIO-1 task-2] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - NONE [10.1.67.56] - [f2222222222222222222222222222222222222222]
[2026-11-23 10:01:00,143][XNIO-1 task-2] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - Expired token used within grace period [10.1.67.56] - [f2222222222222222222222222222222222222222]
`

func TestScanProxies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "openunison.log")
	if err := os.WriteFile(path, []byte(raceThroughTwoControllers), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, _ := run(t, nil, "scan", "--color", "never", path)
	if !strings.Contains(stdout, "HIGH") {
		t.Fatalf("without --proxies the two controllers look like two clients (the issue's symptom); got %q", stdout)
	}
	for _, args := range [][]string{{"--proxies", "10.1.67.0/24"}, {"--proxies", "10.1.67.12,10.1.67.56"}} {
		stdout, stderr, code := run(t, nil, append(append([]string{"scan", "--color", "never", "--min-severity", "low"}, args...), path)...)
		if code != 0 || stdout != "" || !strings.Contains(stderr, "1 grace reuse came through a proxy (10.1.67.12, 10.1.67.56)") {
			t.Errorf("%v: code %d, alerts %q, summary %q", args, code, stdout, stderr)
		}
	}
	t.Setenv("GRACEGUARD_PROXIES", "10.1.67.0/24")
	if stdout, _, _ := run(t, nil, "scan", "--color", "never", "--min-severity", "low", path); stdout != "" {
		t.Errorf("GRACEGUARD_PROXIES was not read: %q", stdout)
	}
	t.Setenv("GRACEGUARD_PROXIES", "")
	if _, stderr, code := run(t, nil, "scan", "--proxies", "10.1.67.0/99", path); code != 2 || !strings.Contains(stderr, "10.1.67.0/99") {
		t.Errorf("a bad --proxies: code %d, %q", code, stderr)
	}
}

// The rules compile while the scan reads its first blocks (LoadRules): a
// rule file with problems must still stop the scan as a usage error
// naming the file, line and column, with no alert on stdout and no
// summary, even for a log whose events would raise alerts, whatever the
// log (sample.log has alerts; the empty file has no event to wait on).
func TestScanRuleProblemsStopTheScan(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, rules, want string
	}{
		{"YAML", "rules:\n  - name: x\n    when: [\n", "bad.yaml:"},
		{"expression", "rules:\n  - name: late-one\n    description: d\n    severity: high\n    when: event.kind == \"grace_reuse\" &&\n", "bad.yaml:5:40: when: unexpected token EOF"},
		{"unknown kind", "rules:\n  - name: late-two\n    description: d\n    severity: high\n    when: event.kind == \"nope\"\n", "can never be true"},
	} {
		path := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(path, []byte(tc.rules), 0o600); err != nil {
			t.Fatal(err)
		}
		empty := filepath.Join(dir, "empty.log")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, log := range []string{"testdata/openunison/sample.log", empty} {
			stdout, stderr, code := run(t, nil, "scan", "--format", "json", "--rules", path, log)
			if code != exitUsage {
				t.Errorf("%s, %s: exit %d, want %d; stderr %q", tc.name, log, code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("%s, %s: alerts on stdout:\n%s", tc.name, log, stdout)
			}
			if !strings.HasPrefix(stderr, "graceguard: ") || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "events ") {
				t.Errorf("%s, %s: stderr %q: want one graceguard: error naming %q and no summary", tc.name, log, stderr, tc.want)
			}
		}
	}
}

// writeCounter counts the writes made to it.
type writeCounter struct {
	strings.Builder
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Builder.Write(p)
}

// Off a terminal scan's alerts go out in large writes, not a system call
// each; the bytes are the same (the golden tests).
func TestScanWritesAlertsInBulkOffATerminal(t *testing.T) {
	repoRoot(t)
	var out writeCounter
	var errOut strings.Builder
	cmd := newRootCmd(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs([]string{"scan", "--format", "json", "testdata/openunison/sample.log"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("scan: %v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 4 || out.writes != 1 {
		t.Errorf("%d alerts in %d writes, want 4 in 1", n, out.writes)
	}
}

// A failed write of the alerts is the scan's error (exit 1), after its
// summary.
func TestScanReportsAFailedWriteOfItsAlerts(t *testing.T) {
	repoRoot(t)
	var errOut strings.Builder
	cmd := newRootCmd(strings.NewReader(""), failingWriter{}, &errOut)
	cmd.SetArgs([]string{"scan", "testdata/openunison/sample.log"})
	err := cmd.Execute()
	if code := exitCode(&errOut, err); code != exitRuntime || !strings.Contains(errOut.String(), "write alerts: disk full") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "graceguard: scanned 1 file") {
		t.Errorf("no summary before the error:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "judged, not all written: writing them failed") {
		t.Errorf("the summary counts the alerts as if they were written:\n%s", errOut.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A failed write of the alerts is reported even when an input could not be
// opened or read either: all are the scan's error.
func TestScanReportsAFailedWriteAlongsideAReadError(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, input, want string
	}{
		{"a directory", dir, "is a directory"},
		{"a missing file", filepath.Join(dir, "missing.log"), "cannot read"},
	} {
		var errOut strings.Builder
		cmd := newRootCmd(strings.NewReader(""), failingWriter{}, &errOut)
		cmd.SetArgs([]string{"scan", "-q", "testdata/openunison/sample.log", tc.input})
		err := cmd.Execute()
		if code := exitCode(&errOut, err); code != exitRuntime {
			t.Errorf("%s: exit %d, want %d", tc.name, code, exitRuntime)
		}
		for _, want := range []string{"write alerts: disk full", tc.want} {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%s: stderr does not say %q:\n%s", tc.name, want, errOut.String())
			}
		}
	}
}

// replayLog is a log of n users' refreshes, each replayed from another
// address inside the grace period: two alerts each, about 2 KB of JSON.
func replayLog(n int) string {
	var b strings.Builder
	for i := range n {
		at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3 * time.Second)
		stamp := func(ms int) string {
			return at.Add(time.Duration(ms) * time.Millisecond).Format("2006-01-02 15:04:05,000")
		}
		user := fmt.Sprintf("uid=user%d,ou=shadow,o=Tremolo", i)
		fmt.Fprintf(&b, "[%s][XNIO-1 task-5] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - %s - NONE [198.51.100.23] - [f%040x]\n", stamp(0), user, 2*i)
		fmt.Fprintf(&b, "[%s][XNIO-1 task-6] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - %s - NONE [192.0.2.66] - [f%040x]\n", stamp(400), user, 2*i+1)
		fmt.Fprintf(&b, "[%s][XNIO-1 task-6] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.example.com/auth/idp/k8sIdp/token - %s - Expired token used within grace period [192.0.2.66] - [f%040x]\n", stamp(401), user, 2*i+1)
	}
	return b.String()
}

// More alerts than the buffer holds: the write fails while alerts are
// delivered and again when the buffer is flushed. The failure is said once.
func TestScanReportsAFailedWriteOnce(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "replays.log")
	if err := os.WriteFile(log, []byte(replayLog(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	whole := newRootCmd(strings.NewReader(""), &out, io.Discard)
	whole.SetArgs([]string{"scan", "-q", "--format", "json", log})
	if err := whole.Execute(); err != nil || out.Len() <= 64<<10 {
		t.Fatalf("the log raises %d bytes of alerts (%v); the test needs more than the buffer's 64 KiB", out.Len(), err)
	}
	var errOut strings.Builder
	cmd := newRootCmd(strings.NewReader(""), failingWriter{}, &errOut)
	cmd.SetArgs([]string{"scan", "-q", "--format", "json", log})
	err := cmd.Execute()
	if code := exitCode(&errOut, err); code != exitRuntime || strings.Count(errOut.String(), "disk full") != 1 {
		t.Errorf("exit %d, stderr (want \"disk full\" once):\n%s", code, errOut.String())
	}
}

// A scan of a stream that has not ended stops as soon as an alert cannot
// be written, and says so, instead of reading on until the stream ends.
func TestScanOfAStreamStopsAtAFailedWrite(t *testing.T) {
	t.Parallel()
	var cri strings.Builder
	for line := range strings.Lines(replayLog(400)) {
		cri.WriteString("2026-11-23T10:00:00.000000000Z stdout F " + line)
	}
	tests := []struct {
		name, stream string
	}{
		// About 1.5 MiB: the reader's first block is judged (and its
		// first alert fails to be written) while the reader waits for
		// the rest of its second, which never comes.
		{"plain, read in blocks", replayLog(2300)},
		// The container runtime's format (crictl logs, a pod's log file
		// on the node) is read record by record: 1,200 events, the
		// Detector's first batch of 1,024 and some, then nothing more.
		{"CRI, read by records", cri.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			go io.WriteString(w, tt.stream) // and the pipe stays open
			var errOut lockedBuilder
			cmd := newRootCmd(r, failingWriter{}, &errOut)
			cmd.SetArgs([]string{"scan", "-q", "-"})
			done := make(chan error, 1)
			go func() { done <- cmd.Execute() }()
			select {
			case err := <-done:
				if code := exitCode(&errOut, err); code != exitRuntime || !strings.Contains(errOut.String(), "disk full") {
					t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
				}
			case <-time.After(30 * time.Second):
				w.Close()
				<-done
				t.Fatal("the scan waited for more of the stream after its alerts could not be written")
			}
		})
	}
}

// lockedBuilder is a strings.Builder one goroutine writes while another
// reads; wrote, when not nil, is signalled after each write.
type lockedBuilder struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (w *lockedBuilder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *lockedBuilder) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Reading a stream that has not ended (kubectl logs -f | graceguard scan -),
// scan writes each alert once its block of the stream is judged, not when
// a buffer of alerts fills or the stream ends. (It judges a stream in
// blocks of 1 MiB and 1024 events, so the stream here is a busy one: for
// alerts within milliseconds, graceguard watch - follows stdin.)
func TestScanWritesAStreamsAlertsBeforeItEnds(t *testing.T) {
	repoRoot(t)
	sample, err := os.ReadFile("testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Refreshes of other users an hour on, more than the reader's first
	// block and the correlator's first batch: both are judged while the
	// stream stays open.
	go func() {
		w.Write(sample)
		for i := 0; i < 10000; i++ {
			line := fmt.Sprintf("[2026-11-23 11:%02d:%02d,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=user%d,ou=shadow,o=Tremolo - NONE [203.0.113.9] - [f%040d]\n", i/600%60, i/10%60, i, i)
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	}()
	out, errOut := lockedBuilder{wrote: make(chan struct{}, 1)}, lockedBuilder{}
	cmd := newRootCmd(r, &out, &errOut)
	cmd.SetArgs([]string{"scan", "--format", "json", "-"})
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	deadline := time.After(30 * time.Second)
	for strings.Count(out.String(), "\n") < 4 {
		select {
		case err := <-done:
			t.Fatalf("scan ended before its stream did: %v\n%s", err, errOut.String())
		case <-deadline:
			w.Close()
			<-done
			t.Fatalf("no alerts while the stream was open; at its end:\n%s", out.String())
		case <-out.wrote:
		}
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatalf("scan: %v\n%s", err, errOut.String())
	}
}

// A rule file named twice (another spelling, or a link) is read once:
// read twice, its rules were "already defined" in a second file, exit 2.
func TestARuleFileNamedTwiceIsReadOnce(t *testing.T) {
	repoRoot(t)
	link := filepath.Join(t.TempDir(), "mine.yaml")
	abs, err := filepath.Abs("testdata/rules/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"rules", "check", "testdata/rules/custom.yaml", "./testdata/rules/custom.yaml"},
		{"rules", "test", "testdata/rules/custom.yaml", link},
		{"scan", "--rules", "testdata/rules/custom.yaml", "--rules", link, "testdata/openunison/sample.log"},
	} {
		stdout, stderr, code := run(t, nil, args...)
		if code != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 0", args, code, stderr)
		}
		if args[1] == "check" && !strings.Contains(stdout, "./testdata/rules/custom.yaml: the same file as testdata/rules/custom.yaml, read once") {
			t.Errorf("rules check: %q: want the second name said to be the first file", stdout)
		}
	}
}

// rules check counts the rules each file puts in effect: a file of the
// user's called builtin.yaml is the user's (its name was the built-in
// set's, so it counted the built-in rules as its own, and a second file
// could define its rules again), and a rule defined switched off is not
// in effect.
func TestRulesCheckCountsTheRulesInEffect(t *testing.T) {
	t.Chdir(t.TempDir())
	define := "rules:\n  - name: mine\n    severity: low\n    when: event.kind == \"login\"\n"
	for name, data := range map[string]string{
		"builtin.yaml":  define,
		"other.yaml":    define,
		"disabled.yaml": strings.Replace(define, "    severity", "    enabled: false\n    severity", 1),
	} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		files      []string
		code       int
		out, inErr string
	}{
		{[]string{"builtin.yaml"}, 0, "builtin.yaml: ok (1 rule in effect)\n", ""},
		{[]string{"builtin.yaml", "other.yaml"}, exitUsage, "", `other.yaml:2:11: rule "mine" is already defined at builtin.yaml:2:11`},
		{[]string{"other.yaml", "builtin.yaml"}, exitUsage, "", `builtin.yaml:2:11: rule "mine" is already defined at other.yaml:2:11`},
		{[]string{"disabled.yaml"}, 0, "disabled.yaml: ok (0 rules in effect)\n", ""},
	}
	for _, tc := range tests {
		stdout, stderr, code := run(t, nil, append([]string{"rules", "check"}, tc.files...)...)
		if code != tc.code || stdout != tc.out || !strings.Contains(stderr, tc.inErr) {
			t.Errorf("rules check %v: exit %d, stdout %q, stderr %q; want %d, %q and %q", tc.files, code, stdout, stderr, tc.code, tc.out, tc.inErr)
		}
	}
}
