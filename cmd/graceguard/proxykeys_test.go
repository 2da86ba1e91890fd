package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// proxy-json-keys (config file or environment) teaches scan an ingress-nginx
// JSON format's own key names; a bad mapping is a usage error naming where.
func TestProxyJSONKeysSetting(t *testing.T) {
	t.Cleanup(func() { parser.SetJSONKeys(parser.DefaultJSONKeys()) })
	dir := t.TempDir()
	logPath := filepath.Join(dir, "ingress.log")
	line := `{"when":"2026-11-26T09:00:04+00:00","who":"203.0.113.9","what":"/auth/idp/k8sIdp/token","request_time":"0.010"}` + "\n"
	if err := os.WriteFile(logPath, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, config, env string
		code              int
		stderr            string
	}{
		{name: "defaults do not know the keys", config: "min-severity: info\n", stderr: " other 1\n"},
		{name: "config string", config: "proxy-json-keys: client=who,time=when,path=what\n", stderr: " proxy 1 "},
		{name: "config list", config: "proxy-json-keys:\n  - client=who\n  - time=when\n  - path=what\n", stderr: " proxy 1 "},
		{name: "environment", config: "min-severity: info\n", env: "client=who,time=when,path=what", stderr: " proxy 1 "},
		{name: "unknown field", config: "proxy-json-keys: client=who,wen=when\n", code: exitUsage, stderr: `c.yaml:1:29: proxy-json-keys: unknown field "wen"`},
		{name: "key given twice", config: "proxy-json-keys:\n  - client=who\n  - agent=who\n", code: exitUsage, stderr: `is given to both client and agent`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parser.SetJSONKeys(parser.DefaultJSONKeys())
			if tt.env != "" {
				t.Setenv("GRACEGUARD_PROXY_JSON_KEYS", tt.env)
			}
			cfg := write("c.yaml", tt.config)
			_, stderr, code := run(t, nil, "scan", "--config", cfg, logPath)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

// `graceguard scan OU.log PROXY.log`: the proxy's log needs no flag, and
// its token requests are counted in the summary.
func TestScanTakesProxyLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ouPath, pxPath := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress-nginx.log")
	var ou, px bytes.Buffer
	_, ps, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 512 << 10, Seed: 2},
		loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{&px}})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{ouPath: ou.Bytes(), pxPath: px.Bytes()} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := run(t, nil, "scan", ouPath, pxPath)
	if want := fmt.Sprintf(" proxy %s ", commas(ps.TokenRecords)); code != 0 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "parse errors 0") {
		t.Errorf("exit %d, stderr %q; want %q", code, stderr, want)
	}
}
