package pipeline

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// Input is one source to scan: a file (one per replica) or stdin.
type Input struct {
	Name string
	R    io.Reader
}

// ScanOptions configure a batch scan.
type ScanOptions struct {
	Location   *time.Location // OpenUnison's zone; nil is UTC
	Rules      *rules.Set
	Limits     correlate.Limits
	PairWindow time.Duration
	Deliver    Deliver
	// ParseErrors receives the first few records that broke the grammar, as
	// "file:line:column: message", so a user can look at them.
	ParseErrors func(err error)
}

// maxReportedParseErrors caps the parse errors described one by one; all are counted.
const maxReportedParseErrors = 10

// Summary counts what a scan read and found.
type Summary struct {
	Bytes, Lines, Records, Cut, FramingErrors, ParseErrors int64
	Events                                                 map[parser.Kind]int64
	Alerts                                                 map[string]int64 // by rule
	RuleErrors                                             map[string]int64 // by rule
	Throttled                                              map[string]int64 // by rule
	Store                                                  correlate.MemoryStats
	Elapsed                                                time.Duration
	Formats                                                map[string]parser.Format // by input
}

// ReadError is a source that could not be read to its end; the scan went on
// with the others.
type ReadError struct {
	Source string
	Err    error
}

func (e *ReadError) Error() string { return fmt.Sprintf("read %s: %v", e.Source, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// Scan reads every input to its end and judges their events merged by time,
// so a refresh in one replica's log and its replay in another's meet. It
// returns the summary and, joined, the inputs that failed to read; the
// others are still scanned.
func Scan(ctx context.Context, inputs []Input, opt ScanOptions) (Summary, error) {
	start := time.Now()
	store := correlate.NewMemory(opt.Limits)
	det := NewDetector(store, opt.Rules, opt.PairWindow, opt.Deliver)
	sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
	readers := make([]*eventReader, len(inputs))
	for i, in := range inputs {
		readers[i] = newEventReader(ctx, in, opt.Location, &sum, opt.ParseErrors)
	}
	err := merge(ctx, readers, det)
	if err == nil {
		err = det.Flush(ctx)
	}
	var readErrs []error
	for _, r := range readers {
		st := r.sc.Stats()
		sum.Bytes += st.Bytes
		sum.Lines += st.Lines
		sum.Records += st.Records
		sum.Cut += st.Cut
		sum.FramingErrors += st.FramingErrors
		sum.Formats[r.name] = r.sc.Format()
		if r.sc.Err() != nil {
			readErrs = append(readErrs, &ReadError{Source: r.name, Err: r.sc.Err()})
		}
	}
	rs := det.RuleStats()
	sum.Alerts, sum.RuleErrors, sum.Throttled = rs.Alerts, rs.Errors, rs.Throttled
	sum.Store = store.Stats()
	sum.Elapsed = time.Since(start)
	if err != nil {
		return sum, err
	}
	return sum, errors.Join(readErrs...)
}

// eventReader yields the events of one input that correlation cares about,
// counting everything else. Classify keeps the noise at memory speed; only
// the few records that matter are parsed in full.
type eventReader struct {
	name        string
	sc          *parser.Scanner
	loc         *time.Location
	sum         *Summary
	onParseErr  func(error)
	reportedErr int
	next        parser.Event
	done        bool
}

func newEventReader(ctx context.Context, in Input, loc *time.Location, sum *Summary, onParseErr func(error)) *eventReader {
	return &eventReader{name: in.Name, sc: parser.NewScanner(ctxReader{ctx, in.R}), loc: loc, sum: sum, onParseErr: onParseErr}
}

// ctxReader stops a long read when the scan is cancelled (Ctrl-C). The
// check is per read of up to a MiB, so it costs nothing measurable.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// advance reads up to the next event worth correlating; false at the end.
func (r *eventReader) advance() bool {
	for r.sc.Scan() {
		rec := r.sc.Record()
		kind := parser.Classify(rec.Text)
		if kind == parser.KindOther {
			r.sum.Events[parser.KindOther]++
			continue
		}
		ev, err := parser.Parse(rec.Text, r.loc)
		if err != nil {
			r.parseError(rec, err)
			r.sum.Events[parser.KindOther]++
			continue
		}
		r.sum.Events[ev.Kind]++
		if ev.Kind == parser.KindOther {
			continue
		}
		ev.Source, ev.Offset = r.name, rec.Offset
		r.next = ev
		return true
	}
	r.done = true
	return false
}

func (r *eventReader) parseError(rec parser.Record, err error) {
	r.sum.ParseErrors++
	if r.onParseErr == nil || r.reportedErr >= maxReportedParseErrors {
		return
	}
	r.reportedErr++
	col := 1
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		col, err = se.Column, errors.New(se.Msg)
	}
	r.onParseErr(fmt.Errorf("%s:%d:%d: %w", r.name, rec.Line, col, err))
}

// merge feeds the detector the inputs' events in time order. Within one
// input the log's own order is kept (only the heads are compared).
func merge(ctx context.Context, readers []*eventReader, det *Detector) error {
	if len(readers) == 1 {
		r := readers[0]
		for r.advance() {
			if err := det.Observe(ctx, r.next); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	h := make(eventHeap, 0, len(readers))
	for i, r := range readers {
		if r.advance() {
			h = append(h, heapItem{r: r, idx: i})
		}
	}
	heap.Init(&h)
	for n := 0; h.Len() > 0; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		top := h[0]
		if err := det.Observe(ctx, top.r.next); err != nil {
			return err
		}
		if top.r.advance() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

type heapItem struct {
	r   *eventReader
	idx int
}

type eventHeap []heapItem

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	a, b := &h[i].r.next, &h[j].r.next
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return h[i].idx < h[j].idx
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(heapItem)) }
func (h *eventHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
