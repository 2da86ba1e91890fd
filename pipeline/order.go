package pipeline

// One order of events across sources, shared by scan's merge and watch's:
// by log time, and on a tie by what the event does, then by where it was
// logged, so the same files give the same alerts whatever order they are
// named or read in.

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// tieRank orders events of different sources logged in the same
// millisecond: what teaches the history (a refresh, a login) goes before
// what is judged against it (a grace reuse, a failure). A grace reuse means
// the token it presents was already rotated by a refresh, so when the two
// carry the same millisecond the refresh happened first; judging the reuse
// before it would compare the replaying address with a refresh older than
// the one that made the token stale.
func tieRank(k parser.Kind) int {
	switch k {
	case parser.KindTokenOK, parser.KindLogin:
		return 0
	}
	return 1
}

// eventOrder compares two events of different sources: time, then tieRank,
// then the source's name and the offset, which are stable for the same
// files whatever order they are given in. Two generations of one log carry
// its name (scan's logNames, watch's followed path): their records of one
// millisecond go by offset, then by file. Within one source the log's own
// order is kept by the callers, who only compare the heads of sources.
func eventOrder(a, b *parser.Event) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(tieRank(a.Kind), tieRank(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Offset, b.Offset); c != 0 {
		return c
	}
	return strings.Compare(a.SourceKey(), b.SourceKey())
}

// A watcher reading several sources merges their events as scan does, as
// they are read: each source's events wait in its queue, and the least head
// (eventOrder) goes on once no other source can still bring an earlier
// event. A source can when it is being read (not at its end) and has read
// no record at or after the head's time; at its end (idle) it stops holding
// the others back after idleSettle, in case its writer is a moment late. A
// backlog is so judged in log-time order however fast it is read, with no
// wall-clock wait for it to outrun.

// idleSettle is how long a source at its end still holds the others back:
// OpenUnison writes each line as it logs it, so a line stamped before what
// another replica logged and not yet written after this long is not coming.
// Its waiting refreshes may wait longer for their twins (twinWait); what
// is let go meanwhile meets them still waiting: a refresh or a reuse of
// the same user is ordered after them by the correlator, a login is not.
// A refused refresh is held the longer of the two (idleHold).
const idleSettle = 300 * time.Millisecond

// idleHold is how long a source at its end holds ev back. A refused
// refresh is judged against the chain moves other sources logged before
// it, and the correlator commits those first (Correlator.commitBefore)
// only once their own source's clock has settled them: held idleSettle
// alone, it would be judged before a quiet source's last refresh, or, were
// that committed for it, the refresh's late twin would find it taken for
// the user's refresh and the replay would raise nothing.
func (w *Watcher) idleHold(ev *parser.Event) time.Duration {
	if ev.Kind == parser.KindTokenFail {
		return max(idleSettle, w.twinWait())
	}
	return idleSettle
}

// minStall is the least time a source that sends nothing, not even its
// end, holds the others back, whatever the settle time: a follower reading
// a backlog on a loaded machine can take this long to send a batch.
const minStall = time.Second

// turnWait is how long a file holds the others back at most while the
// follower sends other files' batches and none of its own: one it cannot
// read (an error it retries) would otherwise hold them until maxQueued.
// The follower reads its files in turn, a batch each, so a file it reads
// comes round well within this unless a round of batches takes ten
// seconds.
const turnWait = 10 * time.Second

// maxQueued bounds the events waiting in the sources' queues; past it the
// least head goes on without waiting (counted with the held overflow).
const maxQueued = 50_000

// enqueue takes an event of s in s's log order and passes on what the merge
// lets go.
func (w *Watcher) enqueue(ctx context.Context, s *stream, ev *parser.Event) error {
	if s == nil {
		// Its source is not being read (an event attribution kept in a
		// checkpoint, from a file not reopened yet): no log order to keep.
		return w.pass(ctx, ev)
	}
	if w.queued == 0 && w.onlyStream(s) && !w.unseenMayPrecede(ev) {
		return w.pass(ctx, ev) // one source: nothing to merge with
	}
	s.queue = append(s.queue, *ev)
	w.queued++
	if w.queued > maxQueued {
		w.stats.HeldOverflow++
		if m := w.opt.Metrics; m != nil {
			m.HeldOverflow.Inc()
		}
		if err := w.passHead(ctx, w.leastHead()); err != nil {
			return err
		}
	}
	return w.drain(ctx, false)
}

// onlyStream reports whether s is the only source being read or merged.
func (w *Watcher) onlyStream(s *stream) bool {
	return len(w.ending) == 0 && len(w.streams) == 1 && w.streams[s.key] == s
}

// drain passes on, in order, the heads no source can still precede; all
// passes every queued event (the input ended).
func (w *Watcher) drain(ctx context.Context, all bool) error {
	return w.drainWith(ctx, all, false)
}

// releaseStalled is drain when no batch waits to be read: a source that
// stalled (a hung read, a follower stuck on it; see stalled) stops holding
// the others back. It is asked only while the input is empty, so a watcher
// slow to take batches does not take a source whose batch waits in the
// channel for a stalled one.
func (w *Watcher) releaseStalled(ctx context.Context) error {
	return w.drainWith(ctx, false, true)
}

