package parser

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
)

// A controller's stdout: a banner and klog lines before the first access
// line, klog lines between, blank lines, a proxy line of every format.
func proxyLogLines() []string {
	lines := []string{
		"-------------------------------------------------------------------------------",
		"NGINX Ingress controller",
		"  Release:       v1.9.4",
		"-------------------------------------------------------------------------------",
		`I1126 08:59:58.000000       7 main.go:249] "Running in Kubernetes cluster" major="1" minor="30"`,
		`I1126 08:59:59.000000       7 controller.go:214] "Configuration changes detected, backend reload required"`,
		`203.0.113.9 - - [26/Nov/2026:09:00:00 +0000] "GET /api/v1/pods HTTP/2.0" 200 5 "-" "kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9" 1 0.001 [api] [] 10.1.80.10:8443 5 0.001 200 r0`,
		"",
		`W1126 09:00:00.500000       7 controller.go:1214] Service "default/x" does not have any active Endpoint`,
	}
	for _, l := range proxyLines {
		lines = append(lines, l.line, `198.51.100.7 - - [26/Nov/2026:09:00:00 +0000] "GET /favicon.ico HTTP/1.1" 404 5 "-" "Mozilla/5.0" 1 0.001 [def] [] 10.1.80.10:8443 5 0.001 404 r1`)
	}
	return lines
}

func TestScannerReadsProxyLogs(t *testing.T) {
	t.Parallel()
	lines := proxyLogLines()
	var plain, criLog, dockerLog strings.Builder
	for _, l := range lines {
		plain.WriteString(l + "\n")
		if len(l) > 40 {
			// A runtime splits long lines: the parts must be joined.
			criLog.WriteString(cri("stdout", "P", l[:40]) + cri("stdout", "F", l[40:]))
			dockerLog.WriteString(docker(l[:40]) + docker(l[40:]+"\n"))
		} else {
			criLog.WriteString(cri("stdout", "F", l))
			dockerLog.WriteString(docker(l + "\n"))
		}
	}
	var wantProxy []string
	for _, l := range proxyLines {
		wantProxy = append(wantProxy, l.line)
	}
	for name, in := range map[string]string{"plain": plain.String(), "cri": criLog.String(), "docker": dockerLog.String()} {
		t.Run(name, func(t *testing.T) {
			sc := NewScanner(strings.NewReader(in))
			var got []string
			records := 0
			for sc.Scan() {
				records++
				rec := sc.Record().Text
				if bytes.IndexByte(rec, '\n') >= 0 && records > 1 {
					t.Errorf("record %d joins lines: %q", records, rec)
				}
				if Classify(rec) == KindProxy {
					got = append(got, string(rec))
				}
			}
			if !sc.ProxyLog() {
				t.Error("not recognised as a proxy log")
			}
			if strings.Join(got, "\n") != strings.Join(wantProxy, "\n") {
				t.Errorf("proxy records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantProxy, "\n"))
			}
		})
	}
	// The block splitter finds the same records in the plain log.
	var fromBlocks []string
	SplitLines([]byte(plain.String()), func(rec []byte, k Kind, off int, _ int64) {
		if !strings.HasPrefix(plain.String()[off:], string(rec)) {
			t.Errorf("record at %d is not the text there", off)
		}
		if k == KindProxy {
			fromBlocks = append(fromBlocks, string(rec))
		}
	})
	if strings.Join(fromBlocks, "\n") != strings.Join(wantProxy, "\n") {
		t.Errorf("SplitLines found %q", fromBlocks)
	}
}

func TestIsProxyLog(t *testing.T) {
	t.Parallel()
	ou, err := os.ReadFile("../testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"OpenUnison", string(ou), false},
		{"ingress-nginx after klog lines", strings.Join(proxyLogLines(), "\n"), true},
		{"klog only", "I1126 08:59:58.000000       7 main.go:249] start\n", true},
		{"Envoy after its info lines", "[2026-11-26 09:00:00.123][1][info][main] [source/server/server.cc:1] starting\n" + proxyLines[6].line, true},
		{"Envoy access line first", proxyLines[6].line + "\n", true},
		{"JSON", proxyLines[4].line + "\n", true},
		{"nothing", "\n\n", false},
	}
	for _, tt := range tests {
		if got := IsProxyLog([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: IsProxyLog %v", tt.name, got)
		}
	}
}

// An OpenUnison log never switches the Scanner to a line a record, stack
// traces and all.
func TestScannerKeepsOpenUnisonRecords(t *testing.T) {
	t.Parallel()
	ou, err := os.ReadFile("../testdata/openunison/sample.log")
	if err != nil {
		t.Fatal(err)
	}
	sc := NewScanner(bytes.NewReader(ou))
	for sc.Scan() {
	}
	if sc.ProxyLog() {
		t.Fatal("an OpenUnison log taken for a proxy's")
	}
}

func FuzzSplitLines(f *testing.F) {
	f.Add([]byte(strings.Join(proxyLogLines(), "\n")))
	f.Add([]byte(" \n\r\n\n" + proxyLines[0].line + "\r\n"))
	f.Add([]byte("[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AuSuccess] - a - u - uid=a,o=T - 1 / x [192.0.2.1] - [s]\n" + proxyLines[1].line))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Every line ClassifyLine picks out, found the plain way.
		var want []int
		for off, l := 0, []byte(nil); off < len(in); off += len(l) + 1 {
			l, _, _ = bytes.Cut(in[off:], []byte("\n"))
			if len(bytes.TrimSpace(l)) > 0 && ClassifyLine(l[:min(len(l), MaxRecord)]) != KindOther {
				want = append(want, off)
			}
		}
		var got []int
		st := SplitLines(in, func(rec []byte, k Kind, off int, line int64) {
			got = append(got, off)
			if off < 0 || off+len(rec) > len(in) || !bytes.Equal(in[off:off+len(rec)], rec) || k == KindOther {
				t.Fatalf("record %q at %d of kind %s", rec, off, k)
			}
			if ClassifyLine(rec) != k || line < 1 {
				t.Fatalf("kind %s line %d for %q", k, line, rec)
			}
		})
		if st.Lines != int64(bytes.Count(in, []byte("\n"))) && st.Lines != int64(bytes.Count(in, []byte("\n")))+1 {
			t.Fatalf("%d lines", st.Lines)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("SplitLines found records at %v, the plain walk at %v", got, want)
		}
	})
}
