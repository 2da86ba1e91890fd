package pipeline

import (
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// A compressed input (logrotate's compress makes its generations gzip
// files, the kubelet gzips rotated container logs) is told by its first
// bytes, never by its name, and read through its decompressor as a
// stream: a mapping would hand the workers the compressed bytes. The
// summary's byte counts are the log's, decompressed; the bytes read of
// the file are counted apart (InputKind.CompressedBytes), and the
// progress bar, whose total is the files' sizes, counts those.
//
// gzip is klauspost/compress's: inflating bench/genlog's 100 MB log
// (gzip -6) took it 218-223 ms of CPU against the standard library's
// 268-315 ms, and the module is here for zstd anyway.

// compression is a compressed format told by its magic bytes.
type compression struct {
	name  string
	magic string
	// more, when set, is asked about the bytes after magic: a magic that
	// text may start with ("BZh") makes a compressed input only with the
	// rest of the header the compressor writes.
	more func(rest []byte) bool
	// open starts a decompressor of r; nil for a format graceguard does
	// not decompress, which is only named (the summary says how to
	// decompress it).
	open func(r io.Reader) (io.Reader, error)
}

// maxZstdWindow is the largest zstd window decompressed: zstd's own
// default limit (--memory=128MB). A window is memory allocated as the
// frame's header asks, and a few bytes could otherwise ask for gigabytes.
const maxZstdWindow = 128 << 20

var compressions = []compression{
	{name: "gzip", magic: "\x1f\x8b", open: func(r io.Reader) (io.Reader, error) {
		// Multistream (the default) reads the members gzip's own
		// concatenation makes (cat a.gz b.gz) as one stream, as zcat does.
		return gzip.NewReader(r)
	}},
	{name: "bzip2", magic: "BZh", more: bzip2Header, open: func(r io.Reader) (io.Reader, error) {
		return bzip2.NewReader(r), nil
	}},
	{name: "zstd", magic: "\x28\xb5\x2f\xfd", open: func(r io.Reader) (io.Reader, error) {
		// One block at a time, on the reader's goroutine: the block
		// workers already keep the cores busy, and a decoder of one
		// starts no goroutine, so it needs no Close, which a scan that
		// abandons a stream's reader could not call safely.
		return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
	}},
	// The Go decoder of xz at hand allocates whatever dictionary a
	// file's header asks for (up to 4 GiB): xz files are only named.
	{name: "xz", magic: "\xfd7zXZ\x00"},
	{name: "lz4", magic: "\x04\x22\x4d\x18"},
	{name: "compress (.Z)", magic: "\x1f\x9d"},
}

// compressionOf is the compression head starts with; nil for none.
func compressionOf(head []byte) *compression {
	for i := range compressions {
		c := &compressions[i]
		if rest, ok := bytes.CutPrefix(head, []byte(c.magic)); ok && (c.more == nil || c.more(rest)) {
			return c
		}
	}
	return nil
}

// bzip2Header reports whether rest, what follows "BZh", is the rest of a
// bzip2 stream's header: a block size digit, then the magic of a block or
// of the stream's end (an empty stream).
func bzip2Header(rest []byte) bool {
	if len(rest) < 7 || rest[0] < '1' || rest[0] > '9' {
		return false
	}
	magic := string(rest[1:7])
	return magic == "1AY&SY" || magic == "\x17\x72\x45\x38\x50\x90"
}

// DecompressError is a compressed input that could not be decompressed to
// its end: corrupt, or truncated (a copy cut short, a generation being
// compressed while it was read). Whatever came out before it was read and
// judged; Decompressed and Compressed say how far that was.
type DecompressError struct {
	Format string
	// Decompressed is the log's bytes the decompressor gave; Compressed
	// the file's bytes it had read by then.
	Decompressed, Compressed int64
	Err                      error
}

// errTruncated is a compressed stream that ends before its last block
// does. It stands for the decompressor's io.ErrUnexpectedEOF, which
// readers of plain input take for an input that merely ended.
var errTruncated = errors.New("the compressed data ends before its stream does (truncated)")

func (e *DecompressError) Error() string {
	// compress/gzip names its format in its errors ("gzip: invalid
	// checksum"): said once.
	msg := strings.TrimPrefix(e.Err.Error(), e.Format+": ")
	return fmt.Sprintf("%s: %s, after %d bytes of log decompressed from %d bytes of the file", e.Format, msg, e.Decompressed, e.Compressed)
}

func (e *DecompressError) Unwrap() error { return e.Err }

// decompressed reads an input through its decompressor, counting both
// sides. A decompressor's own failure becomes a DecompressError; an error
// of the input itself (a failed read, the scan's end) goes on as it is.
type decompressed struct {
	format string
	dec    io.Reader
	raw    *countedReader
	out    int64
	// decErr is the decompressor's error, once it failed to start or
	// read: it is said again on every later read.
	decErr error
}

// countedReader counts what r gave, into progress too when it is set, and
// keeps r's last error so a decompressor's error can be told from it.
type countedReader struct {
	r        io.Reader
	n        atomic.Int64 // read by the summary after the reader ended; atomic as an abandoned stream's reader may not have
	progress *atomic.Int64
	err      error
}

func (c *countedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.progress != nil && n > 0 {
		c.progress.Add(int64(n))
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// decompress starts reading r as c's stream; progress, when set, counts
// the compressed bytes read. A decompressor that cannot start (a header
// already corrupt) is the first read's error, so the input is an input
// that failed to read, named like any other.
func decompress(c *compression, r io.Reader, progress *atomic.Int64) *decompressed {
	d := &decompressed{format: c.name, raw: &countedReader{r: r, progress: progress}}
	dec, err := c.open(d.raw)
	if err != nil {
		d.decErr = d.failure(err)
		return d
	}
	d.dec = dec
	return d
}

func (d *decompressed) Read(p []byte) (int, error) {
	if d.decErr != nil {
		return 0, d.decErr
	}
	n, err := d.dec.Read(p)
	d.out += int64(n)
	if err != nil && err != io.EOF {
		err = d.failure(err)
		d.decErr = err
	}
	return n, err
}

// failure is what the decompressor's err means: the input's own read error
// when that is what it passed on, else a DecompressError.
func (d *decompressed) failure(err error) error {
	if d.raw.err != nil && errors.Is(err, d.raw.err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = errTruncated
	}
	return &DecompressError{Format: d.format, Decompressed: d.out, Compressed: d.raw.n.Load(), Err: err}
}
