package parser

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/loggen"
)

// The per-record cost of the proxy formats' field readers and time
// parsers, one sub-benchmark a format: splitting those functions for
// readability must leave these figures where they were.
func BenchmarkParseProxyFormats(b *testing.B) {
	for _, f := range []loggen.ProxyFormat{loggen.ProxyNginx, loggen.ProxyNginxJSON, loggen.ProxyEnvoy,
		loggen.ProxyIstio, loggen.ProxyEnvoyGateway, loggen.ProxyTraefik, loggen.ProxyTraefikJSON} {
		b.Run(string(f), func(b *testing.B) {
			var ou, px bytes.Buffer
			if _, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 4 << 20, Seed: 1},
				loggen.Proxy{Format: f, Writers: []io.Writer{&px}}); err != nil {
				b.Fatal(err)
			}
			data := px.Bytes()
			var recs [][]byte
			SplitLines(data, func(rec []byte, _ Kind, _ int, _ int64) { recs = append(recs, bytes.Clone(rec)) })
			if len(recs) == 0 {
				b.Fatal("no token request found")
			}
			b.ResetTimer()
			benchParse(b, recs)
		})
	}
}

// benchParse parses recs in every round and reports the cost per record.
func benchParse(b *testing.B, recs [][]byte) {
	for b.Loop() {
		for _, rec := range recs {
			if _, err := Parse(rec, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// A kubectl --timestamps or CRI line's stamp, in the shapes runtimes write.
func BenchmarkStampPrefixLen(b *testing.B) {
	lines := [][]byte{
		[]byte("2026-11-23T10:00:00.123456789Z stdout F x"),
		[]byte("2026-11-23T10:00:00Z x"),
		[]byte("2026-11-23T10:00:00.123+01:00 x"),
		[]byte("2026-11-23 10:00:00 not a stamp"),
	}
	n := 0
	for b.Loop() {
		for _, l := range lines {
			n += stampPrefixLen(l)
		}
	}
	if n == 0 {
		b.Fatal("no stamp read")
	}
}

// JSON values with escapes of every kind nginx and Envoy write.
func BenchmarkUnescapeJSON(b *testing.B) {
	vals := [][]byte{
		[]byte(`Mozilla/5.0 (X11; Linux x86_64) \"quoted\" \\ back`),
		[]byte(`/auth/idp/k8sIdp/token?x=\u00e9\ud83d\ude00`),
		[]byte(`agent \x22nginx\x22 escaping\t\n\r\b\f\/`),
	}
	var dst []byte
	for b.Loop() {
		for _, v := range vals {
			var ok bool
			if dst, ok = unescapeJSON(dst[:0], v); !ok {
				b.Fatalf("%s not read", v)
			}
		}
	}
}
