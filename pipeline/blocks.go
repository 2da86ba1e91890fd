package pipeline

import (
	"context"
	"errors"
	"io"
	"runtime"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// blockSize is how much of a plain log one worker takes at a time. Large
// enough that the per-block overhead vanishes, small enough that the buffers
// in flight stay a few MiB.
const blockSize = 2 << 20

// blockSource reads a plain log in blocks cut at record boundaries, has
// workers on every core classify and parse them, and hands the events back
// in log order. The buffers in flight are bounded (workers + 2), so memory
// stays flat whatever the file size.
type blockSource struct {
	counts   readerCounts
	loc      *time.Location
	ordered  chan *blockJob
	stop     context.CancelFunc
	readErr  error // set by the reader before it closes ordered
	cur      *blockResult
	i        int
	lineBase int64
	stats    parser.Stats
}

type blockJob struct {
	buf  []byte
	n    int
	base int64
	done chan *blockResult
}

type blockResult struct {
	events []parser.Event
	kinds  [5]int64
	stats  parser.BlockStats
	errs   []blockParseError
}

type blockParseError struct {
	line int64
	err  error
}

func newBlockSource(ctx context.Context, counts readerCounts, r io.Reader, loc *time.Location) *blockSource {
	return newBlockSourceSize(ctx, counts, r, loc, blockSize)
}

func newBlockSourceSize(ctx context.Context, counts readerCounts, r io.Reader, loc *time.Location, size int) *blockSource {
	ctx, cancel := context.WithCancel(ctx)
	workers := min(runtime.GOMAXPROCS(0), 8)
	s := &blockSource{counts: counts, loc: loc, ordered: make(chan *blockJob, workers+1), stop: cancel}
	pool := make(chan []byte, workers+2)
	for range workers + 2 {
		pool <- make([]byte, size)
	}
	work := make(chan *blockJob, workers)
	for range workers {
		go s.work(work, pool)
	}
	go s.read(ctx, r, pool, work)
	return s
}

// read cuts r into blocks that end at a record boundary, carrying the
// unfinished record over to the next block.
func (s *blockSource) read(ctx context.Context, r io.Reader, pool chan []byte, work chan<- *blockJob) {
	defer close(s.ordered)
	defer close(work)
	var carry []byte
	var base int64
	for {
		var buf []byte
		select {
		case buf = <-pool:
		case <-ctx.Done():
			return
		}
		n := copy(buf, carry)
		m, err := io.ReadFull(r, buf[n:])
		n += m
		s.stats.Bytes += int64(m)
		eof := err != nil
		if eof && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.readErr = err
		}
		cut := n
		if !eof {
			cut = cutPoint(buf[:n])
		}
		carry = append(carry[:0], buf[cut:n]...)
		job := &blockJob{buf: buf, n: cut, base: base, done: make(chan *blockResult, 1)}
		base += int64(cut)
		select {
		case work <- job:
		case <-ctx.Done():
			return
		}
		select {
		case s.ordered <- job:
		case <-ctx.Done():
			return
		}
		if eof {
			return
		}
	}
}

// cutPoint is where a full block ends: the last record start, else the last
// line end (a record larger than a block), else the whole block.
func cutPoint(b []byte) int {
	if i := parser.LastRecordStart(b); i > 0 {
		return i
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return len(b)
}

func (s *blockSource) work(work <-chan *blockJob, pool chan<- []byte) {
	for job := range work {
		res := &blockResult{}
		c := readerCounts{}
		res.stats = parser.SplitRecords(job.buf[:job.n], func(rec []byte, off int, line int64) {
			ev, ok := classifyAndParse(&c, rec, s.loc, line)
			if ok {
				ev.Offset = job.base + int64(off)
				res.events = append(res.events, ev)
			}
		})
		res.kinds = c.kinds
		res.errs = c.errs
		pool <- job.buf
		job.done <- res
	}
}

func (s *blockSource) advance() bool {
	for s.cur == nil || s.i >= len(s.cur.events) {
		job, ok := <-s.ordered
		if !ok {
			return false
		}
		s.take(<-job.done)
	}
	s.cur.events[s.i].Source = s.counts.name
	s.i++
	return true
}

// take adds a finished block's counts, in log order, so parse errors get
// their line numbers in the whole file.
func (s *blockSource) take(res *blockResult) {
	for k, n := range res.kinds {
		s.counts.kinds[k] += n
	}
	for _, e := range res.errs {
		s.counts.parseError(s.lineBase+e.line, e.err)
	}
	s.lineBase += res.stats.Lines
	s.stats.Lines += res.stats.Lines
	s.stats.Records += res.stats.Records
	s.stats.Cut += res.stats.Cut
	s.cur, s.i = res, 0
}

func (s *blockSource) event() *parser.Event { return &s.cur.events[s.i-1] }

func (s *blockSource) finish(sum *Summary) error {
	s.stop()
	for job := range s.ordered {
		// Drain what the reader already queued, so its goroutine ends.
		<-job.done
	}
	sum.add(&s.counts, s.stats)
	sum.Formats[s.counts.name] = parser.FormatPlain
	if s.readErr != nil {
		return &ReadError{Source: s.counts.name, Err: s.readErr}
	}
	return nil
}
