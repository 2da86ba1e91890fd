package parser

import (
	"bytes"
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
	for b.Loop() {
		for _, rec := range recs {
			if _, err := Parse(rec, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
