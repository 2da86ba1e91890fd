package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// gzipped is data as gzip writes it, in one member per part: gzip's own
// concatenation (cat a.gz b.gz, or logrotate's delaycompress appending)
// makes such files, which zcat reads as one.
func gzipped(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range parts {
		w := gzip.NewWriter(&out)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// bzipped is data as the bzip2 command compresses it (the standard
// library only decompresses); the test is skipped where there is none.
func bzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("no bzip2 command here:", err)
	}
	cmd := exec.Command("bzip2", "-c", "-1")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func zstded(t testing.TB, data []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(data, nil)
}

// cri wraps each line of a plain log as the kubelet writes it (CRI), so
// that the compressed log goes to the record Scanner, not the blocks.
func criLog(plain []byte) []byte {
	var b bytes.Buffer
	for line := range strings.SplitAfterSeq(string(plain), "\n") {
		if line != "" {
			b.WriteString("2026-11-23T10:00:00.000000000Z stdout F " + line)
		}
	}
	return b.Bytes()
}

// writeFile writes data to a file of its own and opens it: a regular file
// read from its start, which a scan would map were it plain.
func openWritten(t *testing.T, name string, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// scanWith scans one input as name with the built-in rules, the file
// mapped when it can be: a compressed one must never be.
func scanWith(t *testing.T, name string, r io.Reader, progress *atomic.Int64) (Summary, []string, error) {
	t.Helper()
	var c collected
	sum, err := Scan(context.Background(), []Input{{Name: name, R: r}}, ScanOptions{
		Rules: rules.Builtin(), Deliver: c.deliver, Progress: progress, reading: readingMapped,
	})
	return sum, c.alerts, err
}

// A compressed input, told by its first bytes whatever its name, is read
// as the log it holds: the same lines, events and alerts as the log
// itself, whether it is a file or a stream (stdin), plain or CRI, and
// whatever the compression.
func TestScanReadsCompressedInputs(t *testing.T) {
	t.Parallel()
	plain, truth := generated(t, 2<<20, 11)
	if truth.Replays == 0 {
		t.Fatal("the log holds no replay: nothing for the alerts to show")
	}
	half := bytes.IndexByte(plain[len(plain)/2:], '\n') + len(plain)/2 + 1
	cri := criLog(plain)
	for _, tt := range []struct {
		name   string
		log    []byte // what the compressed bytes hold
		format string
		data   func(t *testing.T, log []byte) []byte
		stream bool
	}{
		{"gzip", plain, "gzip", func(t *testing.T, log []byte) []byte { return gzipped(t, log) }, false},
		{"gzip of two members", plain, "gzip", func(t *testing.T, log []byte) []byte { return gzipped(t, log[:half], log[half:]) }, false},
		{"gzip from a pipe", plain, "gzip", func(t *testing.T, log []byte) []byte { return gzipped(t, log) }, true},
		{"gzip of a CRI log", cri, "gzip", func(t *testing.T, log []byte) []byte { return gzipped(t, log) }, false},
		{"gzip of a CRI log from a pipe", cri, "gzip", func(t *testing.T, log []byte) []byte { return gzipped(t, log) }, true},
		{"bzip2", plain, "bzip2", func(t *testing.T, log []byte) []byte { return bzipped(t, log) }, false},
		{"zstd", plain, "zstd", func(t *testing.T, log []byte) []byte { return zstded(t, log) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantSum, want, err := scanWith(t, "openunison.log", openWritten(t, "plain.log", tt.log), nil)
			if err != nil {
				t.Fatal(err)
			}
			compressed := tt.data(t, tt.log)
			var r io.Reader = openWritten(t, "openunison.log", compressed) // no suffix: the bytes tell
			if tt.stream {
				pr, pw := io.Pipe()
				go func() { pw.CloseWithError(iotestCopy(pw, compressed)) }()
				r = pr
			}
			var progress atomic.Int64
			sum, got, err := scanWith(t, "openunison.log", r, &progress)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("alerts differ from the log's own:\n got %q\nwant %q", got, want)
			}
			if sum.Bytes != int64(len(tt.log)) || sum.Lines != wantSum.Lines || sum.Records != wantSum.Records {
				t.Errorf("bytes %d lines %d records %d; want the log's %d, %d, %d", sum.Bytes, sum.Lines, sum.Records, len(tt.log), wantSum.Lines, wantSum.Records)
			}
			for k, n := range wantSum.Events {
				if sum.Events[k] != n {
					t.Errorf("%s events %d, want %d", k, sum.Events[k], n)
				}
			}
			in := sum.Inputs[0]
			if in.Compression != tt.format || !in.Decompressed || in.CompressedBytes != int64(len(compressed)) || in.Bytes != int64(len(tt.log)) {
				t.Errorf("input %+v: want %s, decompressed, %d bytes of file giving %d of log", in, tt.format, len(compressed), len(tt.log))
			}
			// The progress bar's total is the files' sizes: it counts the
			// file's bytes, not the log's.
			if p := progress.Load(); p != int64(len(compressed)) {
				t.Errorf("progress %d, want the file's %d bytes", p, len(compressed))
			}
		})
	}
}

// iotestCopy writes data to w in small writes, as a pipe delivers it.
func iotestCopy(w io.Writer, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), 4096)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// A compressed file that is corrupt or cut short is the input's read
// error, naming the file and how far it was read; what came out before
// was judged as the log's same bytes are, nothing of it lost.
func TestScanOfACorruptCompressedInput(t *testing.T) {
	t.Parallel()
	plain, _ := generated(t, 2<<20, 12)
	whole := gzipped(t, plain)
	flipped := bytes.Clone(whole)
	flipped[len(flipped)*3/4] ^= 0xff
	badTrailer := bytes.Clone(whole)
	badTrailer[len(badTrailer)-6] ^= 0xff // the CRC-32 of the member
	for _, tt := range []struct {
		name   string
		data   []byte
		format string
		want   error // what the DecompressError says, nil for any
		// garbled: the bytes decompressed before the error are not the
		// log's (gzip checks its CRC only at a member's end).
		garbled bool
	}{
		{"gzip cut short", whole[:len(whole)/2], "gzip", errTruncated, false},
		{"gzip cut in its header", whole[:5], "gzip", errTruncated, false},
		{"gzip with a byte changed", flipped, "gzip", nil, true},
		{"gzip whose checksum is wrong", badTrailer, "gzip", gzip.ErrChecksum, false},
		{"bzip2 cut short", func() []byte { b := bzipped(t, plain); return b[:len(b)/2] }(), "bzip2", nil, false},
		{"zstd cut short", func() []byte { b := zstded(t, plain); return b[:len(b)/2] }(), "zstd", errTruncated, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum, got, err := scanWith(t, "openunison.log.2.gz", openWritten(t, "x.gz", tt.data), nil)
			var re *ReadError
			var de *DecompressError
			if !errors.As(err, &re) || re.Source != "openunison.log.2.gz" || !errors.As(err, &de) || de.Format != tt.format {
				t.Fatalf("error %v: want a ReadError of openunison.log.2.gz holding a %s DecompressError", err, tt.format)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v: want %v", err, tt.want)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v is io.ErrUnexpectedEOF, which the readers take for an input that ended", err)
			}
			if !strings.Contains(err.Error(), "openunison.log.2.gz") {
				t.Errorf("error %q does not name the file", err)
			}
			// compress/gzip's errors open with "gzip: " too.
			if n := strings.Count(err.Error(), tt.format+": "); n != 1 {
				t.Errorf("error %q says %q %d times, want once", err, tt.format+": ", n)
			}
			if sum.Bytes > de.Decompressed {
				t.Fatalf("judged %d bytes of %d decompressed", sum.Bytes, de.Decompressed)
			}
			// A cut at a block's end would leave the bytes after it unjudged:
			// the cut is at most one line short of what came out.
			if de.Decompressed-sum.Bytes > int64(parser.MaxRecord) {
				t.Errorf("%d bytes decompressed, %d judged", de.Decompressed, sum.Bytes)
			}
			if tt.garbled {
				return
			}
			// What was judged is what the log's first sum.Bytes bytes give.
			wantSum, want, werr := scanWith(t, "openunison.log.2.gz", openWritten(t, "prefix.log", plain[:sum.Bytes]), nil)
			if werr != nil {
				t.Fatal(werr)
			}
			if !slices.Equal(got, want) || sum.Lines != wantSum.Lines || sum.Events[parser.KindTokenOK] != wantSum.Events[parser.KindTokenOK] {
				t.Errorf("alerts %q, lines %d, refreshes %d; want those of the log's first %d bytes: %q, %d, %d",
					got, sum.Lines, sum.Events[parser.KindTokenOK], sum.Bytes, want, wantSum.Lines, wantSum.Events[parser.KindTokenOK])
			}
		})
	}
}

