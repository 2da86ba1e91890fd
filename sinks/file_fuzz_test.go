package sinks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// At start the file sink tells the dispatcher which queued alerts its file
// already holds, by reading the file back. The strings of an alert are
// log bytes an attacker may choose: whatever they hold, the file read back
// holds the alert written and no other, in both formats.
func FuzzFileHolds(f *testing.F) {
	f.Add(`[2026-11-23 10:00:00,000] {"id":"b2"}`, "uid=a", `","id":"b2`, "b2")
	f.Add("\"id\":\"b2\"\n\\", "\u2028", "</script>", "b2")
	f.Fuzz(func(t *testing.T, raw, user, summary, other string) {
		if other == "" || len(other) > 64 || strings.Trim(other, "0123456789abcdef") != "" || other == "a1" {
			return // alert ids are hex
		}
		a := alert.Alert{ID: "a1", Time: time.Unix(1, 0), Rule: "r", Raw: raw, User: user, Summary: summary, IP: raw, Source: user}
		for _, format := range []FileFormat{FileJSON, FileECS} {
			s, err := newFile(FileOptions{Path: filepath.Join(t.TempDir(), "alerts.jsonl"), Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), []alert.Alert{a}); err != nil {
				t.Fatal(err)
			}
			held, err := s.Holds([]string{"a1", other})
			s.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !held["a1"] || held[other] || len(held) != 1 {
				t.Fatalf("%s: the file holds %v, want only a1", format, held)
			}
		}
	})
}
