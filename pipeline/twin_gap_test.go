package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenUnison writes a replay's AzSuccess and its ExpiredRefreshTokenUsed
// line microseconds apart, so now and then a millisecond apart. Behind a
// proxy both wait in attribution until every log has been read its window
// past them, and a clock can stand between the two: here the ingress's,
// at nginx's whole second exactly the window past the AzSuccess, a
// millisecond short of the reuse's. The AzSuccess went on to the
// correlator alone, whose tick took it for the user's refresh by its log's
// clock (read seconds past it), and the reuse, judged a second later
// against the replayer's own address, raised nothing where scan alerts.
// The same millisecond is the control: both lines go on together.
func TestWatchReuseAMillisecondAfterItsTwinAgreesWithScan(t *testing.T) {
	t.Parallel()
	for _, reuseAt := range []string{"10:00:01,000", "10:00:01,001"} {
		t.Run(reuseAt, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ou := refreshLine("10:00:00,500", "10.1.67.12", "fa") +
				restampReuse(reuseLines("10:00:01,000", "10.1.67.12", "fb"), reuseAt) +
				"[2026-11-23 10:00:05,000][XNIO-1 task-3] INFO  AccessLog - [AuSuccess] - k8sidp - https://k8sou.example/auth/idp/k8sIdp/auth - uid=other,ou=users - NONE [10.1.67.12] - [s5]\n"
			ingress := "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n" +
				nginxLine("10:00:00", "203.0.113.9") + nginxLine("10:00:01", "192.0.2.66") + otherRequestLine("10:00:03")
			paths := []string{filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress-nginx.log")}
			for i, data := range []string{ou, ingress} {
				if err := os.WriteFile(paths[i], []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := scanFiles(t, paths)
			if count(want, "reuse-ip-mismatch") != 1 {
				t.Fatalf("scan alerts %v: want the replay named", want)
			}
			records := int64(strings.Count(ou, "\n") + strings.Count(ingress, "\n"))
			got := watchFilesUntil(t, paths, records, WatchOptions{}, func(m *Metrics) bool {
				return m.AttrWaiting.WithLabelValues("events").Value() == 0
			})
			if missing, extra := diff(want, got); len(missing)+len(extra) > 0 {
				t.Fatalf("watch differs from scan\nmissing:\n%v\nextra:\n%v", missing, extra)
			}
		})
	}
}

// restampReuse stamps the ExpiredRefreshTokenUsed line of reuseLines' two
// with at: the same request, logged a moment later.
func restampReuse(lines, at string) string {
	twin, reuse, _ := strings.Cut(lines, "\n")
	open := strings.Index(reuse, " ") + 1
	return twin + "\n" + reuse[:open] + at + reuse[strings.Index(reuse, "]"):]
}
