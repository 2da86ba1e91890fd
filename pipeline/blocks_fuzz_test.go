package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// readAll drains src as a scan would, keeping what an event says of its
// record and the parse errors it reports (which name the record's line).
func readAll(t *testing.T, src eventSource, errs *[]string) ([]string, Summary) {
	t.Helper()
	var evs []string
	for src.advance() {
		ev := src.event()
		evs = append(evs, fmt.Sprintf("%s %d %s %s %v %q", ev.Kind, ev.Offset, ev.Time.Format("2006-01-02T15:04:05.000"), ev.User, ev.IP, ev.Raw))
	}
	sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
	if err := src.finish(&sum); err != nil {
		t.Fatal(err)
	}
	return evs, sum
}

// Whatever bytes a plain log holds, the block-parallel reader, over reads
// of any size or a mapping, and cut into blocks of any size, finds the
// records and events the sequential Scanner finds, at the same offsets,
// and counts and reports (by line) what it could not parse alike. The
// block reader cuts a log where a record starts, carrying the rest over;
// the Scanner never cuts: a cut in the wrong place splits a record or
// joins two, and the two disagree.
//
//	go test ./pipeline -run X -fuzz FuzzBlockReaderAgreesWithScanner -fuzztime 1m
func FuzzBlockReaderAgreesWithScanner(f *testing.F) {
	files, _ := filepath.Glob("../testdata/openunison/*")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4096)], uint16(64))
	}
	for _, format := range loggen.ProxyFormats() {
		var ou, pod bytes.Buffer
		if _, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 16 << 10, Seed: 5},
			loggen.Proxy{Format: format, Writers: []io.Writer{&pod}, NoiseShare: 0.5}); err != nil {
			f.Fatal(err)
		}
		f.Add(pod.Bytes()[:min(pod.Len(), 4096)], uint16(200))
	}
	for _, c := range longLineCases(f) {
		if len(c.data) < 8<<10 {
			f.Add([]byte(c.data), uint16(100))
		}
	}
	f.Add([]byte("[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - k - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1] - [f0]\n\tat x\n[2026-11-23 10:00:01,000][t] INFO  AccessLog - [AzSuccess] - k - https://x/auth/idp/k/token - uid=a,o=T - NONE [192.0.2.1"), uint16(7))
	f.Add([]byte("\n\n[2026-\n[2026-11-23 10:00:00,000][t] WARN  X - y\r\n"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, size uint16) {
		if len(data) > 64<<10 {
			return
		}
		size = max(size, 1)
		if parser.DetectFormat(data) != parser.FormatPlain {
			return // the Scanner's alone: it unwraps CRI and docker lines
		}
		lines := parser.IsProxyLog(data)
		// A proxy's log is its lines from the first to the block reader,
		// which reads ahead to tell; the Scanner cannot, and joins lines
		// before the first that tells (a banner) as a record's
		// continuation lines. Those are noise either way: only how many
		// records they make may differ.
		before := int64(0)
		if lines {
			for rest := data; len(rest) > 0 && !parser.IsProxyLog(rest[:max(bytes.IndexByte(rest, '\n'), 0)]); before++ {
				nl := bytes.IndexByte(rest, '\n')
				if nl < 0 {
					break
				}
				rest = rest[nl+1:]
			}
		}
		var wantErrs []string
		counts := func(errs *[]string) readerCounts {
			return readerCounts{name: "x", onParseErr: func(err error) { *errs = append(*errs, err.Error()) }}
		}
		want, wantSum := readAll(t, &scannerSource{readerCounts: counts(&wantErrs), sc: parser.NewScanner(bytes.NewReader(data))}, &wantErrs)
		path := writeTemp(t, data)
		for _, how := range []string{"one byte reads", "half reads", "mapped"} {
			var errs []string
			var src *blockSource
			switch how {
			case "one byte reads":
				src = readBlocks(context.Background(), counts(&errs), iotest.OneByteReader(bytes.NewReader(data)), nil, heapBuffers(int(size)), nil, lines)
			case "half reads":
				src = readBlocks(context.Background(), counts(&errs), iotest.HalfReader(bytes.NewReader(data)), nil, heapBuffers(int(size)), nil, lines)
			default:
				if len(data) == 0 {
					continue // nothing to map
				}
				src = mappedBlocks(t, counts(&errs), path, int(size), lines)
			}
			got, sum := readAll(t, src, &errs)
			if !slices.Equal(got, want) {
				t.Errorf("%s, blocks of %d: events\n%q\nthe Scanner's\n%q", how, size, got, want)
			}
			records := sum.Records == wantSum.Records && sum.Events[parser.KindOther] == wantSum.Events[parser.KindOther]
			if d := sum.Records - wantSum.Records; !records && d == sum.Events[parser.KindOther]-wantSum.Events[parser.KindOther] && d >= 0 && d <= before {
				records = true
			}
			events := maps.Clone(sum.Events)
			events[parser.KindOther] = wantSum.Events[parser.KindOther]
			if sum.Bytes != wantSum.Bytes || sum.Lines != wantSum.Lines || !records || sum.Cut != wantSum.Cut ||
				sum.ParseErrors != wantSum.ParseErrors || fmt.Sprint(events) != fmt.Sprint(wantSum.Events) {
				t.Errorf("%s, blocks of %d: bytes %d lines %d records %d cut %d parse errors %d events %v\nthe Scanner's: bytes %d lines %d records %d cut %d parse errors %d events %v",
					how, size, sum.Bytes, sum.Lines, sum.Records, sum.Cut, sum.ParseErrors, sum.Events,
					wantSum.Bytes, wantSum.Lines, wantSum.Records, wantSum.Cut, wantSum.ParseErrors, wantSum.Events)
			}
			if !slices.Equal(errs, wantErrs) {
				t.Errorf("%s, blocks of %d: parse errors\n%q\nthe Scanner's\n%q", how, size, errs, wantErrs)
			}
		}
	})
}
