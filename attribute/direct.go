package attribute

import (
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Pass attributes ev in place and reports true when nothing can wait for
// a proxy record: no proxy log has shown itself (nor was expected) and no
// event waits, so Push and Release would hand ev straight back, attributed
// by the crowd heuristic and the known proxies alone. clock is the inputs'
// clock, the same for every source (a scan's merged log clock). On false
// nothing was done: the caller takes the Push and Release path.
//
// It exists for the scan of OpenUnison's logs alone, where every event
// passes here: Push and Release copy each event twice and walk the queue,
// which cost more than the attribution itself.
func (a *Attributor) Pass(ev *parser.Event, clock time.Time) bool {
	if !a.passing(ev) {
		return false
	}
	// What Release does after releasing, with every source at clock: no
	// record waits (none came), but the expiry clock must be where
	// Release would have left it once one does.
	horizon := time.Time{}
	if len(a.learn.ous) > 0 {
		horizon = clock
	}
	a.expireTo(horizon)
	return true
}

// PassClock is Pass for sources read each at its own pace (watch): clock
// says how far each has been read, as it does to Release, which leaves the
// expiry clock where PassClock does. A watcher catching up on OpenUnison's
// logs alone passes every event here instead of through Push and Release.
func (a *Attributor) PassClock(ev *parser.Event, clock Clock) bool {
	if !a.mayPass(ev) {
		return false
	}
	a.noteToken(ev)
	// Asked once: nothing in between moves a source's clock or adds one.
	ou, ok := a.ouThrough(clock)
	a.ouClock, a.ouOK = ou, ok
	if IsToken(ev.Kind) {
		a.resolve(ev, -1)
	}
	a.expireTo(horizonOf(a.through(clock), ou, ok))
	return true
}

// passing attributes ev in place when nothing can wait for a proxy record,
// and reports whether it did.
func (a *Attributor) passing(ev *parser.Event) bool {
	if !a.mayPass(ev) {
		return false
	}
	a.noteToken(ev)
	if IsToken(ev.Kind) {
		a.resolve(ev, -1)
	}
	return true
}

// mayPass reports whether nothing can wait for a proxy record: Push and
// Release would hand ev straight back.
func (a *Attributor) mayPass(ev *parser.Event) bool {
	return !a.expect && len(a.events) == 0 && len(a.records) == 0 && ev.Kind != parser.KindProxy
}

// noteToken is what Push notes of a token event before it waits.
func (a *Attributor) noteToken(ev *parser.Event) {
	if IsToken(ev.Kind) {
		if !ev.Peer.IsValid() {
			ev.Peer = ev.IP
		}
		a.learn.noteOU(ev.Source)
		a.learn.noteDirect(ev.Peer)
	}
}
