package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A replay's AzSuccess on pod-a reaches the watcher 500 ms before its
// [ExpiredRefreshTokenUsed] line; meanwhile pod-b logs an unrelated refused
// refresh (anonymous AzFail) a few ms after the AzSuccess. The merge lets
// pod-b's AzFail go after idleSettle; it must not commit pod-a's AzSuccess
// as the user's refresh before its twin can arrive.
func TestWatchLateTwinSurvivesOtherFilesRefusal(t *testing.T) {
	t.Parallel()
	h := newSkewedHarness(t)
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa")+
		strings.ReplaceAll(refreshLine("10:00:03,000", "198.51.100.40", "fb"), "task-2", "task-5"))
	h.send("pod-b", fmt.Sprintf("[2026-11-23 10:00:04,000][XNIO-1 task-7] INFO  AccessLog - [AzSuccess] - k8sidp - %s - uid=other,o=Tremolo - NONE [203.0.113.50] - [fz]\n", tokenURL))
	replay := reuseLines("10:00:05,000", "192.0.2.99", "fc")
	azSuccess, reuse, _ := strings.Cut(replay, "\n")
	h.send("pod-a", azSuccess+"\n")
	h.idle("pod-a")
	h.send("pod-b", "[2026-11-23 10:00:05,010][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n"+
		fmt.Sprintf("[2026-11-23 10:00:05,012][XNIO-1 task-3] INFO  AccessLog - [AzFail] - k8sidp - %s - uid=Anonymous,o=Tremolo - NONE [203.0.113.9] - [fd]\n", tokenURL))
	h.idle("pod-b")
	h.pass(t, 500*time.Millisecond) // pod-a quiet past idleSettle, within twinWait
	h.send("pod-a", reuse+"\n")
	h.idle("pod-a")
	h.waitFor("reuse-ip-mismatch", 1)
	if n := h.count("reuse-ip-mismatch"); n != 1 {
		t.Fatalf("%d reuse-ip-mismatch alerts, want 1: another file's refusal committed the replay's AzSuccess as a refresh", n)
	}
}
