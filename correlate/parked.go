package correlate

import (
	"context"
	"fmt"

	"github.com/graceguard/graceguard/parser"
)

// A scan has no clock of how far each source has been read (SourceClock):
// it merges by log time, so when a refused refresh comes, a refresh another
// replica logged within the pair window before it still waits for its
// grace-reuse twin, and the chain it moved is not known yet. Judged at
// once, the refusal met no move, where a watcher, which commits that
// refresh once its own log's clock has passed it (commitBefore), raised
// chain-takeover. Such a refusal is parked until the lines before it have
// been committed (expire does, in log order), then judged: the alert comes
// when the refresh's does, a pair window later in the log.

// maxParked caps the refusals parked; past it the oldest is judged at
// once, against the moves known by then (RefusalsJudgedEarly).
const maxParked = 1024

type parkedRefusal struct {
	ev    parser.Event
	judge Judge
}

// parks reports whether the refused refresh ev must wait: in a scan, while
// another source's line logged at or before it waits, or a refusal parked
// before it does (they are judged in log order).
func (c *Correlator) parks(ev *parser.Event) bool {
	return c.SourceClock == nil && (len(c.parked) > 0 || c.waitsBefore(ev))
}

// waitsBefore reports whether a line of another source than ev's, logged
// at or before it, waits in the pending queue (which is in log order). A
// line of ev's own source is left to that log's order, as commitBefore
// leaves it.
func (c *Correlator) waitsBefore(ev *parser.Event) bool {
	from := ev.SourceKey()
	for i := c.pending.head; i < len(c.pending.entries); i++ {
		e := &c.pending.entries[i]
		if e.ev.Time.After(ev.Time) {
			return false
		}
		if e.live && e.ev.SourceKey() != from {
			return true
		}
	}
	return false
}

// park keeps ev until the lines before it are committed (landParked).
func (c *Correlator) park(ctx context.Context, ev *parser.Event, judge Judge) error {
	if len(c.parked) >= maxParked {
		c.stats.RefusalsJudgedEarly++
		if err := c.landFirst(ctx); err != nil {
			return err
		}
	}
	c.parked = append(c.parked, parkedRefusal{ev: *ev, judge: judge})
	return nil
}

// landParked judges, in log order, the parked refusals nothing waits
// before any more; all of them when all is set (the input ended).
func (c *Correlator) landParked(ctx context.Context, all bool) error {
	for len(c.parked) > 0 && (all || !c.waitsBefore(&c.parked[0].ev)) {
		if err := c.landFirst(ctx); err != nil {
			return err
		}
	}
	if len(c.parked) == 0 {
		c.parked = nil // let a burst's array go
	}
	return nil
}

// landFirst judges the oldest parked refusal against the moves known now.
func (c *Correlator) landFirst(ctx context.Context) error {
	p := c.parked[0]
	c.parked[0] = parkedRefusal{}
	c.parked = c.parked[1:]
	return c.judgeRefusal(ctx, &p.ev, p.judge)
}

// judgeRefusal judges a refused refresh that may be a takeover's trace
// against the chains moved away from its client.
func (c *Correlator) judgeRefusal(ctx context.Context, ev *parser.Event, judge Judge) error {
	if ok, err := c.judgeTakeover(ctx, ev, judge); ok || err != nil {
		return err
	}
	return judge(ctx, &Context{Event: ev})
}

// judgeTakeover judges ev as a takeover's trace when the chains moved
// away from its client make one of it; judged says it did.
func (c *Correlator) judgeTakeover(ctx context.Context, ev *parser.Event, judge Judge) (judged bool, err error) {
	t, err := c.takeoverOf(ctx, ev)
	if err != nil {
		return false, fmt.Errorf("correlate %s at %s:%d: %w", ev.Kind, ev.FileName(), ev.Offset, err)
	}
	if t == nil {
		return false, nil
	}
	return true, judge(ctx, c.takeoverContext(ev, t))
}
