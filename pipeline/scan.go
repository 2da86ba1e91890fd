package pipeline

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
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
	Location *time.Location // OpenUnison's zone; nil is UTC
	Rules    *rules.Set
	// LoadRules, when set, makes the rule set instead of Rules, on a
	// goroutine of its own started with the scan: compiling the rules
	// (~3 ms, a tenth of a 100 MB scan at grep's pace) overlaps the first
	// blocks instead of coming before them. The first event judged waits
	// for the set. Its error ends the scan before anything is judged and
	// is Scan's error, as returned.
	LoadRules  func() (*rules.Set, error)
	Limits     correlate.Limits
	PairWindow time.Duration
	Deliver    Deliver
	// ParseErrors receives the first few records that broke the grammar, as
	// "file:line:column: message", so a user can look at them.
	ParseErrors func(err error)
	// Progress, when set, counts the bytes analysed so far.
	Progress *atomic.Int64
	// Geo places addresses; nil runs without geo.
	Geo correlate.GeoLookup
	// Attribution configures the join of token events to proxy records
	// (known proxies, mappings, windows).
	Attribution attribute.Options
	// Observer, when set, sees every judged event with its alerts.
	Observer Observer

	// inlineDetect judges on the merging goroutine, as scan did before
	// detection got a goroutine of its own: the tests' reference.
	inlineDetect bool
	// detectBatch, above zero, is the events handed to that goroutine at
	// a time, for tests that cross many batches on small inputs.
	detectBatch int
	// reading picks how a regular file is read; the zero value leaves it
	// to the machine (mappingPays). Tests pin either way.
	reading fileReading
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
	// TokenAddrs counts the token endpoint's requests by their address.
	TokenAddrs AddressCounts
	// Attribution counts what the join of proxy records found.
	Attribution attribute.Stats
	// Correlation counts what correlation decided and what its bounds
	// dropped (RefusalsJudgedEarly: parked refusals past their cap).
	Correlation correlate.CorrelatorStats
	// Inputs says what each input turned out to be, in the order given.
	Inputs []InputKind
	// Interrupted: the scan's context ended before its inputs did (SIGINT,
	// SIGTERM); what was read after the last batch judged was not judged.
	Interrupted bool
}

// InputKind is what one input held.
type InputKind struct {
	Name string
	// OpenUnison counts records with OpenUnison's log4j2 header.
	OpenUnison int64
	// Proxy: the input is a proxy's access log; ProxyRecords counts its
	// token-endpoint requests.
	Proxy        bool
	ProxyRecords int64
	// Bytes is what was read of it as log: decompressed, if it was
	// compressed.
	Bytes int64
	// Compression names the compression its first bytes showed ("gzip",
	// "bzip2", "zstd", or one graceguard does not decompress: "xz",
	// "lz4", "compress (.Z)"); "" for none.
	Compression string
	// Decompressed: it was read through its decompressor, and
	// CompressedBytes is what was read of the file.
	Decompressed    bool
	CompressedBytes int64
}

// Judged reports whether any input held OpenUnison's records: without
// them nothing was judged, whatever the proxies' logs held.
func (s *Summary) Judged() bool {
	for _, in := range s.Inputs {
		if in.OpenUnison > 0 {
			return true
		}
	}
	return false
}

// RulesJudged reports whether the rules had anything to judge: OpenUnison's
// records alone are not enough. Its start-up lines (a log fetched just
// after a restart, or with its AccessLog filtered out) hold no token
// request, refusal or login, and "alerts none" after them would read like
// a clean bill of health where watch says "nothing was judged". Parse
// errors count as judged, as watch counts them: they were named, one by
// one.
func (s *Summary) RulesJudged() bool {
	if !s.Judged() {
		return false
	}
	if s.ParseErrors > 0 {
		return true
	}
	for k, n := range s.Events {
		if k != parser.KindOther && k != parser.KindProxy && n > 0 {
			return true
		}
	}
	return false
}

// AddressCounts tells whether addresses say anything about clients.
type AddressCounts struct {
	Private, Public int64
	// Distinct are the private addresses seen, in the order first seen
	// (the first is the diagnosis's example), up to maxDistinctPrivate+1:
	// a few addresses carrying many requests are proxies; as many
	// addresses as clients (in-cluster clients, a simulator on loopback)
	// are clients.
	Distinct []netip.Addr
}

