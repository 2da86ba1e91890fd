package correlate

import (
	"context"
	"fmt"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// DefaultPairWindow is how long (in log time) a token_ok waits for the
// grace-reuse line of the same request. OpenUnison writes the two lines
// microseconds apart; the window only has to outlast other threads' lines.
const DefaultPairWindow = 2 * time.Second

// maxPending bounds the token_ok lines waiting for their thread to move on;
// past it the oldest is learned at once (counted in CorrelatorStats).
const maxPending = 4096

// Correlator feeds events to a Store in the order a human would read them,
// holding each token_ok back until it is known not to be half of a grace
// reuse. It is not safe for concurrent use: one pipeline owns one.
type Correlator struct {
	// Judged says which kinds of event will be judged; the others are only
	// learned, and judge is not called for them. Nil judges every kind.
	Judged func(parser.Kind) bool
	// Geo places addresses; nil leaves every Context without geo.
	Geo GeoLookup

	store      Store
	pairWindow time.Duration
	pending    []parser.Event // token_ok lines waiting, in log order
	reuses     []reuseMark    // recent grace reuses, for a twin logged in the other order
	stats      CorrelatorStats
}

// CorrelatorStats counts what the Correlator decided.
type CorrelatorStats struct {
	PairedTokenOK  int64 // token_ok lines recognised as half of a grace reuse and not learned
	PendingEvicted int64 // token_ok lines learned early because maxPending were waiting
}

type reuseMark struct {
	source, thread, session string
	time                    time.Time
}

// NewCorrelator returns a Correlator over store. pairWindow <= 0 takes
// DefaultPairWindow.
func NewCorrelator(store Store, pairWindow time.Duration) *Correlator {
	if pairWindow <= 0 {
		pairWindow = DefaultPairWindow
	}
	return &Correlator{store: store, pairWindow: pairWindow}
}

// Judge receives an event with the facts it is judged by. The Context and
// its event are valid only during the call.
type Judge func(*Context) error

// Stats returns the counts so far.
func (c *Correlator) Stats() CorrelatorStats { return c.stats }

// Observe takes the next event in log order and calls judge with the Context
// of every event that is ready to be judged: this one, or earlier token_ok
// lines it released. Events of kind other are ignored.
func (c *Correlator) Observe(ctx context.Context, ev *parser.Event, judge Judge) error {
	if ev.Kind == parser.KindOther {
		return nil
	}
	paired, err := c.release(ctx, ev, judge)
	if err != nil {
		return err
	}
	switch ev.Kind {
	case parser.KindTokenOK:
		if c.isTwinOfReuse(ev) {
			c.stats.PairedTokenOK++
			return nil
		}
		if len(c.pending) >= maxPending {
			c.stats.PendingEvicted++
			if err := c.commit(ctx, &c.pending[0], judge); err != nil {
				return err
			}
			c.pending = c.pending[1:]
		}
		c.pending = append(c.pending, *ev)
		return nil
	case parser.KindGraceReuse:
		if !paired {
			c.markReuse(ev)
		}
		return c.judge(ctx, ev, Reuse, judge)
	case parser.KindLogin:
		return c.judge(ctx, ev, Login, judge)
	default:
		return c.judge(ctx, ev, Look, judge)
	}
}

// Flush judges every token_ok still waiting: the input has ended.
func (c *Correlator) Flush(ctx context.Context, judge Judge) error {
	for len(c.pending) > 0 {
		ev := c.pending[0]
		c.pending = c.pending[1:]
		if err := c.commit(ctx, &ev, judge); err != nil {
			return err
		}
	}
	c.pending = c.pending[:0]
	return nil
}

// Tick judges the token_ok lines that have waited longer than the pair
// window by the clock of the log (now is the newest log time a follower has
// seen, or wall time mapped to it).
func (c *Correlator) Tick(ctx context.Context, now time.Time, judge Judge) error {
	return c.releaseWhere(ctx, judge, func(p *parser.Event) (twin, ready bool) {
		return false, now.Sub(p.Time) > c.pairWindow
	})
}

// release settles the waiting token_ok lines that ev decides: its own twin
// (dropped), lines of the same thread (that request is over), lines of the
// same user when ev is a reuse (the reuse must see the refresh before it),
// and lines older than the pair window.
func (c *Correlator) release(ctx context.Context, ev *parser.Event, judge Judge) (twinFound bool, err error) {
	reuse := ev.Kind == parser.KindGraceReuse
	err = c.releaseWhere(ctx, judge, func(p *parser.Event) (twin, ready bool) {
		sameThread := p.Source == ev.Source && p.Thread == ev.Thread
		if reuse && !twinFound && sameThread && p.Session == ev.Session && p.User == ev.User {
			twinFound = true
			return true, false
		}
		return false, sameThread || (reuse && p.User == ev.User && p.IdP == ev.IdP) || ev.Time.Sub(p.Time) > c.pairWindow
	})
	return twinFound, err
}

// releaseWhere walks the waiting lines in order; decide says whether each is
// a reuse's twin (drop it) or ready (judge it as a refresh).
func (c *Correlator) releaseWhere(ctx context.Context, judge Judge, decide func(*parser.Event) (twin, ready bool)) error {
	kept := c.pending[:0]
	for i := range c.pending {
		p := &c.pending[i]
		twin, ready := decide(p)
		switch {
		case twin:
			c.stats.PairedTokenOK++
		case ready:
			if err := c.commit(ctx, p, judge); err != nil {
				// Keep what is not yet judged so nothing is lost.
				kept = append(kept, c.pending[i+1:]...)
				c.pending = kept
				return err
			}
		default:
			kept = append(kept, *p)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	return nil
}

func (c *Correlator) commit(ctx context.Context, ev *parser.Event, judge Judge) error {
	return c.judge(ctx, ev, Refresh, judge)
}

func (c *Correlator) judge(ctx context.Context, ev *parser.Event, action Action, judge Judge) error {
	need := c.Judged == nil || c.Judged(ev.Kind)
	if parser.IsAnonymousDN(ev.User) {
		// A failure logged with the anonymous DN belongs to no user's history.
		if !need {
			return nil
		}
		return judge(&Context{Event: ev})
	}
	obs := Observation{User: UserOf(ev), Session: ev.Session, Time: ev.Time, IP: ev.IP, Action: action, NeedFacts: need}
	var here *geo.Info
	if c.Geo != nil && (need || action == Refresh || action == Login) {
		if info, ok := c.Geo.Lookup(ev.IP); ok {
			here = &info
			obs.Country, obs.ASN = info.Country, info.ASN
		}
	}
	facts, err := c.store.Apply(ctx, obs)
	if err != nil {
		return fmt.Errorf("correlate %s at %s:%d: %w", ev.Kind, ev.Source, ev.Offset, err)
	}
	if !need {
		return nil
	}
	jc := &Context{Event: ev, Facts: facts, Geo: here}
	if c.Geo != nil && facts.Prev != nil {
		if info, ok := c.Geo.Lookup(facts.Prev.IP); ok {
			jc.PrevGeo = &info
			if here != nil {
				if trip, ok := geo.Travel(info, *here, ev.Time.Sub(facts.Prev.Time)); ok {
					jc.Travel = &trip
				}
			}
		}
	}
	return judge(jc)
}

// markReuse remembers a grace reuse so that an AzSuccess logged after it for
// the same request (the other order) is recognised too.
func (c *Correlator) markReuse(ev *parser.Event) {
	const keep = 64
	if len(c.reuses) >= keep {
		c.reuses = append(c.reuses[:0], c.reuses[1:]...)
	}
	c.reuses = append(c.reuses, reuseMark{source: ev.Source, thread: ev.Thread, session: ev.Session, time: ev.Time})
}

func (c *Correlator) isTwinOfReuse(ev *parser.Event) bool {
	for i := len(c.reuses) - 1; i >= 0; i-- {
		r := c.reuses[i]
		if r.source == ev.Source && r.thread == ev.Thread && r.session == ev.Session && ev.Time.Sub(r.time) <= c.pairWindow {
			c.reuses = append(c.reuses[:i], c.reuses[i+1:]...)
			return true
		}
	}
	return false
}
