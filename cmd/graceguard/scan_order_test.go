package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/graceguard/graceguard/internal/golden"
)

// tieLines are two replicas' logs where a refresh (b.log) and the replay
// of the token it rotated (a.log, named to sort first: only the order by
// kind puts the refresh first) share a millisecond.
func tieLines() (a, b string) {
	const url, dn = "https://k8sou.example.com/auth/idp/k8sIdp/token", "uid=kwatson,ou=shadow,o=Tremolo"
	line := func(at, thread, ip, sid string) string {
		return fmt.Sprintf("[2026-11-23 %s][XNIO-1 %s] INFO  AccessLog - [AzSuccess] - k8sidp - %s - %s - NONE [%s] - [%s]\n", at, thread, url, dn, ip, sid)
	}
	a = line("10:00:00,000", "task-2", "203.0.113.1", "fa") + line("10:00:05,000", "task-2", "198.51.100.40", "fc")
	b = line("10:00:05,000", "task-7", "192.0.2.99", "fb") +
		fmt.Sprintf("[2026-11-23 10:00:05,000][XNIO-1 task-7] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - %s - %s - Expired token used within grace period [192.0.2.99] - [fb]\n", url, dn)
	return a, b
}

// scan a b and scan b a print the same bytes: the replay is judged against
// the refresh of its millisecond either way.
func TestScanOutputIsTheSameForAnyOrderOfFiles(t *testing.T) {
	goldenDir, err := filepath.Abs(filepath.Join("testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the files' names, printed in alerts, are short and the same each run
	a, b := tieLines()
	for name, data := range map[string]string{"b.log": a, "a.log": b} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var outs []string
			for _, files := range [][]string{{"a.log", "b.log"}, {"b.log", "a.log"}} {
				stdout, stderr, code := run(t, nil, append([]string{"scan", "--format", format, "--color", "never"}, files...)...)
				if code != 0 {
					t.Fatalf("scan %v: exit %d: %s", files, code, stderr)
				}
				outs = append(outs, stdout)
			}
			if outs[0] != outs[1] {
				t.Fatalf("scan a.log b.log and scan b.log a.log differ:\n--- a b\n%s\n--- b a\n%s", outs[0], outs[1])
			}
			ext := map[string]string{"json": ".jsonl", "text": ".txt"}[format]
			golden.Check(t, filepath.Join(goldenDir, "scan-tie"+ext), []byte(outs[0]))
		})
	}
}
