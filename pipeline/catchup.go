package pipeline

// Catching up on a backlog at scan's pace. The follower hands a backlog on
// in large batches of whole lines; one goroutine pushing every line through
// the stream's assembler, classifying and parsing every record, is what
// made watch several times slower than scan. So the watcher takes a few
// batches ahead (lookahead), and workers on every core split a large batch
// of a plain log into records, classify them and parse the few that
// matter, as scan's block workers do (parser.SplitCandidates), while the
// watcher's goroutine judges the batch before. Batches stay in the
// follower's order; only the work on their bytes runs ahead.
//
// A batch is cut at line ends, not at record boundaries: the lines before
// its first record start continue the record the stream is assembling, and
// its last record may continue in the next batch. The watcher pushes those
// two ends through the stream's assembler as before, so a record is never
// split and the assembler's pending record (where a checkpoint resumes) is
// exactly what it would be without this stage. Only the records wholly
// inside the batch come pre-parsed. Anything else (a wrapped container log,
// a proxy's log, CRLF line ends, a small batch) takes the line path. The
// one difference, as between scan and the Scanner: a record over
// parser.MaxRecord inside a batch is cut at that many bytes, where the
// assembler drops the continuation lines that do not fit.

import (
	"bytes"
	"context"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/source"
)

// prepareMin is the smallest batch worth handing to a worker: a live file
// brings a few lines a poll, and those go the line path without waiting on
// another goroutine.
const prepareMin = 32 << 10

// prepared is a batch and, for a large batch of a plain log, what a worker
// made of the records wholly inside it.
type prepared struct {
	b    source.Batch
	done chan struct{} // closed once pre is set; nil when no worker looks
	// claimed: a worker, or the watcher itself (lookahead.help), took the
	// parse; the other passes.
	claimed atomic.Bool
	pre     *preparsed // nil: take the line path
}

// preparsed is a batch's data cut in three: data[:head] are the lines
// before the first record start, data[tail:] the last record; the records
// in between are split, and the candidates among them parsed.
type preparsed struct {
	head, tail int
	cands      []candidate
	stats      parser.BlockStats
	last       time.Time // the log time of the region's last record
	hasLast    bool
}

// candidate is a record that classification did not call other, parsed.
type candidate struct {
	ev   parser.Event // Offset is the source offset
	err  error
	at   time.Time // its log time, read as the line path reads it
	hasT bool
	line int64 // its first line's number within the region, from 1
}

// wait blocks until the worker is done with p.
func (p *prepared) wait() {
	if p.done != nil {
		<-p.done
	}
}

// closedChan is ready at once: a batch no worker looks at.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// lookahead is the batches the watcher has taken from the follower and not
// handled yet, in order, with workers parsing the large ones. It lives in
// Run's goroutine: a batch Run took is handled before Run returns, even
// when it is cancelled, as before there was a lookahead. Its length is
// bounded (aheadDepth), and so are the candidates it holds
// (aheadCandidates), so a backlog costs a few MiB whatever its size and
// whatever its lines.
type lookahead struct {
	queue []*prepared
	work  chan *prepared
	// spare holds the candidate slices of batches handled, for the workers
	// to fill again: growing a new one a batch was a good part of the
	// workers' garbage.
	spare chan []candidate
	// grown counts the candidate slices workers made, finding no spare.
	grown  atomic.Int64
	max    int
	min    int // the smallest batch handed to a worker
	loc    *time.Location
	closed bool
	// budget bounds what the queued batches are charged (held: the
	// candidates they are expected to make); 0: no bound.
	budget int
	// candPerMiB is the bytes of candidates the last batch parsed ahead
	// made per MiB of its data: what the next batches are charged.
	candPerMiB int
}

