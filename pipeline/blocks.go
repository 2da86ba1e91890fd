package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// blockSize is how much of a plain log one worker takes at a time. Large
// enough that the per-block overhead (a hand-off between goroutines) stays
// small, small enough that the blocks in flight stay a few MiB: they are
// most of a scan's memory, and each page of them is a page fault the first
// time it is filled. A block that holds no record start past its first
// byte grows to twice this size before it is split (see read).
const blockSize = 1 << 20

// blockSource cuts a plain log into blocks at record boundaries, read into
// pooled buffers (readBlocks) or sliced from a mapping of the file
// (mapBlocks), has workers on every core classify and parse them, and hands
// the events back in log order. The blocks in flight are bounded (the
// buffers, workers + 2; for a mapping, the channels between the stages),
// so memory stays flat whatever the file size.
type blockSource struct {
	counts  readerCounts
	loc     *time.Location
	ordered chan *blockJob
	stop    context.CancelFunc
	// done is the source's context's Done, and quit, when set, is closed
	// when judging failed: advance stops waiting for the next block then,
	// which a reader blocked on a stream that goes on may never send.
	done    <-chan struct{}
	quit    <-chan struct{}
	readErr error // set by the producer before it closes ordered
	// workErr is a worker's fault on a mapping (the file shrank), which
	// ends the source at the block it hit.
	workErr error
	// running counts the goroutines that may touch the blocks' bytes: a
	// mapping (unmap) or the read buffers (freeBuffers) are released only
	// once they have ended.
	running sync.WaitGroup
	unmap   func() error
	// freeBuffers, when set, unmaps the read buffers (hugeBuffers);
	// finish calls it once the reader and the workers have ended.
	freeBuffers func() error
	// readBytes counts what the producer handed on to the workers (read,
	// or sliced from a mapping); atomic so that abandon may take it while
	// a reader is still blocked in a read.
	readBytes atomic.Int64
	// abandonable: the input is a stream, whose reader may block for ever,
	// and nothing is freed under goroutines left running (the buffers are
	// the heap's, no mapping), so abandon need not wait.
	abandonable bool
	release     func(*blockJob) // by the worker, once it has parsed the block
	taken       func(*blockJob) // when set, by the consumer, in block order, once the block is parsed
	progress    *atomic.Int64
	cur         *blockResult
	i           int
	lineBase    int64
	stats       parser.Stats
	// lines says the log is a proxy's, whose records are its lines.
	lines bool
	// events holds the event slices of blocks no longer read, for the
	// workers to fill again: a block's events are a few hundred KB, and
	// growing a new slice for every block was most of a scan's garbage.
	events chan []parser.Event
}

type blockJob struct {
	data []byte
	base int64  // offset of data in the source
	buf  []byte // the pooled buffer, back to the pool once the block is parsed; data lives in it unless the block grew
	done chan *blockResult
	// past is the rest of the block's last record, cut at MaxRecord and
	// read past (parser.CutRest): its lines count with the block's, its
	// bytes follow data's in the source.
	past      parser.BlockStats
	pastBytes int64
}

type blockResult struct {
	job    *blockJob
	size   int // bytes in the block
	events []parser.Event
	kinds  [parser.NumKinds]int64
	addrs  AddressCounts
	stats  parser.BlockStats
	errs   []blockParseError
	err    error // the worker faulted on the block's bytes (see faultError)
}

type blockParseError struct {
	line int64
	err  error
}

func workerCount() int { return min(runtime.GOMAXPROCS(0), 8) }

func newBlockSource(ctx context.Context, counts readerCounts, loc *time.Location, progress *atomic.Int64) (*blockSource, context.Context, chan<- *blockJob) {
	ctx, cancel := context.WithCancel(ctx)
	workers := workerCount()
	s := &blockSource{counts: counts, loc: loc, ordered: make(chan *blockJob, workers+1), stop: cancel, done: ctx.Done(), progress: progress,
		// One slice per block alive at once: the buffers (workers + 2) and the
		// block being read, whose buffer is back in the pool already.
		events: make(chan []parser.Event, workers+3)}
	work := make(chan *blockJob, workers)
	s.running.Add(workers)
	for range workers {
		go s.work(work)
	}
	return s, ctx, work
}

