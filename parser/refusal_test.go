package parser

import "testing"

func TestParseRefusal(t *testing.T) {
	for _, tc := range []struct {
		line, reason string
		kind         Kind
	}{
		{"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist from refresh_token", RefusalNoSession, KindRefusal},
		{"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session expired", RefusalExpired, KindRefusal},
		{"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Invalid client_secret", "", KindOther},
		{"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Could not refresh token\njava.lang.Exception: x\n\tat a.b(C.java:1)", "", KindOther},
		{"[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  AccessLog - Session expired", "", KindOther},
	} {
		ev, err := Parse([]byte(tc.line), nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if ev.Kind != tc.kind || Classify([]byte(tc.line)) != tc.kind {
			t.Errorf("%q: Parse %s, Classify %s, want %s", tc.line, ev.Kind, Classify([]byte(tc.line)), tc.kind)
		}
		if tc.kind == KindRefusal && (ev.Message != tc.reason || ev.Thread != "XNIO-1 task-3") {
			t.Errorf("%q: message %q thread %q", tc.line, ev.Message, ev.Thread)
		}
	}
}
