package main

import (
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
	const sample = "testdata/openunison/sample.log"
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
		{"an empty file beside a real log is named", []string{sample, empty}, []string{"note: " + empty + ": no OpenUnison record"}, []string{"nothing was judged"}},
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
