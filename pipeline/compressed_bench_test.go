package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/rules"
)

// A scan of a gzip'd generation: bench/genlog's 100 MB log (-size 100MB
// -seed 1), compressed as gzip -6 does, read from a file. Its figure
// to set beside it is zcat's:
//
//	go run ./bench/genlog -size 100MB -seed 1 -o /tmp/100MB.log && gzip -k /tmp/100MB.log
//	time (zcat /tmp/100MB.log.gz | grep -cF ExpiredRefreshTokenUsed)
//	go test ./pipeline -run X -bench ScanGzip -benchtime 5x
func BenchmarkScanGzip(b *testing.B) {
	var log bytes.Buffer
	if _, err := loggen.Write(&log, loggen.Config{Size: 100e6, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, 6)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(log.Bytes()); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "openunison.log.1.gz")
	if err := os.WriteFile(path, gz.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	set := rules.Builtin()
	b.SetBytes(int64(log.Len())) // the log's bytes, as the summary counts them
	cpu0 := cputime.Process()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Scan(context.Background(), []Input{{Name: path, R: f}}, ScanOptions{Rules: set, Deliver: (&collected{}).deliver})
		f.Close()
		if err != nil || sum.Bytes != int64(log.Len()) {
			b.Fatalf("scanned %d bytes of %d: %v", sum.Bytes, log.Len(), err)
		}
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}
