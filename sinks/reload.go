package sinks

import (
	"context"
	"errors"
	"slices"

	"github.com/graceguard/graceguard/alert"
)

// Reload replaces the running sinks with those cfgs make (watch's SIGHUP).
// A set of configs that cannot make its sinks (a bad URL, an unreadable
// secret file, two sinks of one name) is refused, a *ConfigError, and the
// running sinks stay.
//
// Otherwise nothing queued is lost across the swap: the workers finish
// the delivery in flight (until ctx ends; then it is cut short and stays
// queued), and what waits for a sink moves to the new sink of the same
// name, with the ids it delivered (so nothing is sent twice), its throttle
// when that is unchanged and its counts. The new sink's filter applies to
// what moves. What waits for a sink no longer configured is dead-lettered,
// as at a restart. Send waits meanwhile.
func (d *Dispatcher) Reload(ctx context.Context, cfgs []Config) error {
	built, err := routesOf(cfgs, d.opt)
	if err != nil {
		return err
	}
	fresh, err := d.makeRoutes(built)
	if err != nil {
		closeAll(built)
		return &ConfigError{[]string{err.Error()}}
	}
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	if d.closed {
		closeAll(built)
		return errClosed
	}
	d.pauseWorkers(ctx)
	old := d.handOver(fresh)
	var errs []error
	for _, r := range old {
		if err := r.Sink.Close(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, err)
		}
	}
	d.newContexts()
	d.startWorkers()
	d.log.Info("sinks reloaded", "sinks", len(fresh))
	return errors.Join(errs...)
}

// pauseWorkers stops the workers taking work and waits for the delivery
// in flight, cutting it short when ctx ends first.
func (d *Dispatcher) pauseWorkers(ctx context.Context) {
	d.pause()
	d.waitWorkers(ctx)
}

// waitWorkers waits for the workers to exit, cutting their deliveries
// short when ctx ends first, and then ends their contexts.
func (d *Dispatcher) waitWorkers(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.stop()
		<-done
	}
	d.stop()
}

// handOver moves the stopped routes' queues and memory to fresh, makes
// fresh the routes, and returns the old ones.
func (d *Dispatcher) handOver(fresh []*route) []*route {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	old := d.routes
	for _, o := range old {
		n := findRoute(fresh, o.Name)
		if n == nil {
			for _, it := range o.queue {
				d.deadLetter(o, o.Name, it, "sink_removed", "the sink is no longer configured")
			}
			d.metric(func(m *Metrics) { m.Queue.DeleteLabelValues(o.Name) })
			continue
		}
		for _, it := range n.takeOver(o) {
			d.deadLetter(n, n.Name, it, "queue_full", "the reloaded sink's queue holds fewer groups")
		}
	}
	d.routes = fresh
	if err := d.compactLocked(); err != nil {
		d.log.Error("cannot rewrite the sink journal after the reload; a crash may lose what is queued", "err", err)
	}
	return old
}

func findRoute(routes []*route, name string) *route {
	for _, r := range routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// takeOver gives n, not yet running, what o (stopped) remembers and
// queues; it returns the groups n's queue has no room for.
func (n *route) takeOver(o *route) (overflow []*item) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range o.delivered.List() {
		n.delivered.Add(id)
	}
	if o.throttle != nil && n.throttle != nil && o.Delivery.Throttle == n.Delivery.Throttle &&
		slices.Equal(o.Delivery.ThrottleKey, n.Delivery.ThrottleKey) {
		n.throttle = o.throttle
	}
	for _, it := range o.queue {
		it.Alerts = slices.DeleteFunc(it.Alerts, func(a alert.Alert) bool { return !n.Filter.match(a) })
		switch {
		case len(it.Alerts) == 0:
		case len(n.queue) >= n.Delivery.QueueSize:
			overflow = append(overflow, it)
		default:
			n.pushLocked(it)
		}
	}
	n.stats.sent.Store(o.stats.sent.Load())
	n.stats.retried.Store(o.stats.retried.Load())
	n.stats.failed.Store(o.stats.failed.Load())
	n.stats.dead.Store(o.stats.dead.Load())
	n.stats.suppressed.Store(o.stats.suppressed.Load())
	n.stats.dup.Store(o.stats.dup.Load())
	n.stats.throttleEvicted.Store(o.stats.throttleEvicted.Load())
	if v, ok := o.lastErr.Load().(string); ok {
		n.lastErr.Store(v)
	}
	return overflow
}