func (w *Watcher) drainWith(ctx context.Context, all, stalls bool) error {
	if w.queued == 0 {
		return nil
	}
	now := w.opt.now()
	for w.queued > 0 {
		s := w.leastHead()
		if !all && w.mayPrecede(s, &s.queue[0], now, stalls) {
			break
		}
		if err := w.passHead(ctx, s); err != nil {
			return err
		}
	}
	w.pruneEnding()
	return nil
}

// leastHead returns the source whose next event comes first. A newer
// generation of a path is not among them while an older one has events
// queued (olderQueued).
func (w *Watcher) leastHead() *stream {
	var best *stream
	consider := func(s *stream) {
		if len(s.queue) > 0 && (best == nil || eventOrder(&s.queue[0], &best.queue[0]) < 0) && !s.olderQueued() {
			best = s
		}
	}
	for _, s := range w.streams {
		consider(s)
	}
	for _, s := range w.ending {
		consider(s)
	}
	return best
}

// olderQueued reports whether an older generation of s's path (a file
// rotated away, read after the one now at the path was opened) still has
// events waiting: the two are one log, whose lines OpenUnison wrote to the
// old file before the new one, on the same threads, so the old one's go
// first whatever their times and offsets. By eventOrder, lines of the
// two stamped in the same millisecond went by offset, the new file's
// first ones before the old one's last, and a replay's [AzSuccess] passed
// between another's [AzSuccess] and its reuse on the same thread was
// taken for a refresh: neither raised an alert. eventOrder compares only
// the heads of streams no older generation holds back, so the merge's
// order stays a total one. A generation that ended and has no event left
// is let go.
func (s *stream) olderQueued() bool {
	queued := false
	for o := s; o.older != nil; o = o.older {
		p := o.older
		if p.ended && len(p.queue) == 0 && p.older == nil {
			o.older = nil
			break
		}
		queued = queued || len(p.queue) > 0
	}
	return queued
}

// behindOf reports whether s is t or comes after t in t's chain of older
// generations: made older than t, it would make a cycle, which would
// keep both out of the merge for ever.
func (s *stream) behindOf(t *stream) bool {
	for o := s; o != nil; o = o.older {
		if o == t {
			return true
		}
	}
	return false
}

// mayPrecede reports whether a source other than s, with nothing queued,
// may still bring an event before ev: it has not read a record past ev's
// time (at ev's time it may yet log the refresh that ties with it) and it
// is being read (with stalls, it sent something within the settle time),
// or it reached its end less than idleHold ago.
func (w *Watcher) mayPrecede(s *stream, ev *parser.Event, now time.Time, stalls bool) bool {
	if w.unseenMayPrecede(ev) {
		return true
	}
	for _, o := range w.streams {
		// A proxy's log brings no events to merge (attribution waits for
		// its records on its own clock), and its clock moves only on token
		// requests: a busy ingress log would hold every alert back.
		if o == s || o.proxy || len(o.queue) > 0 || o.watermark.After(ev.Time) || w.waitsBehind(o) {
			continue
		}
		if o.idle {
			if now.Sub(o.idleSince) < w.idleHold(ev) {
				return true
			}
			continue
		}
		if !stalls || !w.stalled(o, now) {
			return true
		}
	}
	return false
}

// stalled reports whether o, being read, has sent nothing for so long that
// it no longer holds the others back: the settle time or minStall, the
// longer. A file waits longer while the follower sends other files'
// batches: it reads them in turn, a batch each, on one goroutine, so a
// file silent meanwhile is one it has not come round to (a slow disk, a
// loaded machine), not a hung read, which stops every file. Taken for one,
// another replica's reuses were judged before its refreshes, as scan does
// not (of four files caught up on, one with 1.5 MB unread went 463 ms
// without a batch on a loaded machine: half way to minStall). A source of
// its own (stdin, a container's log stream) says nothing of the others'.
func (w *Watcher) stalled(o *stream, now time.Time) bool {
	stall := max(w.opt.Settle, minStall)
	silent := now.Sub(o.lastBatch)
	if silent < stall {
		return false
	}
	return !o.file || now.Sub(w.filesAt) >= stall || silent >= max(stall, turnWait)
}

// waitsBehind reports whether o, not read yet, waits for an older
// generation of its path still being read: o's lines come after that
// one's, which stands in for it in the merge. Without it a restart with
// generations to read held every event of the oldest until the others had
// been announced a second (a stall), and the merge queue filled (50,000
// events in every checkpoint): catching up crawled.
func (w *Watcher) waitsBehind(o *stream) bool {
	return !o.read && o.behind != "" && w.streams[o.behind] != nil
}

func (w *Watcher) passHead(ctx context.Context, s *stream) error {
	// Passed where it lies, and cleared after: the array stays alive
	// through the pointer though the queue moved on (or was let go).
	ev := &s.queue[0]
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // let a backlog's array go
	}
	w.queued--
	err := w.pass(ctx, ev)
	*ev = parser.Event{}
	return err
}

// pruneEnding forgets ended sources whose events have all gone on.
func (w *Watcher) pruneEnding() {
	w.ending = slices.DeleteFunc(w.ending, func(s *stream) bool { return len(s.queue) == 0 })
}

// queuedEvents are the events waiting to be merged, for a checkpoint.
func (w *Watcher) queuedEvents() []parser.Event {
	var out []parser.Event
	for _, s := range w.streams {
		out = append(out, s.queue...)
	}
	for _, s := range w.ending {
		out = append(out, s.queue...)
	}
	return out
}
