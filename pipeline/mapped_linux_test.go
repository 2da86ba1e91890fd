package pipeline

import (
	"context"
	"testing"
	"unsafe"

	"github.com/graceguard/graceguard/internal/smaps"
	"github.com/graceguard/graceguard/parser"
)

// mappingRSS is the resident size, in kB, of the mapping that starts at
// data[0], from /proc/self/smaps.
func mappingRSS(t *testing.T, data []byte) int {
	t.Helper()
	start := uintptr(unsafe.Pointer(&data[0]))
	m, ok, err := smaps.At(start)
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	if !ok || m.Lo != start {
		t.Fatalf("no mapping at %#x in smaps (found %#x-%#x)", start, m.Lo, m.Hi)
	}
	return m.RssKB
}

// A scan gives back the pages of the blocks it has read: its resident set
// stays the blocks in flight, not the whole file (the pages stay in the
// page cache; only the scan's mapping of them goes). Blocks are of the
// scan's size, so that the kernel's fault-around, which maps a window
// around each first touch, reaches back into the block before as it does
// in a scan.
func TestMappedScanKeepsFewPagesResident(t *testing.T) {
	t.Parallel()
	data, _ := generated(t, 32<<20, 5)
	m := mapPath(t, writeTemp(t, data))
	src := mapBlocks(context.Background(), readerCounts{name: "x"}, m, nil, blockSize, nil, false)
	for src.advance() {
	}
	// What may stay: the last block and the page before it.
	bound := 2 * blockSize / 1024
	if kb := mappingRSS(t, m.data); kb > bound {
		t.Errorf("the mapping holds %d kB resident after the scan of %d MiB, want at most %d", kb, len(data)>>20, bound)
	}
	if err := src.finish(&Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}); err != nil {
		t.Fatal(err)
	}
}
