package pipeline

import (
	"context"
	"time"

	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/parser"
)

// attrClock is how far a source has been read, for attribution: the
// newest record's time of a proxy log still being read (attribute.Quiet
// once it is quiet or gone: the attributor still waits its Lag for the
// records of requests in flight); the empty source is all of them.
func (w *Watcher) attrClock(src string) time.Time {
	if src == "" {
		return w.newest
	}
	if t, _ := w.sourceClock(src); t.Before(farFuture) {
		return t
	}
	return attribute.Quiet
}

// releaseAttributed passes on the events attribution is done with.
func (w *Watcher) releaseAttributed(ctx context.Context) error {
	w.attrOut = w.attr.Release(w.attrOut[:0], w.attrClock, w.opt.now())
	return w.admitAll(ctx)
}

// flushAttributed passes on everything attribution holds: the end.
func (w *Watcher) flushAttributed(ctx context.Context) error {
	w.attrOut = w.attr.Flush(w.attrOut[:0])
	return w.admitAll(ctx)
}

func (w *Watcher) admitAll(ctx context.Context) error {
	var err error
	for i := range w.attrOut {
		if err == nil {
			err = w.admit(ctx, &w.attrOut[i])
		}
	}
	clear(w.attrOut)
	w.attrOut = w.attrOut[:0]
	return err
}

// attrMetrics brings the attribution metrics up to date and says once, in
// the log, which proxy log would attribute the reuses it could not; once a
// batch (publish).
func (w *Watcher) attrMetrics() {
	st := w.attr.Stats()
	if st.UnattributedReuses > 0 && w.attrSeen.UnattributedReuses == 0 {
		w.log.Warn(UnattributedNote(st))
	}
	if m := w.opt.Metrics; m != nil {
		for a, n := range st.Outcomes {
			if d := n - w.attrSeen.Outcomes[a]; d > 0 && a > 0 {
				m.Attribution.WithLabelValues(parser.Attribution(a).String()).Add(float64(d))
			}
		}
		m.AttrWaiting.WithLabelValues("events").Set(float64(st.WaitingEvents))
		m.AttrWaiting.WithLabelValues("records").Set(float64(st.WaitingRecords))
		m.AttrEvicted.WithLabelValues("events").Add(float64(st.EventsEvicted - w.attrSeen.EventsEvicted))
		m.AttrEvicted.WithLabelValues("records").Add(float64(st.RecordsEvicted - w.attrSeen.RecordsEvicted))
		m.AttrEvicted.WithLabelValues("records_unmatched").Add(float64(st.RecordsUnmatched - w.attrSeen.RecordsUnmatched))
		m.AttrEvicted.WithLabelValues("learned_names").Add(float64(st.NamesForgotten - w.attrSeen.NamesForgotten))
		m.Unattributed.Add(float64(st.UnattributedReuses - w.attrSeen.UnattributedReuses))
		m.Outnumbered.Add(float64(st.Outnumbered - w.attrSeen.Outnumbered))
	}
	w.attrSeen = st
}