func (w *Watcher) newLookahead() *lookahead {
	workers := workerCount()
	// work has room for every batch the queue holds, so taking one never
	// waits for a worker.
	depth := w.opt.lookahead
	if depth <= 0 {
		depth = aheadDepth(workers)
	}
	l := &lookahead{work: make(chan *prepared, depth), spare: make(chan []candidate, depth), max: depth, min: w.opt.prepareMin, loc: w.opt.Location,
		budget: aheadCandidates, candPerMiB: denseCandidates}
	for range workers {
		go func() {
			for p := range l.work {
				if p.claimed.CompareAndSwap(false, true) {
					l.prepare(p)
					// The watcher, woken by the batch just parsed, waits
					// on this core until this goroutine blocks: with work
					// queued, a whole batch later. It is the serial part
					// of catching up, so it goes first.
					runtime.Gosched()
				}
			}
		}()
	}
	return l
}

// aheadDepth is how many batches the watcher takes ahead with workers
// parsing: twice the workers and two. The watcher only takes batches
// between two it handles, so the queue must hold what the workers parse
// while it handles one batch and the next: with a batch a worker, they
// ran dry while the follower's batches waited unparsed in the channel
// and a core sat idle. A few MiB still (a batch is a MiB at most).
func aheadDepth(workers int) int { return 2*workers + 2 }

// aheadCandidates is what the batches taken ahead may hold in candidates
// parsed from them; their data is bounded by aheadDepth (a batch is a MiB
// at most). A candidate (a parsed event) is 448 bytes, so a MiB of
// OpenUnison's usual log (one record in twenty a candidate) holds ~0.2 MiB
// of them and aheadDepth batches fit on any number of cores; a MiB of
// nothing but token requests (a flood of users) holds ~2-2.5 MiB (with
// the slice's room to grow), and three batches fit. Six of those ahead,
// with their spares, were ~30 MB of a 1,000,000-user flood's live heap:
// near watch's soft memory limit the collector then ran without a pause
// (~600 cycles in 13-15 s against ~70 in 3.3 s) and the peak RSS passed
// 128 MB. The judging of such a log is the serial part anyway; parsing it
// further ahead bought nothing. (A budget on data and candidates together
// kept a usual log under aheadDepth from five cores on.)
const aheadCandidates = 6 << 20

// denseCandidates is the candidates' bytes a MiB of log is charged before
// a batch of it has been parsed: a MiB of token requests' (one candidate
// every ~240 bytes, in a slice with a quarter's room to grow). A backlog
// of them then never starts with aheadDepth batches ahead; a usual one
// widens after its first batch.
const denseCandidates = candidateSize << 20 / 240 * 5 / 4

// candidateSize is a candidate's size in a candidate slice.
const candidateSize = int(unsafe.Sizeof(candidate{}))

// spareSlack is the room a spare candidate slice may have past four times
// what a MiB of the last batch made in candidates: a log with barely a
// candidate a MiB still keeps its few small slices.
const spareSlack = 64 << 10

// held is what the queued batches are charged, at the last batch's
// density: derived when asked, so a new density charges them all anew.
func (l *lookahead) held() int {
	n := 0
	for _, q := range l.queue {
		n += l.charge(len(q.b.Data))
	}
	return n
}

// charge is what a batch of n bytes is expected to hold in candidates once
// parsed.
func (l *lookahead) charge(n int) int { return n / 1024 * l.candPerMiB >> 10 }

// fits is how many batches of a MiB the budget holds at the last batch's
// density, at least one, at most max: as many spare candidate slices are
// worth keeping.
func (l *lookahead) fits() int {
	per := l.charge(1 << 20)
	if l.budget <= 0 || per == 0 {
		return l.max
	}
	return min(l.max, max(1, l.budget/per))
}

// prepare parses p ahead, on the goroutine that claimed it.
func (l *lookahead) prepare(p *prepared) {
	var cands []candidate
	select {
	case cands = <-l.spare:
	default:
		l.grown.Add(1)
	}
	p.pre = preparse(p.b.Data, p.b.Offset, l.loc, cands)
	close(p.done)
}

