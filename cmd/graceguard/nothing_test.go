package main

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A scan that found nothing to judge says so, per file, and never reads
// like a clean bill of health: an empty file, binary garbage and a proxy's
// access log alone all used to end "alerts none" and nothing more.
func TestScanSaysWhenNothingWasJudged(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := make([]byte, 2<<20)
	rand.Read(garbage)
	empty := write("empty.log", nil)
	binary := write("garbage.bin", garbage)
	proxy := write("ingress.log", []byte(
		"I1126 09:00:00.000000 7 controller.go:214] starting\n"+
			`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1299 "-" "Go-http-client/2.0" 336 0.063 [openunison-orchestra-443] [] 10.1.67.56:8443 1299 0.063 200 2ff1045e`+"\n"))
	// OpenUnison's own lines, none the rules judge: a log fetched just
	// after a restart, or with its AccessLog filtered out.
	startup := write("startup.log", []byte("[2026-11-23 09:59:58,001][main] INFO  OpenUnisonOnUndertow - Starting OpenUnison on Undertow, listening on 8443\n"))
	const sample = "testdata/openunison/sample.log"
	// logrotate's compressed generations: read as text, they were "not a
	// log graceguard reads", with no word of what to do. gzip, bzip2 and
	// zstd are decompressed; the others are named.
	log, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(log)
	zw.Close()
	gzipped := write("openunison.log.1.gz", gz.Bytes())
	xz := write("openunison.log.2.xz", append([]byte("\xfd7zXZ\x00"), garbage[:512]...))
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write(garbage[:4096])
	zw.Close()
	gzippedGarbage := write("garbage.gz", gz.Bytes())
	tests := []struct {
		name  string
		args  []string
		want  []string
		avoid []string
	}{
		{"empty", []string{empty}, []string{"nothing was judged", "empty.log: no OpenUnison record"}, nil},
		{"binary garbage", []string{binary}, []string{"nothing was judged", "garbage.bin: no OpenUnison record"}, nil},
		{"a proxy's log alone", []string{proxy}, []string{"nothing was judged", "ingress.log is a proxy's access log (1 token requests)", "give both"}, nil},
		{"quiet still says it", []string{"-q", empty}, []string{"graceguard: nothing was judged", "empty.log: no OpenUnison record"}, nil},
		{"OpenUnison's start-up lines only", []string{startup}, []string{"alerts none: nothing was judged: no OpenUnison record the rules judge", "1 record read"}, []string{"startup.log: no OpenUnison record"}},
		{"start-up lines only, quiet", []string{"-q", startup}, []string{"graceguard: nothing was judged: no OpenUnison record the rules judge", "1 record read"}, nil},
		{"start-up lines beside a real log are no problem", []string{sample, startup}, nil, []string{"nothing was judged", "startup.log"}},
		{"an empty file beside a real log is named", []string{sample, empty}, []string{"note: " + empty + ": no OpenUnison record"}, []string{"nothing was judged"}},
		{"gzip is judged", []string{gzipped}, []string{"decompressed 1 file: " + gzipped + " (gzip, "}, []string{"nothing was judged", "compressed (gzip)"}},
		{"gzip of no log", []string{gzippedGarbage}, []string{"nothing was judged", "garbage.gz (decompressed gzip): no OpenUnison record"}, nil},
		{"xz beside a real log", []string{sample, xz}, []string{"openunison.log.2.xz: compressed (xz), which graceguard does not decompress: decompress it first (xzcat " + xz + " | graceguard … -)"}, []string{"nothing was judged"}},
		{"a proxy log beside OpenUnison's is no problem", []string{sample, proxy}, nil, []string{"nothing was judged", "is a proxy's access log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, append([]string{"scan"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(stderr, a) {
					t.Errorf("stderr has %q:\n%s", a, stderr)
				}
			}
		})
	}
}

// watch says at stop what scan says when it had nothing to judge: a watch
// of an empty stream, another program's log or a proxy's log alone ended
// "stopped records=N alerts=0", a clean bill of health it had not earned.
func TestWatchSaysWhenNothingWasJudged(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "openunison", "sample.log"))
	if err != nil {
		t.Fatal(err)
	}
	const proxyLine = `203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1299 "-" "Go-http-client/2.0" 336 0.063 [openunison-orchestra-443] [] 10.1.67.56:8443 1299 0.063 200 2ff1045e` + "\n"
	const startup = "[2026-11-23 09:59:58,001][main] INFO  OpenUnisonOnUndertow - Starting OpenUnison on Undertow, listening on 8443\n"
	tests := []struct {
		name  string
		stdin string
		want  []string // on the line that says so
		none  bool     // no such line
	}{
		{"empty", "", []string{"nothing was judged: no OpenUnison record in the input"}, false},
		{"another program's log", "Nov 26 09:00:00 host sshd[123]: Accepted publickey for root from 10.0.0.1 port 22\nNov 26 09:00:01 host sshd[123]: session opened\n",
			[]string{"nothing was judged: no OpenUnison record the rules judge", "1 record read"}, false},
		{"OpenUnison's start-up lines only", startup, []string{"nothing was judged: no OpenUnison record the rules judge", "1 record read"}, false},
		{"a proxy's log alone", proxyLine, []string{"nothing was judged: no OpenUnison record in the input", "a proxy's access log (1 token requests)", "give both"}, false},
		{"OpenUnison's log", string(sample), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, code := run(t, strings.NewReader(tt.stdin), "watch", "--state-dir", "", "--log-format", "json", "-")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var line string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.Contains(l, "nothing was judged") {
					line = l
				}
			}
			if tt.none {
				if line != "" {
					t.Errorf("said %s after judging OpenUnison's log", line)
				}
				return
			}
			if !strings.Contains(stderr, `"msg":"stopped"`) || line == "" {
				t.Fatalf("no 'nothing was judged' line at stop:\n%s", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("line lacks %q: %s", w, line)
				}
			}
		})
	}
}
