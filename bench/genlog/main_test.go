package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"100MB", 100_000_000, false},
		{"1GB", 1_000_000_000, false},
		{"1gb", 1_000_000_000, false},
		{"512KiB", 512 << 10, false},
		{"512K", 512 << 10, false},
		{"2MiB", 2 << 20, false},
		{"1.5GB", 1_500_000_000, false},
		{"4096", 4096, false},
		{"10 MB", 10_000_000, false},
		{"", 0, true},
		{"MB", 0, true},
		{"100XB", 0, true},
		{"1.2.3MB", 0, true},
		{"0", 0, true},
		{"-5MB", 0, true},
		{"2PB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "log")
	stats := filepath.Join(dir, "stats.json")
	tests := []struct {
		name string
		args []string
		code int
		msg  string // in stderr
	}{
		{"writes", []string{"-size", "64KiB", "-seed", "3", "-o", out, "-stats", stats}, 0, "token lines"},
		{"no output", []string{"-size", "1MB"}, 2, "-o FILE is required"},
		{"bad size", []string{"-size", "lots", "-o", out}, 2, `"lots" is not a size`},
		{"bad share", []string{"-size", "1MB", "-token-share", "0.9", "-o", out}, 2, "TokenShare"},
		{"bad start", []string{"-start", "yesterday", "-o", out}, 2, "-start"},
		{"stray argument", []string{"-o", out, "extra"}, 2, "unexpected arguments"},
		{"unknown flag", []string{"-colour"}, 2, "-colour"},
		{"unwritable", []string{"-size", "1KB", "-o", filepath.Join(dir, "missing", "log")}, 1, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tt.code, tt.msg)
			}
		})
	}

	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Bytes       int64 `json:"bytes"`
		GraceReuses int64 `json:"grace_reuses"`
	}
	raw, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(len(data)) || len(data) < 64<<10 {
		t.Errorf("stats say %d bytes, file has %d", st.Bytes, len(data))
	}
	if n := bytes.Count(data, []byte("ExpiredRefreshTokenUsed")); int64(n) != st.GraceReuses {
		t.Errorf("stats say %d grace reuses, file has %d", st.GraceReuses, n)
	}
}

func TestRunProxy(t *testing.T) {
	dir := t.TempDir()
	out, ou := filepath.Join(dir, "proxy.log"), filepath.Join(dir, "ou.log")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-size", "1MB", "-proxy", "ingress-nginx", "-o", out, "-ou", ou}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	px, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ouLog, err := os.ReadFile(ou)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(px); n < 800_000 || n > 1_200_000 {
		t.Errorf("proxy log of %d bytes for -size 1MB", n)
	}
	tokens := bytes.Count(px, []byte(`"POST /auth/idp/k8sIdp/token HTTP/2.0"`))
	if tokens == 0 || !strings.Contains(stderr.String(), "token requests") || !bytes.Contains(ouLog, []byte("[10.1.67.12]")) {
		t.Errorf("%d token requests; stderr %q", tokens, stderr.String())
	}
	for _, args := range [][]string{{"-proxy", "haproxy", "-o", out}, {"-ou", ou, "-o", out}} {
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

// -stats is written with -proxy too: it was taken and no file was made.
// The proxy log's counts, and with -ou the OpenUnison log's, each as the
// file written holds them.
func TestRunProxyStats(t *testing.T) {
	dir := t.TempDir()
	out, ou, stats := filepath.Join(dir, "proxy.log"), filepath.Join(dir, "ou.log"), filepath.Join(dir, "stats.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-size", "200KB", "-proxy", "envoy", "-o", out, "-ou", ou, "-stats", stats}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		t.Fatalf("no stats file: %v", err)
	}
	var got struct {
		Proxy      *loggen.ProxyStats `json:"proxy"`
		OpenUnison *loggen.Stats      `json:"openunison"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Proxy == nil || got.OpenUnison == nil {
		t.Fatalf("stats %s: %v", b, err)
	}
	px, _ := os.ReadFile(out)
	ouLog, _ := os.ReadFile(ou)
	if got.Proxy.Bytes != int64(len(px)) || got.Proxy.Lines != int64(bytes.Count(px, []byte("\n"))) || got.Proxy.TokenRecords == 0 {
		t.Errorf("proxy stats %+v; the file has %d bytes, %d lines", *got.Proxy, len(px), bytes.Count(px, []byte("\n")))
	}
	if got.OpenUnison.Bytes != int64(len(ouLog)) || got.OpenUnison.TokenLines == 0 {
		t.Errorf("OpenUnison stats %+v; the file has %d bytes", *got.OpenUnison, len(ouLog))
	}
	// Without -ou no OpenUnison log is written, and none is described.
	if code := run([]string{"-size", "200KB", "-proxy", "envoy", "-o", out, "-stats", stats}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, _ = os.ReadFile(stats)
	got.Proxy, got.OpenUnison = nil, nil
	if err := json.Unmarshal(b, &got); err != nil || got.Proxy == nil || got.OpenUnison != nil {
		t.Errorf("stats without -ou: %s (%v)", b, err)
	}
}
