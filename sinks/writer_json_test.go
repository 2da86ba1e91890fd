package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// jsonLinesByEncoder is what the sinks wrote before they called
// MarshalJSON themselves: a json.Encoder with HTML left unescaped.
func jsonLinesByEncoder(t testing.TB, alerts []alert.Alert) []byte {
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	for _, a := range alerts {
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
	}
	return want.Bytes()
}

func sampleAlert(summary, user, raw string) alert.Alert {
	return alert.Alert{
		ID: "870f2cfeb4670bb74c24", Time: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Rule: "reuse-ip-mismatch",
		Severity: alert.High, Summary: summary, User: user, IP: "192.0.2.66", PrevIP: "198.51.100.23",
		PrevTime: time.Date(2026, 11, 23, 9, 59, 59, 999e6, time.UTC), Session: "s0", IdP: "k8sIdp",
		URL: "https://k8sou.example.com/auth/idp/k8sIdp/token", Source: "/var/log/openunison.log", Raw: raw,
	}
}

// The stdout Writer, the alerts file and the webhook and syslog bodies
// write exactly what a json.Encoder (or json.Marshal) wrote, whatever the
// strings hold: HTML, quotes, control bytes, invalid UTF-8, U+2028.
func TestJSONLinesAreTheEncoders(t *testing.T) {
	t.Parallel()
	alerts := []alert.Alert{
		sampleAlert("plain", "uid=a,o=Tremolo", ""),
		sampleAlert(`<script>&"quoted"</script>`, "uid=\u2028x\u2029,o=T", "line\twith\x01control\xffbytes"),
		{ID: "x", Time: time.Unix(0, 0), Rule: "r", Severity: alert.Low},
	}
	want := jsonLinesByEncoder(t, alerts)
	var got bytes.Buffer
	w := NewWriter(&got, WriterOptions{Format: FormatJSON})
	if err := w.Send(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("Writer wrote\n%s\nan Encoder\n%s", got.Bytes(), want)
	}
	for _, a := range alerts {
		b, err := a.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		m, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, m) {
			t.Errorf("MarshalJSON %s, json.Marshal %s", b, m)
		}
	}
}

func FuzzJSONLinesAreTheEncoders(f *testing.F) {
	f.Add("summary <b>", "uid=a,o=T", "raw & \u2028")
	f.Add("\xff\xfe", "\x00", `"\`)
	f.Fuzz(func(t *testing.T, summary, user, raw string) {
		alerts := []alert.Alert{sampleAlert(summary, user, raw)}
		var got bytes.Buffer
		if err := NewWriter(&got, WriterOptions{Format: FormatJSON}).Send(context.Background(), alerts); err != nil {
			t.Fatal(err)
		}
		if want := jsonLinesByEncoder(t, alerts); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("Writer wrote\n%q\nan Encoder\n%q", got.Bytes(), want)
		}
	})
}

// BenchmarkWriterJSON is the JSON writer's cost an alert (scan's and
// watch's stdout): no allocation once its line buffer has grown.
func BenchmarkWriterJSON(b *testing.B) {
	w := NewWriter(io.Discard, WriterOptions{Format: FormatJSON})
	a := sampleAlert("summary <b>x</b>", "uid=a,ou=shadow,o=Tremolo", "[2026-11-23 10:01:32,401][XNIO-1 task-6] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.example.com/auth/idp/k8sIdp/token")
	group := []alert.Alert{a}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Send(context.Background(), group); err != nil {
			b.Fatal(err)
		}
	}
}