// readBlocks starts a blockSource that reads r into bufs, carrying each
// block's unfinished record over to the next; finish frees bufs.
func readBlocks(ctx context.Context, counts readerCounts, r io.Reader, loc *time.Location, bufs blockBuffers, progress *atomic.Int64, lines bool) *blockSource {
	s, ctx, work := newBlockSource(ctx, counts, loc, progress)
	s.lines = lines
	s.freeBuffers = bufs.free
	pool := make(chan []byte, len(bufs.bufs))
	for _, b := range bufs.bufs {
		pool <- b
	}
	s.release = func(j *blockJob) { pool <- j.buf }
	// The reader writes into the buffers: finish frees them only once it
	// has ended too.
	s.running.Add(1)
	go s.read(ctx, r, pool, work, 2*bufs.size())
	return s
}

// read fills blocks from r, each cut after its last whole record. A record
// longer than a block would be split in two, and counted as two, where the
// Scanner sees one: a block holding no record start past its first byte
// is read on into a buffer of up to maxSize first, so every record of up
// to maxSize bytes stays whole. A longer one is cut at MaxRecord: its
// block is handed on as it is and the rest of the record read past
// (skipCut), never made blocks, lines and records of their own.
func (s *blockSource) read(ctx context.Context, r io.Reader, pool chan []byte, work chan<- *blockJob, maxSize int) {
	defer s.running.Done()
	defer close(s.ordered)
	defer close(work)
	maxSize = max(maxSize, minMaxSize)
	var carry []byte
	var base int64
	ended := false // r is at its end (skipCut read to it); carry is the rest
	fill := func(buf []byte, n int) (int, bool) {
		m, err := io.ReadFull(r, buf[n:])
		eof := err != nil
		if eof && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.readErr = err
		}
		return n + m, eof
	}
	for {
		var buf []byte
		select {
		case buf = <-pool:
		case <-ctx.Done():
			return
		}
		// A grown block still holds its pooled buffer until it is parsed,
		// so the pool keeps bounding the blocks in flight.
		data := buf
		if len(carry) >= len(buf) {
			// The rest of a long record: only a large block has room for it.
			data = make([]byte, maxSize)
		}
		n, eof := copy(data, carry), ended
		if !ended {
			n, eof = fill(data, n)
		}
		long := false // the block holds one record, longer than maxSize
		if !eof && len(data) < maxSize && s.noBoundary(data[:n]) {
			data = append(make([]byte, 0, maxSize), data[:n]...)[:maxSize]
			n, eof = fill(data, n)
			long = !eof && s.noBoundary(data[:n])
		} else if !eof && len(data) >= maxSize {
			long = s.noBoundary(data[:n])
		}
		cut := n
		job := &blockJob{base: base, buf: buf}
		switch {
		case long:
			// n bytes and no boundary: the record is cut in this block.
			var rest parser.CutRest
			cut, rest = parser.CutLong(data[:n], s.lines)
			carry, ended = s.skipCut(r, rest, data[cut:n], job, carry[:0])
		case !eof:
			cut = cutPoint(data[:n], s.lines)
		case s.readErr != nil:
			// Bytes a read error cut short are no line (an address or a
			// session id cut short would be another one): the input ends
			// at the last whole line, as the Scanner's does.
			cut = bytes.LastIndexByte(data[:n], '\n') + 1
		}
		if !long {
			carry = append(carry[:0], data[cut:n]...)
		}
		job.data = data[:cut]
		if !s.submit(ctx, work, job) {
			return
		}
		// Counted once handed on, as cut counts a mapping's blocks: bytes
		// a stopped scan had read into a block it never handed on are
		// what its caller's count of the stream holds beyond this one
		// (said as read and not judged), whichever side of a read the
		// stop fell.
		s.readBytes.Add(int64(cut) + job.pastBytes)
		base += int64(cut) + job.pastBytes
		if eof || ended && len(carry) == 0 {
			return
		}
	}
}

