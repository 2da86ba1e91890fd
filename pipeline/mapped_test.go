package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// writeTemp writes data to a file of the test's own and returns its path.
func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "openunison.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mappedBlocks maps the file at path and starts a blockSource over it.
func mappedBlocks(t testing.TB, counts readerCounts, path string, size int, lines bool) *blockSource {
	t.Helper()
	return mapBlocks(context.Background(), counts, mapPath(t, path), nil, size, nil, lines)
}

// openTemp opens the file at path for the rest of the test.
func openTemp(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// mapPath maps the file at path, failing the test when it cannot (every
// platform the tests run on has mmap).
func mapPath(t testing.TB, path string) *fileMap {
	t.Helper()
	f2, n, ok := mappable(openTemp(t, path))
	if !ok {
		t.Fatalf("%s is not mappable", path)
	}
	m, err := mapFile(f2, n)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Only a regular file read from its first byte is mapped: anything else
// (a pipe, a file already partly read) keeps read().
func TestMappableOnlyWholeRegularFiles(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, []byte("[2026-11-23 10:00:00,000][main] INFO x - y\n"))
	open := func() *os.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	read := open()
	if _, err := read.Read(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	for _, tc := range []struct {
		name string
		r    any
		want bool
	}{
		{"a regular file", open(), true},
		{"a file partly read", read, false},
		{"an empty file", func() *os.File { f, _ := os.Open(writeTemp(t, nil)); t.Cleanup(func() { f.Close() }); return f }(), false},
		{"a pipe", pr, false},
		{"not a file", bytes.NewReader([]byte("x")), false},
	} {
		r, _ := tc.r.(interface{ Read([]byte) (int, error) })
		if _, _, got := mappable(r); got != tc.want {
			t.Errorf("%s: mappable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A scan of a file, mapped or read() into huge-page buffers, and of the
// same bytes through a reader find the same alerts and count the same.
func TestScanOfAFileMatchesAReader(t *testing.T) {
	t.Parallel()
	// Large enough for read()'s buffers to be huge pages (buffersFor).
	data, _ := generated(t, int64(poolBuffers()*blockSize+1<<20), 11)
	path := writeTemp(t, data)
	wantSum, wantAlerts, err := scan(t, Input{Name: "x", R: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	for name, reading := range map[string]fileReading{"mapped": readingMapped, "read": readingRead} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var c collected
			sum, err := Scan(context.Background(), []Input{{Name: "x", R: openTemp(t, path)}}, ScanOptions{Rules: rules.Builtin(), Deliver: c.deliver, reading: reading})
			if err != nil {
				t.Fatal(err)
			}
			if len(wantAlerts) == 0 || !slices.Equal(c.alerts, wantAlerts) {
				t.Errorf("the file: %d alerts, the reader %d", len(c.alerts), len(wantAlerts))
			}
			if sum.Bytes != wantSum.Bytes || sum.Lines != wantSum.Lines || sum.Records != wantSum.Records ||
				fmt.Sprint(sum.Events) != fmt.Sprint(wantSum.Events) || fmt.Sprint(sum.Inputs) != fmt.Sprint(wantSum.Inputs) {
				t.Errorf("the file: %+v\nthe reader: %+v", sum, wantSum)
			}
		})
	}
}

// openSource maps a plain file or reads it as it is told; left to the
// machine, it asks mappingPays.
func TestFaultIsCheap(t *testing.T) {
	for _, tc := range []struct {
		fault time.Duration
		cheap bool
	}{{0, true}, {300 * time.Nanosecond, true}, {time.Microsecond, true}, {2 * time.Microsecond, false}, {10 * time.Microsecond, false}} {
		if got := faultIsCheap(tc.fault); got != tc.cheap {
			t.Errorf("a fault of %v: cheap %v, want %v", tc.fault, got, tc.cheap)
		}
	}
}

// openSource maps a plain file or reads it as it is told; left to the
// machine, it asks mappingPays.
func TestOpenSourceReadsAFileAsTold(t *testing.T) {
	t.Parallel()
	data, _ := generated(t, 256<<10, 5)
	path := writeTemp(t, data)
	for _, tc := range []struct {
		name    string
		reading fileReading
		mapped  bool
	}{{"mapped", readingMapped, true}, {"read", readingRead, false}, {"left to the machine", readingAuto, mappingPays()}} {
		src := openSource(context.Background(), Input{Name: path, R: openTemp(t, path)}, path, &ScanOptions{reading: tc.reading}, nil)
		bs, ok := src.(*blockSource)
		if !ok {
			t.Fatalf("%s: a %T, want the block reader", tc.name, src)
		}
		if mapped := bs.unmap != nil; mapped != tc.mapped {
			t.Errorf("%s: mapped %v, want %v", tc.name, mapped, tc.mapped)
		}
		sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
		if err := bs.finish(&sum); err != nil {
			t.Fatal(err)
		}
	}
}

// A mapped file truncated under the scan is a read error naming the file,
// not a crash: touching its pages past the new end raises SIGBUS, whether
// in a worker (a block larger than the file: the cut reads nothing) or
// where the blocks are cut (small blocks).
func TestMappedFileTruncatedUnderTheScan(t *testing.T) {
	t.Parallel()
	data, _ := generated(t, 256<<10, 3)
	for name, size := range map[string]int{"in a worker": 1 << 20, "at a cut": 4 << 10} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeTemp(t, data)
			m := mapPath(t, path)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			src := mapBlocks(context.Background(), readerCounts{name: path}, m, nil, size, nil, false)
			for src.advance() {
				t.Fatalf("an event at offset %d of a file truncated to nothing", src.event().Offset)
			}
			sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
			err := src.finish(&sum)
			var re *ReadError
			if !errors.As(err, &re) || re.Source != path || !errors.Is(err, errShrank) || strings.Contains(err.Error(), "nil pointer") {
				t.Fatalf("finish: %v, want a read error of %s saying it shrank, and nothing about pointers", err, path)
			}
			if sum.Lines != 0 {
				t.Errorf("%d lines counted in a file truncated to nothing", sum.Lines)
			}
		})
	}
}