// maxDistinctPrivate is the most private addresses that can still be a
// deployment's proxies (ingress controller or gateway pods).
const maxDistinctPrivate = 16

// proxyRequestsPerAddr is how many requests each private address must
// carry on average before they read as proxies rather than clients.
const proxyRequestsPerAddr = 4

func (c *AddressCounts) count(ev *parser.Event) {
	if ev.Kind != parser.KindTokenOK && ev.Kind != parser.KindTokenFail && ev.Kind != parser.KindGraceReuse {
		return
	}
	if !geo.IsPrivate(ev.IP) {
		c.Public++
		return
	}
	c.Private++
	c.addDistinct(ev.IP)
}

func (c *AddressCounts) addDistinct(a netip.Addr) {
	if len(c.Distinct) <= maxDistinctPrivate && !slices.Contains(c.Distinct, a) {
		c.Distinct = append(c.Distinct, a)
	}
}

// merge adds another reader's counts.
func (c *AddressCounts) merge(o AddressCounts) {
	c.Private += o.Private
	c.Public += o.Public
	for _, a := range o.Distinct {
		c.addDistinct(a)
	}
}

// BehindProxy reports whether every token request came through a few
// private addresses: OpenUnison logs the TCP peer, so behind an ingress
// controller it logs the ingress pods, and every address rule is blind.
func (c AddressCounts) BehindProxy() bool {
	n := int64(len(c.Distinct))
	return c.Public == 0 && c.Private > 0 && n <= maxDistinctPrivate && c.Private >= proxyRequestsPerAddr*n
}

// ProxyDiagnosis says what BehindProxy means and what to give graceguard.
func (c AddressCounts) ProxyDiagnosis() string {
	return fmt.Sprintf("every token-endpoint request came through %d private %s (%d requests, e.g. %s): OpenUnison logs "+
		"the TCP peer, so behind an ingress controller or a mesh it logs the proxy, and address rules cannot tell a replay "+
		"from a race. Give graceguard the proxy's access log as well (README, \"Behind an ingress or a mesh\"), "+
		"or name the proxies with --proxies so they are never judged as clients.",
		len(c.Distinct), map[bool]string{true: "address", false: "addresses"}[len(c.Distinct) == 1], c.Private, c.Distinct[0])
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
	late := loadRulesLate(opt.LoadRules)
	set := opt.Rules
	if late != nil {
		set = &rules.Set{} // until late's are compiled: nothing is judged before
	}
	det := NewDetector(store, set, opt.PairWindow, opt.Deliver)
	det.UseGeo(opt.Geo)
	det.SetObserver(opt.Observer)
	ready := func() error { return late.install(det) }
	sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
	// The Detector's stage starts before the inputs are opened: a stream's
	// reading is given up when it fails (quitReader).
	var stage *detectStage
	var judgingFailed <-chan struct{}
	if !opt.inlineDetect {
		stage = startDetect(ctx, det, opt.detectBatch, ready)
		judgingFailed = stage.failed
	}
	sources := make([]eventSource, len(inputs))
	real := realPaths(inputs)
	logs := logNames(inputs, real)
	for i, in := range inputs {
		sources[i] = openSource(ctx, in, logs[i], &opt, judgingFailed)
	}
	unnamed := unnamedLogs(inputs, logs, real)
	attr := attribute.New(opt.Attribution)
	var err error
	if opt.inlineDetect {
		if err = ready(); err == nil {
			err = mergeJoining(ctx, sources, unnamed, attributed(attr, func(ev *parser.Event) error { return det.Observe(ctx, ev) }))
		}
	} else {
		err = mergeJoining(ctx, sources, unnamed, attributed(attr, stage.observe))
		if serr := stage.stop(err == nil); err == nil {
			err = serr
		}
	}
	if lerr := late.failed(); lerr != nil {
		err = lerr
	}
	if err == nil {
		err = det.Flush(ctx)
	}
	sum.Attribution = attr.Stats()
	var readErrs []error
	for _, src := range sources {
		if b, ok := src.(*blockSource); ok && err != nil && b.abandonable {
			b.abandon(&sum)
			continue
		}
		if rerr := src.finish(&sum); rerr != nil {
			readErrs = append(readErrs, rerr)
		}
	}
	rs := det.RuleStats()
	sum.Alerts, sum.RuleErrors, sum.Throttled = rs.Alerts, rs.Errors, rs.Throttled
	sum.Store = store.Stats()
	sum.Correlation = det.CorrelatorStats()
	sum.Elapsed = time.Since(start)
	sum.Interrupted = ctx.Err() != nil
	if err != nil {
		return sum, err
	}
	return sum, errors.Join(readErrs...)
}

