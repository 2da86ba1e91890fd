package pipeline

// What waits, and for how long: every event waits until the other sources
// have been read past it (order.go), so a refresh another replica logged
// reaches the history first; with a shared store a grace reuse then waits
// the settle time for the other watchers' refreshes, and the same user's
// later events wait behind it; and a source's refreshes wait for their own
// log to show they are not half of a grace reuse.

import (
	"context"
	"slices"
	"time"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/source"
)

// heldEvent is an event held back, and when it arrived.
type heldEvent struct {
	ev      parser.Event
	arrived time.Time
}

// quietCommit is how long a source stays quiet before the refreshes it has
// waiting for a possible grace-reuse twin are committed, with a shared
// store: OpenUnison writes the twin microseconds after the refresh, and the
// next line may be hours away, while the other watchers sharing a store
// need the refresh now (their settle time is sized by it).
const quietCommit = 300 * time.Millisecond

// lateTwinWait is quietCommit without a shared store. Microseconds apart
// in the log, a refresh and its twin can still reach a watcher apart: the
// JVM paused between the two writes, a chunk of a pod-log stream ended
// between them. A twin read after its refresh was committed met a history
// that had learned the replayer's address from it, and the replay raised
// nothing (a 500 ms gap lost it at 300 ms). Nothing else waits for the
// commit here but the refresh's own alerts (refresh-travel), which a
// second still brings in time, and the events of other sources that the
// merge lets go meanwhile: the correlator orders a reuse after the same
// user's waiting refreshes itself (Correlator.release), and the merge
// holds a refused refresh as long as the refreshes wait (idleHold).
const lateTwinWait = time.Second

// twinWait is how long a quiet source's last refresh waits for its twin.
func (w *Watcher) twinWait() time.Duration {
	if w.opt.Shared {
		return quietCommit
	}
	return lateTwinWait
}

// sharedPairWindow is the pair window with a shared store. A refresh is
// committed to the store only once its own log has moved this far past it
// (or gone quiet for quietCommit), and the other watchers judge a replay
// after their settle time, so the window must be well inside that; the
// twin it waits for is written microseconds after the refresh.
const sharedPairWindow = 250 * time.Millisecond

// settleMargin is what a refresh needs beyond its pair window to reach a
// shared store: polling, a tick, the flush.
const settleMargin = 250 * time.Millisecond

// farFuture is the clock of a source that will bring no more lines soon.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// sourceClock is how far a source's events have gone on past the merge
// (judgedClock, which the correlator expires a waiting refresh by, adds
// what attribution holds): up to the first event still queued for the
// merge (order.go), else the newest record read, or the far future once
// the source has been quiet for twinWait or has ended. Its read position would be too far: a refresh's grace-reuse twin
// may be read and still queued. The correlator names a source by its
// identity (stream.sourceID, the events' SourceID), as a rotated file being
// drained shares its path with the new one; attribution names proxy logs
// by path.
func (w *Watcher) sourceClock(id string) (time.Time, bool) {
	named := func(s *stream) bool { return s.sourceID == id || s.path == id }
	for _, s := range w.ending {
		if named(s) && len(s.queue) > 0 {
			return s.queue[0].Time, true
		}
	}
	streams := w.named.of(id)
	if len(streams) == 0 {
		if t, ok := w.restoredUnseen(id); ok {
			return t, true
		}
		return farFuture, true
	}
	// Of several so named (generations of one path, or a copytruncate's
	// copies read under the inode of the file at the path), the least: the
	// name does not say which of them a waiting refresh was read from, and
	// an idle file at the path must not end the wait of a copy's refresh.
	clock := farFuture
	for _, s := range streams {
		c := s.watermark
		switch {
		case len(s.queue) > 0:
			c = s.queue[0].Time
		case s.idle && w.opt.now().Sub(s.idleSince) >= w.twinWait():
			c = farFuture
		}
		if c.Before(clock) {
			clock = c
		}
	}
	return clock, true
}

// judgedClock is sourceClock for the correlator, which expires a refresh
// waiting for its grace-reuse twin by it: a source's events attribution
// still holds have not gone on to the correlator either. A reuse logged a
// millisecond after its [AzSuccess] twin can be held there after the twin
// went on (a log's clock, which releases them, can stand between the two,
// as nginx's whole seconds do); by the source's read clock alone a tick
// then took the twin for the user's refresh, from the replayer's address,
// and the reuse met no twin. Attribution's own wait goes by sourceClock:
// how far a log has been read, whatever waits for it.
func (w *Watcher) judgedClock(id string) (time.Time, bool) {
	t, ok := w.sourceClock(id)
	if held, ok2 := w.attr.HeldBefore(id, t); ok2 {
		return held, ok
	}
	return t, ok
}

// restoredWait bounds how long a file the checkpoint left events of, not
// read yet this run, holds the merge and its waiting refreshes: a
// generation deleted while watch was down never comes back.
const restoredWait = 10 * time.Second

// noteUnseen notes, for restoredUnseen, the files a checkpoint names whose
// events it kept waiting (refreshes waiting for a twin, events waiting in
// the merge), each with the newest such event's time: how far it was read.
func (w *Watcher) noteUnseen(positions []source.Position, kept ...[]parser.Event) {
	named := map[string]bool{}
	for _, p := range positions {
		named[sourceIDOf(p.Path, p.ID, p.Cursor)] = true
	}
	w.unseen = map[string]time.Time{}
	for _, evs := range kept {
		for i := range evs {
			id := evs[i].SourceKey()
			if named[id] && evs[i].Time.After(w.unseen[id]) {
				w.unseen[id] = evs[i].Time
			}
		}
	}
}

