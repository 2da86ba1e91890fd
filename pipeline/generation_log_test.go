package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A generation of OpenUnison's log rotated while watch was down, and not
// named by its checkpoint, is read under the name it has now (app.log.1)
// but is the same log: the same pod behind the same upstream address. Its
// token requests are joined to the proxy's records as the log's are. They
// were not: the upstream learned for openunison.log belonged to no
// openunison.log.1, every record was refused, and a replay inside it went
// unattributed and unalerted, where scan of the same lines named the thief
// (found end to end: kill -9, rename, and copytruncate while down).
func TestWatchJoinsAGenerationRotatedWhileDownAsItsLog(t *testing.T) {
	t.Parallel()
	for _, second := range []string{"rename", "copytruncate"} {
		t.Run(second, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ou, px := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress-nginx.log")
			const peer, home, thief = "10.1.67.12", "198.51.100.40", "192.0.2.99"
			var proxyLog, ouLog strings.Builder // what scan reads: the log, generations in order
			appendTo := func(path, s string) {
				t.Helper()
				f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.WriteString(s); err != nil {
					t.Fatal(err)
				}
				f.Close()
				if path == px {
					proxyLog.WriteString(s)
				} else {
					ouLog.WriteString(s)
				}
			}
			// Refreshes enough to learn which upstream openunison.log is
			// and which peer the proxy is.
			appendTo(px, "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n")
			for _, s := range []string{"00", "01", "02", "03", "04", "05"} {
				appendTo(px, nginxLine("10:00:"+s, home))
				appendTo(ou, refreshLine("10:00:"+s+",500", peer, "f"+s))
			}
			stateDir := t.TempDir()
			var alerts []string
			run := func(records int64) {
				t.Helper()
				opt := WatchOptions{StateDir: stateDir, ProxyLogs: []string{px}}
				got := watchFiles(t, []string{ou, px}, records, opt)
				alerts = append(alerts, got...)
			}
			run(13)

			// While watch is down: rotated by rename, a replay written to
			// the new file, which is rotated again before watch is back.
			if err := os.Rename(ou, ou+".1"); err != nil {
				t.Fatal(err)
			}
			appendTo(px, nginxLine("10:01:00", home)+nginxLine("10:01:02", thief))
			appendTo(ou, refreshLine("10:01:00,500", peer, "g1")+reuseLines("10:01:02,500", peer, "g2"))
			switch second {
			case "rename":
				if err := os.Rename(ou+".1", ou+".2"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(ou, ou+".1"); err != nil {
					t.Fatal(err)
				}
			case "copytruncate":
				if err := os.Rename(ou+".1", ou+".2"); err != nil {
					t.Fatal(err)
				}
				data, err := os.ReadFile(ou)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(ou+".1", data, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(ou, 0); err != nil {
					t.Fatal(err)
				}
			}
			appendTo(px, nginxLine("10:02:00", home))
			appendTo(ou, refreshLine("10:02:00,500", peer, "h1"))
			run(7)

			all := filepath.Join(t.TempDir(), "openunison.log")
			if err := os.WriteFile(all, []byte(ouLog.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			proxy := filepath.Join(filepath.Dir(all), "ingress-nginx.log")
			if err := os.WriteFile(proxy, []byte(proxyLog.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			want := scanFiles(t, []string{all, proxy})
			if !containsAlert(want, "reuse-ip-mismatch", thief) {
				t.Fatalf("scan did not name the thief: %q", want)
			}
			if missing, extra := diff(want, alerts); len(missing)+len(extra) > 0 {
				t.Errorf("watch differs from scan:\nmissing %q\nextra %q", missing, extra)
			}
		})
	}
}

func containsAlert(keys []string, rule, ip string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, rule+" ") && strings.Contains(k, " "+ip+" ") {
			return true
		}
	}
	return false
}