// help parses the first batch queued on the watcher's goroutine when no
// worker has started on it: the watcher needs it next and would only
// wait, for a worker woken and not yet running (a loaded machine runs a
// woken goroutine milliseconds late; another worker may be on the next
// batch meanwhile) or for a worker to come free.
func (l *lookahead) help() {
	if len(l.queue) == 0 {
		return
	}
	if p := l.queue[0]; p.done != nil && p.claimed.CompareAndSwap(false, true) {
		l.prepare(p)
	}
}

// idle lets the spare candidate slices go: a backlog of token lines grows
// them to a few MiB, which an idle watcher should not keep.
func (l *lookahead) idle() {
	for {
		select {
		case <-l.spare:
		default:
			return
		}
	}
}

// recycle gives a handled batch's data back to the follower, and its
// candidates for another batch: nothing the watcher keeps points into
// either (the assembler and the parser copy what they keep).
func (l *lookahead) recycle(p *prepared) {
	n := len(p.b.Data)
	source.Recycle(p.b.Data)
	p.b.Data = nil
	if p.pre == nil {
		return
	}
	// By the candidates' count, with a quarter's room to grow: the slice
	// may be a spare grown for another batch, and its capacity would have
	// a flood's density kept after the flood was over.
	l.candPerMiB = len(p.pre.cands) * candidateSize * 5 / 4 << 10 / max(n>>10, 1)
	clear(p.pre.cands) // the events' strings are garbage now
	// As many spares as the budget fits: the batches taken while this one
	// was judged are being parsed already, and a worker without a spare
	// grows a slice of its own (counting the queue's slices too cost a
	// usual log's catch-up ~10% of its CPU).
	// Not one grown at a density several times this batch's (a flood's,
	// with a usual log after it): the budget charges the batches it would
	// be filled for at theirs, and it held them over it several times.
	if len(l.spare) < l.fits() && cap(p.pre.cands)*candidateSize <= 4*l.candPerMiB+spareSlack {
		select {
		case l.spare <- p.pre.cands[:0]:
		default:
		}
	}
	p.pre = nil
}

// stop ends the workers once they finish what they hold.
func (l *lookahead) stop() { close(l.work) }

// from is in while another batch may be taken, else nil (never ready).
func (l *lookahead) from(in <-chan source.Batch) <-chan source.Batch {
	if l.closed || len(l.queue) >= l.max || (l.budget > 0 && len(l.queue) > 0 && l.held() >= l.budget) {
		return nil
	}
	return in
}

// take queues b, with a worker set to parse it when it is worth it.
func (l *lookahead) take(b source.Batch) {
	p := &prepared{b: b}
	if len(b.Data) >= l.min && b.Cursor == "" {
		p.done = make(chan struct{})
		l.work <- p
	}
	l.queue = append(l.queue, p)
}

// fill takes what the follower has ready, as far as there is room.
func (l *lookahead) fill(in <-chan source.Batch) {
	for c := l.from(in); c != nil; c = l.from(in) {
		select {
		case b, ok := <-c:
			if !ok {
				l.closed = true
				return
			}
			l.take(b)
		default:
			return
		}
	}
}

// ready is ready when the first batch queued can be handled; nil (never
// ready) when none is queued.
func (l *lookahead) ready() <-chan struct{} {
	if len(l.queue) == 0 {
		return nil
	}
	if p := l.queue[0]; p.done != nil {
		return p.done
	}
	return closedChan
}

// pop takes the first batch queued, or nil.
func (l *lookahead) pop() *prepared {
	if len(l.queue) == 0 {
		return nil
	}
	p := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	if len(l.queue) == 0 {
		l.queue = nil
	}
	return p
}

// next is the next batch to handle now: the first queued, else one the
// follower has ready; nil when there is none.
func (l *lookahead) next(in <-chan source.Batch) *prepared {
	if p := l.pop(); p != nil || l.closed {
		return p
	}
	select {
	case b, ok := <-in:
		if !ok {
			l.closed = true
			return nil
		}
		l.take(b)
		return l.pop()
	default:
		return nil
	}
}