// restoredUnseen says whether id is a file the checkpoint kept events of
// and this run has not read yet (for restoredWait at most), and how far it
// had been read: its lines after that are still to be read again, such as
// the reuse line a refresh's twin waits for. Taken as ended, another file
// read first (the one now at the path, after a rotation) committed the
// twin as a refresh from the thief's address, by its clock or by logging
// on the same thread, and the reuse read again raised nothing.
func (w *Watcher) restoredUnseen(id string) (time.Time, bool) {
	if !w.waitingUnseen() {
		return time.Time{}, false
	}
	t, ok := w.unseen[id]
	return t, ok
}

// waitingUnseen says whether a file the checkpoint kept events of is still
// waited for, forgetting them all once restoredWait has passed: what never
// came is not waited for again.
func (w *Watcher) waitingUnseen() bool {
	if len(w.unseen) > 0 && w.opt.now().Sub(w.started) >= restoredWait {
		w.unseen = nil
	}
	return len(w.unseen) > 0
}

// unseenMayPrecede says whether a file the checkpoint kept events of, not
// read yet this run, may bring an event before ev (restoredUnseen).
func (w *Watcher) unseenMayPrecede(ev *parser.Event) bool {
	if !w.waitingUnseen() {
		return false
	}
	for _, t := range w.unseen {
		if !t.After(ev.Time) {
			return true
		}
	}
	return false
}

// maxHeld bounds the events held back; past it the oldest is judged at
// once, without waiting for the other sources (counted).
const maxHeld = 10_000

// hold keeps an event back: a grace reuse until the other watchers'
// refreshes can have reached the shared store, or a later event of the same
// user behind it.
func (w *Watcher) hold(ctx context.Context, ev parser.Event) error {
	w.held = append(w.held, heldEvent{ev: ev, arrived: w.opt.now()})
	if u := correlate.UserOf(&ev); ev.Kind == parser.KindGraceReuse {
		if t, ok := w.heldFrom[u]; !ok || ev.Time.Before(t) {
			w.heldFrom[u] = ev.Time
		}
	}
	if len(w.held) <= maxHeld {
		return nil
	}
	w.stats.HeldOverflow++
	if m := w.opt.Metrics; m != nil {
		m.HeldOverflow.Inc()
	}
	return w.releaseHeld(ctx, func(int, heldEvent) bool { return true }, 1)
}

// release passes on what the merge lets go, then judges the held events
// whose wait is over: reuses whose settle time passed (all of them, at the
// end), and the events of their users that were held behind them.
func (w *Watcher) release(ctx context.Context, all bool) error {
	if err := w.drain(ctx, all); err != nil {
		return err
	}
	if len(w.held) == 0 {
		return nil
	}
	now := w.opt.now()
	clear(w.blocked)
	return w.releaseHeld(ctx, func(_ int, h heldEvent) bool {
		u := correlate.UserOf(&h.ev)
		if all {
			return true
		}
		if w.blocked[u] {
			return false
		}
		if h.ev.Kind != parser.KindGraceReuse {
			return true
		}
		// Without a shared store the merge (order.go) let the reuse go
		// only once every source was read past it: nothing more to wait
		// for (a reuse restored from a checkpoint).
		if !w.opt.Shared || now.Sub(h.arrived) >= w.opt.Settle {
			return true
		}
		w.blocked[u] = true
		return false
	}, len(w.held))
}

// releaseHeld judges, in log order, up to n held events that ready says may
// go, and keeps the others.
func (w *Watcher) releaseHeld(ctx context.Context, ready func(int, heldEvent) bool, n int) error {
	w.changed = true
	// Held in the order they came, which is log order but where sources
	// interleave: sorting a catch-up's thousands of 416-byte events when
	// they are in order already moved megabytes for nothing.
	byTime := func(a, b heldEvent) int { return a.ev.Time.Compare(b.ev.Time) }
	if !slices.IsSortedFunc(w.held, byTime) {
		slices.SortStableFunc(w.held, byTime)
	}
	kept := w.held[:0]
	var err error
	for i := range w.held {
		h := w.held[i]
		if err != nil || n == 0 || !ready(i, h) {
			kept = append(kept, h)
			continue
		}
		n--
		if err = w.det.ObserveHeld(ctx, &h.ev); err != nil {
			kept = append(kept, h) // kept for the next try: nothing is lost
		}
	}
	clear(w.held[len(kept):])
	w.held = kept
	clear(w.heldFrom)
	for _, h := range w.held {
		if u := correlate.UserOf(&h.ev); h.ev.Kind == parser.KindGraceReuse {
			if t, ok := w.heldFrom[u]; !ok || h.ev.Time.Before(t) {
				w.heldFrom[u] = h.ev.Time
			}
		}
	}
	return err
}

// streamOfEvent is the stream an event was read from, by the source's
// identity: after a rename rotation the file being drained and the new one
// share a path, and an event put in the other's queue would be merged, and
// its refreshes' wait ended, by the wrong file's clock. A copytruncate's
// copies are read under the identity of the file at the path (source's
// copiedFrom), so among streams of one identity the one of the event's
// path is it: the file at the path waits, announced, behind the copies.
func streamOfEvent(named streamNames, ev *parser.Event) *stream {
	var byID *stream
	for _, s := range named.of(ev.SourceID) {
		if s.sourceID != ev.SourceID || ev.SourceID == "" && s.path != ev.Source {
			continue
		}
		if s.path == ev.Source {
			return s
		}
		byID = s
	}
	return byID
}

func keyOf(streams map[string]*stream, path string) string {
	for k, s := range streams {
		if s.path == path {
			return k
		}
	}
	return ""
}
