package parser

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/loggen"
)

var (
	benchLogOnce sync.Once
	benchLog     []byte
)

// realisticLog is 32 MB of generated OpenUnison log, 3% token traffic.
func realisticLog(b *testing.B) []byte {
	benchLogOnce.Do(func() {
		var buf bytes.Buffer
		if _, err := loggen.Write(&buf, loggen.Config{Size: 32 << 20, Seed: 1}); err != nil {
			b.Fatal(err)
		}
		benchLog = buf.Bytes()
	})
	return benchLog
}

// The per-core cost of telling noise from the records correlation needs,
// as a scan's block workers do it.
func BenchmarkSplitCandidates(b *testing.B) {
	data := realisticLog(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		n := 0
		SplitCandidates(data, func([]byte, Kind, int, int64) { n++ })
	}
}

func BenchmarkScanner(b *testing.B) {
	data := realisticLog(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sc := NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			Classify(sc.Record().Text)
		}
	}
}

func BenchmarkParseTokenLine(b *testing.B) {
	line := []byte(lineA)
	for b.Loop() {
		if _, err := Parse(line, time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}

// Parse over the records a scan parses: those of the realistic log that
// Classify picks out, each a copy (as a block worker's are).
func BenchmarkParseCandidates(b *testing.B) {
	data := realisticLog(b)
	var recs [][]byte
	SplitCandidates(data, func(rec []byte, _ Kind, _ int, _ int64) {
		recs = append(recs, bytes.Clone(rec))
	})
	b.ResetTimer()
	benchParse(b, recs)
}

var (
	benchProxyMu   sync.Mutex
	benchProxyLogs = map[loggen.ProxyFormat][]byte{}
)

// proxyLog is 32 MB of one proxy pod's generated access log in format f,
// about 2% of its lines token requests: the size of realisticLog, so the
// two benchmarks' MB/s compare directly.
func proxyLog(b *testing.B, f loggen.ProxyFormat) []byte {
	benchProxyMu.Lock()
	defer benchProxyMu.Unlock()
	if data, ok := benchProxyLogs[f]; ok {
		return data
	}
	var ou, px bytes.Buffer
	if _, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 20 << 20, Seed: 1},
		loggen.Proxy{Format: f, Writers: []io.Writer{&px}}); err != nil {
		b.Fatal(err)
	}
	data := px.Bytes()
	if len(data) < 32<<20 {
		b.Fatalf("only %d bytes of %s log", len(data), f)
	}
	data = data[:bytes.LastIndexByte(data[:32<<20], '\n')+1]
	benchProxyLogs[f] = data
	return data
}

// The per-core cost of finding the token requests in a proxy's log, as a
// scan's block workers do it; compare with BenchmarkSplitCandidates.
func BenchmarkSplitLinesNginx(b *testing.B)     { benchSplitLines(b, loggen.ProxyNginx) }
func BenchmarkSplitLinesNginxJSON(b *testing.B) { benchSplitLines(b, loggen.ProxyNginxJSON) }
func BenchmarkSplitLinesIstio(b *testing.B)     { benchSplitLines(b, loggen.ProxyIstio) }

func benchSplitLines(b *testing.B, f loggen.ProxyFormat) {
	data := proxyLog(b, f)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		n = 0
		SplitLines(data, func([]byte, Kind, int, int64) { n++ })
	}
	if n == 0 {
		b.Fatal("no token request found")
	}
}

// Parse over the token records of a proxy's log.
func BenchmarkParseProxyCandidates(b *testing.B) {
	data := proxyLog(b, loggen.ProxyNginx)
	var recs [][]byte
	SplitLines(data, func(rec []byte, _ Kind, _ int, _ int64) { recs = append(recs, bytes.Clone(rec)) })
	b.ResetTimer()
	benchParse(b, recs)
}
