// Package pipeline joins the stages every command shares: records from the
// parser go to the correlator, each Context to the rule engine, each group of
// alerts to a sink. scan runs it over files as fast as they can be read;
// watch and demo run it over followed files. No stage knows which command
// runs it, and this package does no terminal or flag handling.
//
// What runs in parallel in a scan, and what does not: block workers (one
// per core) split, classify and parse a plain log; one goroutine merges the
// inputs by log time and attributes events; one more correlates and judges
// them, fed batches in merge order (detectstage.go), so alerts, their order
// and the summary are the bytes a single goroutine gives. Correlation is
// not sharded by user: a token_ok waits on its worker thread, which serves
// every user, and is released by other users' lines and the log clock; the
// session table is one direct-mapped table whose collisions (counted in
// the summary) depend on every user's sessions; the history's caps evict
// the least recently seen user of all; and chain-takeover matches a
// refusal, which names no user, against every user's moved chains. Shards
// would have to agree on all four at every event. On two cores a scan
// already keeps both busy (block workers, merge and judging together), so
// what remains is CPU per event, not parallelism.
//
// What a followed file is, OpenUnison's log or a proxy's access log, watch
// learns from its lines: the first bytes its announcement carries
// (source.Batch.Head), else its first data, unless the user named it a
// proxy's: in Kubernetes mode the pods the proxy selector picks (which
// attribute.Options.PeerOf names), with files the paths WatchOptions.
// ProxyLogs matches (watch --proxy-logs). A log so named counts as a
// proxy's from its first batch, empty or not, and token events wait for
// the proxies' records from the start. An unnamed file that is empty when
// watch starts tells nothing until its first line, and the token events
// read before that go on without waiting for it: the first requests
// through a controller that had logged nothing yet are judged on the
// controller's address, and a replay among them can go unseen. Watch does
// not guess an empty file to be a proxy's: the files a watch of
// OpenUnison's logs alone follows are empty at times (a replica just
// started, a log just created), and its token events would then wait, as
// for a quiet proxy's log, for records no proxy writes.
package pipeline

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// Deliver receives the alerts one event raised, most severe first.
type Deliver func(ctx context.Context, group []alert.Alert) error

// Detector is the stateful heart of the pipeline: correlation and rules.
type Detector struct {
	correlator *correlate.Correlator
	engine     *rules.Engine
	deliver    Deliver
	buf        []alert.Alert
	judge      correlate.Judge
	observer   Observer
}

// Observer sees every judged Context with the alerts it raised (none,
// often), before they are delivered; both are valid only during the call.
// The timeline command builds one user's history from it.
type Observer func(c *correlate.Context, alerts []alert.Alert)

// NewDetector returns a Detector that judges events with set, remembers them
// in store and hands alerts to deliver.
func NewDetector(store correlate.Store, set *rules.Set, pairWindow time.Duration, deliver Deliver) *Detector {
	d := &Detector{
		correlator: correlate.NewCorrelator(store, pairWindow),
		engine:     rules.NewEngine(set),
		deliver:    deliver,
	}
	d.correlator.Judged = d.engine.Wants
	d.judge = d.evaluate
	return d
}

// Observe takes the next event in log order.
func (d *Detector) Observe(ctx context.Context, ev *parser.Event) error {
	return d.correlator.Observe(ctx, ev, d.judge)
}

// ObserveHeld takes an event a watcher held back; a grace reuse's twin was
// settled when it was held (Correlator.Pair).
func (d *Detector) ObserveHeld(ctx context.Context, ev *parser.Event) error {
	return d.correlator.ObservePaired(ctx, ev, d.judge)
}

// Drain judges the events waiting for their batch to reach a shared
// store (see UseBatches); a no-op otherwise.
func (d *Detector) Drain(ctx context.Context) error {
	return d.correlator.Drain(ctx)
}

// UseBatches has a store that takes batches (Redis) apply up to n events in
// one round trip: they are judged when their batch is sent, at the latest
// on Drain.
func (d *Detector) UseBatches(n int) { d.correlator.Defer = n }

// Flush judges what waits at the end of input.
func (d *Detector) Flush(ctx context.Context) error {
	return d.correlator.Flush(ctx, d.judge)
}

// Tick judges what has waited long enough by the log's clock.
func (d *Detector) Tick(ctx context.Context, now time.Time) error {
	return d.correlator.Tick(ctx, now, d.judge)
}

// SetObserver calls o with every judged Context; nil stops it.
// Every kind is then judged, so the observer sees each event, not only
// those a rule can fire for.
func (d *Detector) SetObserver(o Observer) {
	d.observer = o
	d.correlator.Judged = d.engine.Wants
	if o != nil {
		d.correlator.Judged = nil
	}
}

// UseGeo places addresses with g; nil turns geo off.
func (d *Detector) UseGeo(g correlate.GeoLookup) {
	d.correlator.Geo = g
	d.engine.SetGeo(g != nil)
}

// SetRules swaps the rule set (SIGHUP).
func (d *Detector) SetRules(set *rules.Set) { d.engine.SetRules(set) }

// RuleStats returns the rule engine's counts.
func (d *Detector) RuleStats() rules.EngineStats { return d.engine.Stats() }

// CorrelatorStats returns the correlator's counts.
func (d *Detector) CorrelatorStats() correlate.CorrelatorStats { return d.correlator.Stats() }

func (d *Detector) evaluate(ctx context.Context, c *correlate.Context) error {
	d.buf = d.engine.Evaluate(d.buf[:0], c)
	if d.observer != nil {
		d.observer(c, d.buf)
	}
	if len(d.buf) == 0 {
		return nil
	}
	slices.SortStableFunc(d.buf, func(a, b alert.Alert) int { return cmp.Compare(b.Severity, a.Severity) })
	return d.deliver(ctx, d.buf)
}