// readerCounts are one input's counts and first parse errors.
type readerCounts struct {
	name string
	// log is the Source the input's events carry (logNames): its name, or
	// the name of the log it is a rotated generation of.
	log string
	// openUnison counts the records with a log4j2 header; proxyLog says
	// the input is a proxy's access log. An input with neither is no log
	// graceguard reads, and the summary says so.
	openUnison  int64
	proxyLog    bool
	kinds       [parser.NumKinds]int64 // by parser.Kind
	addrs       AddressCounts
	parseErrors int64
	onParseErr  func(error)
	reported    int
	errs        []blockParseError // collected instead of reported, in a block worker

	// compression is what the input's first bytes showed, and
	// decompressed, when set, the reader that decompressed it.
	compression  string
	decompressed *decompressed
}

// stamp names ev's input: its Source is the log, its File the file where
// the two differ.
func (c *readerCounts) stamp(ev *parser.Event) {
	ev.Source = c.log
	if c.log != c.name {
		ev.File = c.name
	}
}

func (c *readerCounts) parseError(line int64, err error) {
	if c.name == "" {
		// A block worker: the reader reports it in order, with the file's line number.
		if len(c.errs) < maxReportedParseErrors {
			c.errs = append(c.errs, blockParseError{line: line, err: err})
		} else {
			c.errs = append(c.errs, blockParseError{line: line})
		}
		return
	}
	c.parseErrors++
	if err == nil || c.onParseErr == nil || c.reported >= maxReportedParseErrors {
		return
	}
	c.reported++
	col := 1
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		col, err = se.Column, errors.New(se.Msg)
	}
	c.onParseErr(fmt.Errorf("%s:%d:%d: %w", c.name, line, col, err))
}

// eventSource yields the events of one input that correlation cares about,
// counting everything else.
type eventSource interface {
	// advance reads up to the next event worth correlating; false at the end.
	advance() bool
	// event is the event advance found.
	event() *parser.Event
	// finish adds the input's counts to sum and returns its read error.
	finish(sum *Summary) error
}

// openSource picks the fast block-parallel reader for plain logs and the
// Scanner (which unwraps CRI and docker lines) for everything else. Either
// stops reading an input that is no regular file (a stream may never end)
// when judgingFailed closes or ctx ends.
func openSource(ctx context.Context, in Input, log string, opt *ScanOptions, judgingFailed <-chan struct{}) eventSource {
	counts := readerCounts{name: in.Name, log: log, onParseErr: opt.ParseErrors}
	// Asked before the head is read, which moves the file's offset.
	f, size, canMap := mappable(in.R)
	// stream: the input may never end (what is no regular file read from
	// its start is taken for one, as before compressed inputs were read).
	stream := !canMap
	raw := in.R
	r := io.Reader(ctxReader{ctx, raw})
	progress := opt.Progress
	head, err := readHead(ctx, r, stream, judgingFailed)
	if c := compressionOf(head); c != nil && (err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		counts.compression = c.name
		if c.open != nil {
			// The decompressed log is read as a stream, never mapped; the
			// progress bar counts the file's bytes read, as its total does.
			d := decompress(c, io.MultiReader(bytes.NewReader(head), r), opt.Progress)
			counts.decompressed = d
			canMap, progress = false, nil
			// The log's reads see a stop, not only the file's: a few
			// kilobytes, all of them in head, may decompress to
			// gigabytes the file's reader is never asked about.
			raw, r = d, ctxReader{ctx, d}
			head, err = readHead(ctx, r, stream, judgingFailed)
		}
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return &scannerSource{readerCounts: counts, loc: opt.Location, sc: parser.NewScanner(io.MultiReader(bytes.NewReader(head), errReader{err})), progress: progress}
	}
	rest := io.MultiReader(bytes.NewReader(head), r)
	if parser.DetectFormat(head) == parser.FormatPlain {
		// A proxy's access log is plain too, its lines records of their
		// own: the same block reader splits it by lines.
		lines := parser.IsProxyLog(head)
		if canMap && opt.reading.maps() {
			// read() is the fallback: a mapping that fails costs nothing.
			if m, err := mapFile(f, size); err == nil {
				return mapBlocks(ctx, counts, m, opt.Location, blockSize, progress, lines)
			}
		}
		// A compressed file's log is larger than the file: its size is
		// still enough to tell that the buffers will all be filled.
		b := readBlocks(ctx, counts, rest, opt.Location, buffersFor(size), progress, lines)
		// A file ends; what is not one (stdin from a pipe) may not. Its
		// reader is abandoned, not waited for, when judging fails: a
		// quitReader's copy would cost a piped scan ~13%.
		b.abandonable = stream && b.freeBuffers == nil
		b.quit = judgingFailed
		return b
	}
	if stream {
		rest = io.MultiReader(bytes.NewReader(head), newQuitReader(ctx, raw, judgingFailed))
	}
	return &scannerSource{readerCounts: counts, loc: opt.Location, sc: parser.NewScanner(rest), progress: progress}
}

