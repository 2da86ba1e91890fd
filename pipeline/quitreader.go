package pipeline

import (
	"context"
	"errors"
	"io"
)

// errGivenUp ends the reading of a stream the scan has stopped judging.
var errGivenUp = errors.New("the scan stopped: the rest of the stream was not read")

// quitReader reads a stream (stdin from a pipe, a socket) that may never
// end on a goroutine of its own, so that a Read waiting for its next bytes
// can be given up when quit closes (the Detector failed: an alert could not
// be written) or the scan's context is done: the merge reads a stream in
// the container runtime's formats record by record, and without this a
// failed write of an alert would wait for the stream's next bytes to be
// reported. The goroutine left waiting in read(2) ends when the read
// returns. Regular files (what mappable takes) are not read through it:
// their reads end, and their read errors are reported as they are. The
// block reader, for plain logs, abandons its reader instead (blocks.go):
// this one's copy of every byte cost a piped 100 MB scan ~13%.
type quitReader struct {
	r    io.Reader
	ctx  context.Context
	quit <-chan struct{} // nil: only ctx
	// chunks hands over what the goroutine read; free hands buffers back:
	// two buffers, one being read into while the other is consumed.
	chunks  chan chunk
	free    chan []byte
	started bool
	cur     chunk
}

type chunk struct {
	buf []byte // a buffer from free; the bytes read are buf[off:n]
	off int
	n   int
	err error
}

// quitReadSize is one read of the stream: what a pipe holds by default.
const quitReadSize = 64 << 10

func newQuitReader(ctx context.Context, r io.Reader, quit <-chan struct{}) *quitReader {
	return &quitReader{r: r, ctx: ctx, quit: quit, chunks: make(chan chunk), free: make(chan []byte, 2)}
}

func (q *quitReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !q.started {
		q.started = true
		q.free <- make([]byte, quitReadSize)
		q.free <- make([]byte, quitReadSize)
		go q.run()
	}
	if q.cur.off == q.cur.n && q.cur.err == nil {
		if q.cur.buf != nil {
			q.free <- q.cur.buf
			q.cur.buf = nil
		}
		// Given up, the reader stays given up: cur.err says so from now on.
		select {
		case q.cur = <-q.chunks:
		case <-q.quit:
			q.cur = chunk{err: errGivenUp}
		case <-q.ctx.Done():
			q.cur = chunk{err: q.ctx.Err()}
		}
	}
	n := copy(p, q.cur.buf[q.cur.off:q.cur.n])
	q.cur.off += n
	if n == 0 && q.cur.err != nil {
		return 0, q.cur.err
	}
	return n, nil
}

// run reads until the stream ends or fails, or the reader is given up.
func (q *quitReader) run() {
	for {
		var buf []byte
		select {
		case buf = <-q.free:
		case <-q.quit:
			return
		case <-q.ctx.Done():
			return
		}
		n, err := q.r.Read(buf)
		select {
		case q.chunks <- chunk{buf: buf, n: n, err: err}:
		case <-q.quit:
			return
		case <-q.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}