// minMaxSize is the least a block may grow to: the block holding a long
// record's start must hold all that is kept of it and a byte more to show
// it is cut, also without the few bytes CutLong may leave to read past.
const minMaxSize = parser.MaxRecord + parser.RecordStartLen

// skipCut reads r past the rest of the record cut in a block (see read),
// head (the block's bytes CutLong left) first, with rest; it counts them in
// job, and returns what it read beyond them (the next record's first
// bytes, the carry) in carry's array, and whether r ended. A stream's
// record may go on for long: only a small buffer is read into meanwhile.
func (s *blockSource) skipCut(r io.Reader, rest parser.CutRest, head []byte, job *blockJob, carry []byte) ([]byte, bool) {
	buf := make([]byte, 64<<10)
	kept := copy(buf, head)
	for {
		m, err := io.ReadFull(r, buf[kept:])
		m += kept
		eof := err != nil
		if eof && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			s.readErr = err
		}
		k, done := rest.Skip(buf[:m], eof)
		job.pastBytes += int64(k)
		if done || eof {
			job.past = rest.Stats
			return append(carry, buf[k:m]...), eof
		}
		kept = copy(buf, buf[k:m])
	}
}

// noBoundary reports whether a block holds no place to cut it past its
// first byte.
func (s *blockSource) noBoundary(b []byte) bool {
	if s.lines {
		return bytes.IndexByte(b, '\n') < 0
	}
	return parser.LastRecordStart(b) <= 0
}

// submit hands a block to the workers and queues it for in-order reading.
func (s *blockSource) submit(ctx context.Context, work chan<- *blockJob, job *blockJob) bool {
	job.done = make(chan *blockResult, 1)
	select {
	case work <- job:
	case <-ctx.Done():
		return false
	}
	select {
	case s.ordered <- job:
		return true
	case <-ctx.Done():
		return false
	}
}