// headSize is how much of an input is read to tell its format.
const headSize = 64 << 10

// readHead reads the first headSize bytes of r (fewer at its end). A
// stream's (stream: not a regular file) read may wait for ever for bytes
// that never come (a writer that stops without closing, kubectl logs -f
// gone quiet): it is given up when ctx is done or quit closes, where
// SIGTERM used to wait for the writer. The goroutine left in read(2) ends
// with the process; nothing reads the input after a give-up.
func readHead(ctx context.Context, r io.Reader, stream bool, quit <-chan struct{}) ([]byte, error) {
	head := make([]byte, headSize)
	if !stream {
		n, err := io.ReadFull(r, head)
		return head[:n], err
	}
	type read struct {
		n   int
		err error
	}
	done := make(chan read, 1)
	go func() {
		n, err := io.ReadFull(r, head)
		done <- read{n, err}
	}()
	select {
	case got := <-done:
		return head[:got.n], got.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-quit:
		return nil, errGivenUp
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// scannerSource reads records one by one with a parser.Scanner.
type scannerSource struct {
	readerCounts
	sc       *parser.Scanner
	loc      *time.Location
	next     parser.Event
	progress *atomic.Int64
	reported int64
}

func (s *scannerSource) advance() bool {
	for s.sc.Scan() {
		rec := s.sc.Record()
		if parser.IsRecordStart(rec.Text) {
			s.openUnison++
		}
		if s.progress != nil && rec.Offset-s.reported > 1<<20 {
			s.progress.Add(rec.Offset - s.reported)
			s.reported = rec.Offset
		}
		ev, ok := classifyAndParse(&s.readerCounts, rec.Text, s.loc, rec.Line)
		if ok {
			ev.Offset = rec.Offset
			s.stamp(&ev)
			s.next = ev
			return true
		}
	}
	return false
}

func (s *scannerSource) event() *parser.Event { return &s.next }

func (s *scannerSource) finish(sum *Summary) error {
	st := s.sc.Stats()
	s.proxyLog = s.proxyLog || s.sc.ProxyLog()
	sum.add(&s.readerCounts, st)
	sum.Formats[s.name] = s.sc.Format()
	if err := s.sc.Err(); err != nil {
		return &ReadError{Source: s.name, Err: err}
	}
	return nil
}

// classifyAndParse keeps the noise at memory speed: Classify rejects it
// without allocating, and only the few records that matter are parsed.
func classifyAndParse(c *readerCounts, rec []byte, loc *time.Location, line int64) (parser.Event, bool) {
	if parser.Classify(rec) == parser.KindOther {
		c.kinds[parser.KindOther]++
		return parser.Event{}, false
	}
	var ev parser.Event
	ok := parse(c, &ev, rec, loc, line)
	return ev, ok
}

// parse fills ev from rec and counts it; false when the record is not worth
// correlating (it broke the grammar or is of kind other after all).
func parse(c *readerCounts, ev *parser.Event, rec []byte, loc *time.Location, line int64) bool {
	err := parser.ParseInto(ev, rec, loc)
	if err != nil {
		c.parseError(line, err)
	}
	c.kinds[ev.Kind]++
	if err == nil {
		c.addrs.count(ev)
	}
	return err == nil && ev.Kind != parser.KindOther
}

func (s *Summary) add(c *readerCounts, st parser.Stats) {
	in := InputKind{Name: c.name, OpenUnison: c.openUnison, Proxy: c.proxyLog,
		ProxyRecords: c.kinds[parser.KindProxy], Bytes: st.Bytes, Compression: c.compression}
	if c.decompressed != nil {
		in.Decompressed, in.CompressedBytes = true, c.decompressed.raw.n.Load()
	}
	s.Inputs = append(s.Inputs, in)
	s.Bytes += st.Bytes
	s.Lines += st.Lines
	s.Records += st.Records
	s.Cut += st.Cut
	s.FramingErrors += st.FramingErrors
	s.ParseErrors += c.parseErrors
	s.TokenAddrs.merge(c.addrs)
	for k, n := range c.kinds {
		s.Events[parser.Kind(k)] += n
	}
}

// observer takes the merged events; expect says proxy logs are among the
// inputs, end says there are no more events.
type observer struct {
	observe func(ctx context.Context, ev *parser.Event) error
	expect  func()
	end     func(ctx context.Context) error
}

// attributed passes every event through attr before next, on the merged
// log clock: the inputs are read in time order, so every proxy record a
// token event can join has been read once the clock is Window past it.
// Until a proxy log shows itself nothing waits, and attr.Pass attributes
// each event in place.
func attributed(attr *attribute.Attributor, next func(*parser.Event) error) observer {
	var out []parser.Event
	feed := func() error {
		for i := range out {
			if err := next(&out[i]); err != nil {
				return err
			}
		}
		clear(out)
		out = out[:0]
		return nil
	}
	return observer{
		observe: func(_ context.Context, ev *parser.Event) error {
			if attr.Pass(ev, ev.Time) {
				return next(ev)
			}
			attr.Push(*ev, time.Time{})
			now := ev.Time
			out = attr.Release(out, func(string) time.Time { return now }, time.Time{})
			return feed()
		},
		expect: attr.ExpectProxies,
		end: func(context.Context) error {
			out = attr.Flush(out)
			return feed()
		},
	}
}

// merge feeds the observer the inputs' events in time order (eventOrder),
// the same whatever order the inputs were named in. Within one input the
// log's own order is kept (only the heads are compared).
func merge(ctx context.Context, sources []eventSource, obs observer) error {
	return mergeJoining(ctx, sources, nil, obs)
}

// mergeJoining is merge, naming the events of logs' members as the log's
// where they join it (joiner).
func mergeJoining(ctx context.Context, sources []eventSource, logs []unnamedLog, obs observer) error {
	j := newJoiner(len(sources), logs)
	h := eventHeap{join: j}
	for i, src := range sources {
		if src.advance() {
			h.items = append(h.items, heapItem{src: src, idx: i})
			if src.event().Kind == parser.KindProxy {
				obs.expect()
			}
		} else {
			j.end(i)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		at := h.next()
		it := h.items[at]
		ev := it.src.event()
		j.name(it.idx, ev)
		if err := obs.observe(ctx, ev); err != nil {
			return err
		}
		if it.src.advance() {
			heap.Fix(&h, at)
		} else {
			j.end(it.idx)
			heap.Remove(&h, at)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return obs.end(ctx)
}

type heapItem struct {
	src eventSource
	idx int
}

type eventHeap struct {
	items []heapItem
	join  *joiner
}

// next is the place in the heap of the event the merge takes next: its
// least, unless that is the first event of a log's member not yet joined
// (joiner) while the member under the log's name has an event of the same
// millisecond still to come. That one goes first, as the log wrote them,
// whatever their kinds: the member may end with it, and the next join it.
// Not in Less: an order between two members alone, beside eventOrder's
// for the other inputs, is no order among three heads of one millisecond,
// and the heap's answer would hang on the order the inputs were named in.
func (h *eventHeap) next() int {
	top := h.items[0]
	r := h.join.running(top.idx)
	if r < 0 {
		return 0
	}
	t := top.src.event().Time
	for at, it := range h.items {
		if it.idx == r && it.src.event().Time.Equal(t) {
			return at
		}
	}
	return 0
}

func (h *eventHeap) Len() int { return len(h.items) }
func (h *eventHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if c := eventOrder(a.src.event(), b.src.event()); c != 0 {
		return c < 0
	}
	return a.idx < b.idx // the same name twice (stdin)
}
func (h *eventHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *eventHeap) Push(x any)    { h.items = append(h.items, x.(heapItem)) }
func (h *eventHeap) Pop() any {
	old := h.items
	it := old[len(old)-1]
	h.items = old[:len(old)-1]
	return it
}

// ctxReader stops a long read when the scan is cancelled (Ctrl-C). The
// check is per read of up to a few MiB, so it costs nothing measurable.
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