// preparse cuts data (whole lines, at source offset base) around the
// records wholly inside it, and splits, classifies and parses those into
// cands (emptied, its array reused). It
// returns nil when data is not a plain log's or holds no such record.
func preparse(data []byte, base int64, loc *time.Location, cands []candidate) *preparsed {
	if bytes.IndexByte(data, '\r') >= 0 {
		// The line path drops each line's CR before the assembler joins
		// lines; the splitter would keep them inside records.
		return nil
	}
	head := firstRecordStart(data)
	if head < 0 || parser.DetectFormat(data[head:]) != parser.FormatPlain {
		return nil
	}
	tail := parser.LastRecordStart(data)
	if tail <= head {
		return nil
	}
	region := data[head:tail]
	p := &preparsed{head: head, tail: tail, cands: cands}
	p.stats = parser.SplitCandidates(region, func(rec []byte, _ parser.Kind, off int, line int64) {
		c := candidate{line: line}
		c.at, c.hasT = parser.RecordTime(rec, loc)
		c.ev, c.err = parser.Parse(rec, loc)
		c.ev.Offset = base + int64(head+off)
		p.cands = append(p.cands, c)
	})
	if i := parser.LastRecordStart(region); i >= 0 {
		p.last, p.hasLast = parser.RecordTime(region[i:], loc)
	} else {
		p.last, p.hasLast = parser.RecordTime(region, loc)
	}
	return p
}

// firstRecordStart is the offset of the first line of data that starts a
// record, or -1.
func firstRecordStart(data []byte) int {
	for pos := 0; pos < len(data); {
		if parser.IsRecordStart(data[pos:]) {
			return pos
		}
		nl := bytes.IndexByte(data[pos:], '\n')
		if nl < 0 {
			return -1
		}
		pos += nl + 1
	}
	return -1
}

// readPrepared is readLines for a batch a worker parsed: the lines before
// its first record start go through the assembler (they continue its
// record), then the records the worker parsed, then the last record through
// the assembler again, where it waits for its continuation lines.
func (w *Watcher) readPrepared(ctx context.Context, s *stream, b source.Batch, p *preparsed) error {
	lines, err := w.pushLines(ctx, s, b.Data[:p.head], b.Offset)
	if err != nil {
		return err
	}
	if !w.plainStream(s, b.Data[p.head:]) {
		n, err := w.pushLines(ctx, s, b.Data[p.head:], b.Offset+int64(p.head))
		w.endLines(s, b, lines+n)
		return err
	}
	w.parsedAhead++
	// The region starts with a record: the one being assembled is whole.
	if rec, ok := s.asm.Flush(false); ok {
		if err := w.record(ctx, s, rec); err != nil {
			return err
		}
	}
	first := s.line
	w.stats.Records += p.stats.Records
	w.stats.Cut += p.stats.Cut
	w.stats.Events[parser.KindOther] += p.stats.Records - int64(len(p.cands))
	for i := range p.cands {
		c := &p.cands[i]
		w.advanceClock(s, c.at, c.hasT)
		if err := w.event(ctx, s, &c.ev, c.err, first+c.line); err != nil {
			return err
		}
	}
	w.advanceClock(s, p.last, p.hasLast)
	s.line += p.stats.Lines
	n, err := w.pushLines(ctx, s, b.Data[p.tail:], b.Offset+int64(p.tail))
	w.endLines(s, b, lines+p.stats.Lines+n)
	return err
}

// plainStream reports whether s is a plain OpenUnison log, so that records
// are what the splitter finds (rest is what follows the batch's first
// record start; it decides for a stream whose assembler has seen nothing).
func (w *Watcher) plainStream(s *stream, rest []byte) bool {
	if s.proxy || s.asm.ProxyLog() {
		return false
	}
	switch s.asm.Format() {
	case parser.FormatPlain:
		return true
	case parser.FormatUnknown:
		return parser.DetectFormat(rest) == parser.FormatPlain
	}
	return false
}

// more says whether input is already waiting behind the batch being
// handled: taken ahead, or queued by the follower.
func (a *lookahead) more(in <-chan source.Batch) bool {
	return len(a.queue) > 0 || len(in) > 0
}