// cutPoint is where a full block ends: the last record start, else the last
// line end (a record larger than a block, or any line of a proxy's log),
// else the whole block.
func cutPoint(b []byte, lines bool) int {
	if !lines {
		if i := parser.LastRecordStart(b); i > 0 {
			return i
		}
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return len(b)
}

func (s *blockSource) work(work <-chan *blockJob) {
	defer s.running.Done()
	job, ok := <-work
	if !ok {
		return
	}
	// A block of a mapped file: touching a page the file no longer has
	// must be an error, not a crash (see mapped.go). Only then: with read()
	// a fault is a bug, and must crash as one rather than read as a file
	// that shrank. unmap is set before the first job is sent, so it is
	// read after one came.
	if s.unmap != nil {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	}
	for ; ok; job, ok = <-work {
		res := &blockResult{job: job}
		select {
		case res.events = <-s.events:
		default:
			res.events = make([]parser.Event, 0, eventsHint(len(job.data)))
		}
		res.err = s.split(job, res)
		res.stats.Lines += job.past.Lines
		res.stats.FramingErrors += job.past.FramingErrors
		// The events own their bytes (Parse copies), so the buffer can be
		// read into again now, not once the consumer gets to the block: a
		// consumer running behind no longer holds up the reader and, with
		// it, the other worker.
		res.size = len(job.data) + int(job.pastBytes)
		s.release(job)
		job.data = nil
		job.done <- res
	}
}

// eventsPerMiB is the capacity a new block's event slice starts with, per
// MiB of block: about three times the events of the benchmark log (~350 a
// MiB: its 3% of token lines and as many logins). Growing a slice from empty by doubling
// allocated twice what it kept, for each of the slices alive at once, and
// every byte of it was a fresh page (a scan runs without the collector).
// Capacity never written is never touched, so starting large costs
// address space, not page faults; a denser log still grows past it.
const eventsPerMiB = 1024

func eventsHint(blockBytes int) int { return max(64, blockBytes*eventsPerMiB>>20) }

// split classifies the block's records and parses the candidates into res.
func (s *blockSource) split(job *blockJob, res *blockResult) (err error) {
	defer func() { err = faultError(recover()) }()
	c := readerCounts{}
	var candidates int64
	split := parser.SplitCandidates
	if s.lines {
		split = parser.SplitLines
	}
	res.stats = split(job.data, func(rec []byte, _ parser.Kind, off int, line int64) {
		// Noise never gets here, nor touches an Event: returning or
		// zeroing one per record (it is some 330 bytes) cost more than
		// classifying.
		candidates++
		// ParseInto overwrites the whole slot: no zero event to append.
		res.events = slices.Grow(res.events, 1)
		res.events = res.events[:len(res.events)+1]
		ev := &res.events[len(res.events)-1]
		if !parse(&c, ev, rec, s.loc, line) {
			res.events = res.events[:len(res.events)-1]
			return
		}
		ev.Offset = job.base + int64(off)
	})
	c.kinds[parser.KindOther] += res.stats.Records - candidates
	res.kinds = c.kinds
	res.addrs = c.addrs
	res.errs = c.errs
	return nil
}

func (s *blockSource) advance() bool {
	for s.cur == nil || s.i >= len(s.cur.events) {
		if s.cur != nil {
			// The consumer is done with the block's events (event's pointer
			// is valid until the next advance): recycle the slice. Stale
			// events past the next block's length keep a few old records
			// alive until overwritten; the pool bounds how many.
			select {
			case s.events <- s.cur.events[:0]:
			default:
			}
			s.cur = nil
		}
		var job *blockJob
		var ok bool
		select {
		case job, ok = <-s.ordered:
		case <-s.quit:
		case <-s.done:
		}
		if !ok {
			return false
		}
		res := <-job.done
		if s.taken != nil {
			s.taken(job)
		}
		if res.err != nil {
			// The rest of the file is gone: end here, as a failed read does.
			s.workErr = res.err
			s.stop()
			return false
		}
		s.take(res)
	}
	s.counts.stamp(&s.cur.events[s.i])
	s.i++
	return true
}

// take adds a finished block's counts, in log order, so parse errors get
// their line numbers in the whole file, and gives the block back.
func (s *blockSource) take(res *blockResult) {
	for k, n := range res.kinds {
		s.counts.kinds[k] += n
	}
	s.counts.addrs.merge(res.addrs)
	for _, e := range res.errs {
		s.counts.parseError(s.lineBase+e.line, e.err)
	}
	s.lineBase += res.stats.Lines
	s.stats.Lines += res.stats.Lines
	s.stats.Records += res.stats.Records
	s.stats.Cut += res.stats.Cut
	s.stats.FramingErrors += res.stats.FramingErrors
	s.counts.openUnison += res.stats.Headed
	if s.progress != nil {
		s.progress.Add(int64(res.size))
	}
	res.job = nil
	s.cur, s.i = res, 0
}

func (s *blockSource) event() *parser.Event { return &s.cur.events[s.i-1] }

func (s *blockSource) finish(sum *Summary) error {
	s.stop()
	for job := range s.ordered {
		// Drain what the producer already queued, so its goroutine ends.
		<-job.done
	}
	s.running.Wait()
	for _, free := range []func() error{s.unmap, s.freeBuffers} {
		if free == nil {
			continue
		}
		if err := free(); err != nil && s.readErr == nil {
			s.readErr = err
		}
	}
	s.addCounts(sum)
	if err := cmp.Or(s.workErr, s.readErr); err != nil {
		return &ReadError{Source: s.counts.name, Err: err}
	}
	return nil
}

// abandon ends the source of a scan that failed (an alert could not be
// written, the scan was interrupted) without waiting for its reader, which
// may be blocked reading a stream that never ends (kubectl logs -f): the
// failure would otherwise go unreported, and the scan would not exit,
// until the stream did. Only an abandonable source may be left so; its
// goroutines end once the read returns. Its read error, if one comes, is
// not reported: the scan's own error is.
func (s *blockSource) abandon(sum *Summary) {
	s.stop()
	go func() {
		for job := range s.ordered {
			<-job.done
		}
	}()
	s.addCounts(sum)
}

func (s *blockSource) addCounts(sum *Summary) {
	s.stats.Bytes += s.readBytes.Load()
	s.counts.proxyLog = s.lines
	sum.add(&s.counts, s.stats)
	sum.Formats[s.counts.name] = parser.FormatPlain
}
