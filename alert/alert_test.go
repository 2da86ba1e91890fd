package alert

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func proxied() Alert {
	ms := int64(43)
	return Alert{
		ID: "7a6b5c4d3e2f1a0b9c8d", Time: time.Date(2026, 11, 23, 10, 1, 32, 401e6, time.UTC), Rule: "reuse-ip-mismatch", Severity: High,
		User: "uid=a,o=T", IP: "203.0.113.9", PrevIP: "198.51.100.23", PrevTime: time.Date(2026, 11, 23, 10, 1, 32, 358e6, time.UTC),
		IntervalMs: &ms, Source: "ou-b.log", Peer: "10.1.67.56", PrevPeer: "10.1.67.12", Via: "ingress-nginx 10.1.67.56",
		Agent: "curl/8.5.0", PrevAgent: "Go-http-client/2.0", Attribution: "joined",
	}
}

func TestTextNamesTheClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a    func() Alert
		want string
	}{
		{"through a proxy", proxied, "2026-11-23T10:01:32.401Z HIGH     reuse-ip-mismatch uid=a,o=T 203.0.113.9 via ingress-nginx 10.1.67.56, curl/8.5.0 ← 198.51.100.23, Go-http-client/2.0 43ms earlier [ou-b.log]\n"},
		{"ambiguous", func() Alert {
			a := proxied()
			a.IP, a.Agent, a.Attribution, a.Candidates = "10.1.67.56", "", "ambiguous", []string{"192.0.2.66", "203.0.113.9"}
			return a
		}, "2026-11-23T10:01:32.401Z HIGH     reuse-ip-mismatch uid=a,o=T one of 192.0.2.66, 203.0.113.9 (ambiguous) via ingress-nginx 10.1.67.56 ← 198.51.100.23, Go-http-client/2.0 43ms earlier [ou-b.log]\n"},
		{"direct", func() Alert {
			a := proxied()
			a.Peer, a.PrevPeer, a.Via, a.Agent, a.PrevAgent, a.Attribution = "", "", "", "", "", ""
			return a
		}, "2026-11-23T10:01:32.401Z HIGH     reuse-ip-mismatch uid=a,o=T 203.0.113.9 ← 198.51.100.23 43ms earlier [ou-b.log]\n"},
		// The previous refresh's client could not be told: no prev_ip,
		// but the refresh is known, and said as what OpenUnison logged.
		{"previous client unknown", func() Alert {
			a := proxied()
			a.PrevIP = ""
			return a
		}, "2026-11-23T10:01:32.401Z HIGH     reuse-ip-mismatch uid=a,o=T 203.0.113.9 via ingress-nginx 10.1.67.56, curl/8.5.0 ← an unknown client via proxy 10.1.67.12, Go-http-client/2.0 43ms earlier [ou-b.log]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WriteText(&b, tt.a(), TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got  %q\nwant %q", b.String(), tt.want)
			}
		})
	}
}

// The client keys appear when a proxy was involved and only then; the
// others are always present; what is written reads back.
func TestJSONClientKeys(t *testing.T) {
	t.Parallel()
	clientKeys := []string{"peer", "prev_peer", "via", "agent", "prev_agent", "attribution"}
	for _, tc := range []struct {
		a    Alert
		want bool
	}{{proxied(), true}, {Alert{ID: "x", Rule: "r", Severity: Low}, false}} {
		data, err := json.Marshal(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range clientKeys {
			if _, ok := m[k]; ok != tc.want {
				t.Errorf("key %q present %v, want %v: %s", k, ok, tc.want, data)
			}
		}
		for _, k := range []string{"id", "ip", "prev_ip", "geo", "raw"} {
			if _, ok := m[k]; !ok {
				t.Errorf("always-present key %q missing: %s", k, data)
			}
		}
		var back Alert
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back.Via != tc.a.Via || back.PrevAgent != tc.a.PrevAgent || back.PrevPeer != tc.a.PrevPeer || !slices.Equal(back.Candidates, tc.a.Candidates) {
			t.Errorf("read back %+v", back)
		}
	}
	a := proxied()
	a.Candidates = []string{"192.0.2.66", "203.0.113.9"}
	data, _ := json.Marshal(a)
	if !strings.Contains(string(data), `"candidates":["192.0.2.66","203.0.113.9"]`) {
		t.Errorf("candidates: %s", data)
	}
}

func TestIDNamesOneRecord(t *testing.T) {
	const rule, src = "reuse-ip-mismatch", "2049:131"
	base := ID(rule, src, 120, "[10:00:02,000] reuse from 192.0.2.66")
	tests := []struct {
		name   string
		id     string
		differ bool
	}{
		{"the same record read again", ID(rule, src, 120, "[10:00:02,000] reuse from 192.0.2.66"), false},
		{"a new record at the old offset (copytruncate)", ID(rule, src, 120, "[10:07:41,000] reuse from 192.0.2.67"), true},
		{"the same text at another offset", ID(rule, src, 480, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"another file", ID(rule, "2049:132", 120, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"another rule", ID("reuse-new-ip", src, 120, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"parts do not run together", ID(rule, src+"1", 20, "[10:00:02,000] reuse from 192.0.2.66"), true},
	}
	for _, tt := range tests {
		if (tt.id != base) != tt.differ {
			t.Errorf("%s: id %s, base %s, want differ=%v", tt.name, tt.id, base, tt.differ)
		}
	}
}

// A previous refresh whose client attribution could not tell has no
// PrevIP; its words name what OpenUnison logged, not a client.
func TestPrevClientOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a    Alert
		want string
	}{
		{Alert{PrevIP: "203.0.113.9", PrevAgent: "kubectl"}, "203.0.113.9, kubectl"},
		{Alert{PrevIP: "203.0.113.9", PrevPeer: "10.1.67.12"}, "203.0.113.9"},
		{Alert{PrevPeer: "10.1.67.12", PrevAgent: "kubectl"}, "an unknown client via proxy 10.1.67.12, kubectl"},
		{Alert{}, "-"},
	} {
		if got := tc.a.PrevClientOf(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.a, got, tc.want)
		}
	}
}