// The formats graceguard does not decompress are named, and read as they
// are (the summary says how to decompress them).
func TestScanNamesCompressionItDoesNotRead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, head, format string }{
		{"xz", "\xfd7zXZ\x00\x00\x04", "xz"},
		{"lz4", "\x04\x22\x4d\x18\x64\x40", "lz4"},
		{"compress", "\x1f\x9d\x90", "compress (.Z)"},
		{"plain", "[2026-11-23 10:00:00,000][t] INFO  x - y\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum, _, err := scanWith(t, "x", openWritten(t, "x", []byte(tt.head)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if in := sum.Inputs[0]; in.Compression != tt.format || in.Decompressed {
				t.Errorf("input %+v: want compression %q, not decompressed", in, tt.format)
			}
		})
	}
}

// bzip2's magic is text ("BZh"): a plain log whose first line starts so (a
// line cut by copytruncate, a proxy's log whose first field is a host
// name) is a log, read as one, not a corrupt bzip2 file. Only the header
// bzip2 writes whole (BZh, a level digit, a block's or the stream's end's
// magic) makes one.
func TestScanOfAPlainLogThatStartsLikeBzip2(t *testing.T) {
	t.Parallel()
	plain, truth := generated(t, 1<<20, 3)
	if truth.Replays == 0 {
		t.Fatal("the log holds no replay: nothing for the alerts to show")
	}
	wantSum, want, err := scanWith(t, "openunison.log", openWritten(t, "plain.log", plain), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, first := range []string{"BZh", "BZh9", "BZh9 a line cut short", "BZh91AY&S but text"} {
		log := append([]byte(first+"\n"), plain...)
		for _, stream := range []bool{false, true} {
			var r io.Reader = openWritten(t, "openunison.log", log)
			if stream {
				r = bytes.NewReader(log)
			}
			sum, got, err := scanWith(t, "openunison.log", r, nil)
			if err != nil {
				t.Errorf("%q (stream %v): %v", first, stream, err)
				continue
			}
			if in := sum.Inputs[0]; in.Compression != "" || in.Decompressed {
				t.Errorf("%q (stream %v): input %+v, want it read as plain", first, stream, in)
			}
			// The first line is a record of its own, not OpenUnison's;
			// an alert's id, which holds where its lines are, moves with it.
			if sum.Records != wantSum.Records+1 || !slices.Equal(withoutIDs(got), withoutIDs(want)) {
				t.Errorf("%q (stream %v): %d records, alerts %q; want the log's %d records and one, alerts %q", first, stream, sum.Records, got, wantSum.Records, want)
			}
		}
	}
}

// withoutIDs is alerts as collected with their last field, the id, cut.
func withoutIDs(alerts []string) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a[:max(0, strings.LastIndexByte(a, ' '))]
	}
	return out
}
