package pipeline

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/benchlog"
	"github.com/graceguard/graceguard/internal/cputime"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

var (
	benchLogOnce sync.Once
	benchLog     []byte
)

// The issue-2 benchmark log: 64 MB, 3% token traffic, generated.
func scanBenchLog(b *testing.B) []byte {
	benchLogOnce.Do(func() {
		var buf bytes.Buffer
		if _, err := loggen.Write(&buf, loggen.Config{Size: 64 << 20, Seed: 1}); err != nil {
			b.Fatal(err)
		}
		benchLog = buf.Bytes()
	})
	return benchLog
}

// Scan with and without GeoIP enrichment (the demo databases), so the cost
// of enrichment can be read off side by side:
//
//	go test ./pipeline -run X -bench ScanEnrichment -count 5
func BenchmarkScanEnrichment(b *testing.B) {
	data := scanBenchLog(b)
	db, err := geo.Demo()
	if err != nil {
		b.Fatal(err)
	}
	set := rules.Builtin()
	for _, bc := range []struct {
		name string
		geo  correlate.GeoLookup
	}{{"plain", nil}, {"geo", db}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, err := Scan(context.Background(), []Input{{Name: "x", R: bytes.NewReader(data)}}, ScanOptions{
					Rules: set, Geo: bc.geo, Deliver: func(context.Context, []alert.Alert) error { return nil },
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var (
	benchEventsOnce sync.Once
	benchEvents     []parser.Event
)

// The sequential stage alone: the benchmark log's events, parsed once, fed
// to correlation and the built-in rules in order. Whatever this costs per
// event is the floor of a scan's wall time that more cores cannot lower.
//
//	go test ./pipeline -run X -bench Detect -benchmem
func BenchmarkDetect(b *testing.B) {
	data := scanBenchLog(b)
	benchEventsOnce.Do(func() { benchEvents = benchlog.Events(data) })
	set := rules.Builtin()
	ctx := context.Background()
	deliver := func(context.Context, []alert.Alert) error { return nil }
	for b.Loop() {
		det := NewDetector(correlate.NewMemory(correlate.Limits{}), set, 0, deliver)
		for i := range benchEvents {
			if err := det.Observe(ctx, &benchEvents[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := det.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchEvents)), "ns/event")
}

// A whole scan of the benchmark log with correlation and rules judged
// inline, on the merging goroutine, and on a goroutine of their own (what
// scan does): the difference is what overlapping them with the merge and
// the block workers buys on this machine's cores. "mapped" and "read" are
// the same log in a file, mapped or read() into huge-page buffers (scan
// takes whichever this machine's page faults make cheaper: mapped.go).
//
//	go test ./pipeline -run X -bench ScanDetectStage -count 5
func BenchmarkScanDetectStage(b *testing.B) {
	data := scanBenchLog(b)
	path := writeTemp(b, data)
	set := rules.Builtin()
	for _, bc := range []struct {
		name    string
		inline  bool
		file    bool
		reading fileReading
	}{{"inline", true, false, readingAuto}, {"stage", false, false, readingAuto}, {"mapped", false, true, readingMapped}, {"read", false, true, readingRead}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			cpu0 := cputime.Process()
			for b.Loop() {
				in := Input{Name: "x", R: bytes.NewReader(data)}
				var f *os.File
				if bc.file {
					var err error
					if f, err = os.Open(path); err != nil {
						b.Fatal(err)
					}
					in.R = f
				}
				_, err := Scan(context.Background(), []Input{in}, ScanOptions{
					Rules: set, Deliver: func(context.Context, []alert.Alert) error { return nil }, inlineDetect: bc.inline, reading: bc.reading,
				})
				if f != nil {
					f.Close()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			// CPU time moves less than wall time when other work shares
			// the cores: the figure to compare on a loaded machine.
			b.ReportMetric(float64((cputime.Process()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
