package rules

import (
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/internal/keycap"
	"github.com/graceguard/graceguard/parser"
)

// maxThrottleKeys bounds the throttle memory per rule; at it the entries
// whose window has passed go first, then the oldest, until
// throttleEvictBatch keys are free (evictThrottle).
const (
	maxThrottleKeys    = 10_000
	throttleEvictBatch = maxThrottleKeys / 10
)

// Engine evaluates a Set against Contexts. It reuses one expr VM, so it is
// not safe for concurrent use: each pipeline owns one.
type Engine struct {
	env      envBuffer
	rules    []*Rule
	kinds    kindSet // the kinds any rule can fire for
	vm       vm.VM
	throttle map[string]map[string]time.Time // rule → key → last alert time (log time)
	geo      bool                            // addresses are placed (SetGeo)
	stats    EngineStats
	// throttleSweeps counts full passes over a rule's throttle memory.
	throttleSweeps int
}

// EngineStats counts evaluations and what they decided.
type EngineStats struct {
	Evaluated       int64            // contexts evaluated
	Alerts          map[string]int64 // alerts raised, by rule
	Throttled       map[string]int64 // alerts suppressed by a throttle, by rule
	Errors          map[string]int64 // evaluation errors, by rule
	ThrottleEvicted int64            // throttle keys dropped to stay under the cap
	LastError       error
}

// NewEngine returns an Engine running the enabled rules of set.
func NewEngine(set *Set) *Engine {
	e := &Engine{throttle: map[string]map[string]time.Time{}}
	e.stats.Alerts, e.stats.Throttled, e.stats.Errors = map[string]int64{}, map[string]int64{}, map[string]int64{}
	e.SetRules(set)
	return e
}

// SetRules swaps the rule set (a reload) keeping the throttle memory of rules
// that remain; a rule gone (removed, disabled, no longer throttled) takes
// its memory with it, which a checkpoint would otherwise carry for good.
func (e *Engine) SetRules(set *Set) {
	e.rules = set.Enabled()
	e.wantKinds()
	e.keepThrottled()
}

// keepThrottled drops the throttle memory of rules not in the set.
func (e *Engine) keepThrottled() {
	throttled := map[string]bool{}
	for _, r := range e.rules {
		throttled[r.Name] = r.Throttle > 0
	}
	maps.DeleteFunc(e.throttle, func(rule string, _ map[string]time.Time) bool { return !throttled[rule] })
}

// SetGeo says whether events are placed (a GeoIP database is open): rules
// that need a place are only asked for their kinds when they are.
func (e *Engine) SetGeo(on bool) {
	e.geo = on
	e.wantKinds()
}

func (e *Engine) wantKinds() {
	e.kinds = 0
	for _, r := range e.rules {
		if e.geo || !r.needsGeo {
			e.kinds |= r.kinds
		}
	}
}

// Wants reports whether any rule can fire for events of kind k. Events no
// rule can fire for need no environment and no evaluation: on a busy IdP
// that is every token_ok, most of what correlation sees.
func (e *Engine) Wants(k parser.Kind) bool { return e.kinds.has(k) }

// Stats returns the counts so far.
func (e *Engine) Stats() EngineStats { return e.stats }

// Evaluate judges one Context and appends an alert per matching rule to dst.
// A rule whose expression fails at run time (a nil it did not guard against)
// is counted and skipped: one careless rule must not silence the others.
func (e *Engine) Evaluate(dst []alert.Alert, c *correlate.Context) []alert.Alert {
	if !e.Wants(c.Event.Kind) {
		return dst
	}
	e.stats.Evaluated++
	env := e.env.fill(c)
	for _, r := range e.rules {
		if !r.kinds.has(c.Event.Kind) {
			continue
		}
		out, err := e.vm.Run(r.when, env)
		if err != nil {
			e.fail(r, err)
			continue
		}
		if ok, _ := out.(bool); !ok {
			continue
		}
		if e.throttled(r, env, c.Event.Time) {
			continue
		}
		a, err := e.alertFor(r, env, c)
		if err != nil {
			e.fail(r, err)
			continue
		}
		e.stats.Alerts[r.Name]++
		dst = append(dst, a)
	}
	return dst
}

func (e *Engine) fail(r *Rule, err error) {
	e.stats.Errors[r.Name]++
	e.stats.LastError = fmt.Errorf("rule %s: %w", r.Name, err)
}

func (e *Engine) throttled(r *Rule, env *Env, now time.Time) bool {
	if r.Throttle <= 0 {
		return false
	}
	key := env.Event.User + "|" + env.Event.IP
	if r.key != nil {
		out, err := e.vm.Run(r.key, env)
		if err != nil {
			e.fail(r, err)
		} else {
			key, _ = out.(string)
		}
	}
	keys := e.throttle[r.Name]
	if keys == nil {
		keys = map[string]time.Time{}
		e.throttle[r.Name] = keys
	}
	if last, ok := keys[key]; ok && now.Sub(last) < r.Throttle && !now.Before(last) {
		e.stats.Throttled[r.Name]++
		return true
	}
	if _, ok := keys[key]; !ok && len(keys) >= maxThrottleKeys {
		e.evictThrottle(keys, now, r.Throttle)
	}
	keys[key] = now
	return false
}

// evictThrottle makes room in a rule's throttle memory at its cap: the
// keys whose window has passed go, then the oldest, throttleEvictBatch at
// once (keycap.Evict says why and in which order).
func (e *Engine) evictThrottle(keys map[string]time.Time, now time.Time, window time.Duration) {
	e.throttleSweeps++
	n := keycap.Evict(keys, func(t time.Time) time.Time { return t }, now, window, maxThrottleKeys-throttleEvictBatch)
	e.stats.ThrottleEvicted += int64(n)
}

func (e *Engine) alertFor(r *Rule, env *Env, c *correlate.Context) (alert.Alert, error) {
	ev := c.Event
	a := alert.Alert{
		ID: alert.ID(r.Name, ev.SourceKey(), ev.Offset, ev.Raw), Time: ev.Time, Rule: r.Name, Description: r.Description,
		Severity: r.Severity, User: ev.User, IP: env.Event.IP, Session: ev.Session, IdP: ev.IdP,
		URL: ev.URL, Source: ev.FileName(), Raw: ev.Raw, RevokeRule: r.Revoke,
	}
	if ev.Attribution != parser.AttrNone && ev.Attribution != parser.AttrDirect {
		a.Peer, a.Via, a.Agent, a.Attribution, a.Candidates = env.Event.Peer, ev.Via, ev.Agent, env.Event.Attribution, env.Event.Candidates
	}
	if p := env.Prev; p != nil {
		a.PrevTime = p.Time
		// A refresh whose client attribution could not tell (ambiguous,
		// unattributed) holds the address OpenUnison logged, the proxy's:
		// as prev_ip it named the proxy as the user's last client.
		// prev_peer still says what was logged.
		if p.Attribution != parser.AttrAmbiguous.String() && p.Attribution != parser.AttrUnattributed.String() {
			a.PrevIP = p.IP
		}
		if p.Attribution != "" && p.Attribution != "direct" {
			a.PrevPeer, a.PrevAgent = p.Peer, p.Agent
		}
		ms := ev.Time.Sub(p.Time).Milliseconds()
		a.IntervalMs = &ms
	}
	a.Geo, a.PrevGeo = alertGeo(c.Geo), alertGeo(c.PrevGeo)
	if tr := c.Travel; tr != nil {
		// A tenth of a kilometre and a km/h are finer than any database's
		// accuracy; more digits would only look precise.
		dist, speed := math.Round(tr.DistanceKm*10)/10, math.Round(tr.SpeedKmh)
		a.DistanceKm, a.SpeedKmh = &dist, &speed
	}
	a.Summary = defaultSummary(r, &a)
	if t := env.Takeover; t != nil {
		takeoverAlert(&a, t, c)
	}
	if r.summary != nil {
		out, err := e.vm.Run(r.summary, env)
		if err != nil {
			return a, err
		}
		a.Summary, _ = out.(string)
	}
	return a, nil
}

func defaultSummary(r *Rule, a *alert.Alert) string {
	what := r.Description
	if what == "" {
		what = r.Name
	}
	s := fmt.Sprintf("%s: %s from %s", what, a.User, a.ClientOf())
	if a.HasPrev() && a.IntervalMs != nil {
		s += fmt.Sprintf(", %s after a refresh from %s", alert.HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond), a.PrevClientOf())
	}
	return s
}

// ThrottleSnapshot is the throttle memory: rule → key → last alert time.
type ThrottleSnapshot map[string]map[string]time.Time

// Snapshot copies the throttle memory, for a checkpoint.
func (e *Engine) Snapshot() ThrottleSnapshot {
	out := ThrottleSnapshot{}
	for rule, keys := range e.throttle {
		out[rule] = maps.Clone(keys)
	}
	return out
}

// Restore puts back a throttle memory, so a restart does not repeat an
// alert the throttle would have held back: the memory of the rules in the
// set, each within the cap (a checkpoint is read as found, damaged or
// written before a rule's removal), what goes beyond it counted.
func (e *Engine) Restore(s ThrottleSnapshot) {
	e.throttle = map[string]map[string]time.Time{}
	for rule, keys := range s {
		e.throttle[rule] = maps.Clone(keys)
	}
	e.keepThrottled()
	for _, r := range e.rules {
		keys := e.throttle[r.Name]
		if len(keys) <= maxThrottleKeys {
			continue
		}
		var newest time.Time
		for _, t := range keys {
			if t.After(newest) {
				newest = t
			}
		}
		n := keycap.Evict(keys, func(t time.Time) time.Time { return t }, newest, r.Throttle, maxThrottleKeys)
		e.stats.ThrottleEvicted += int64(n)
	}
}

func alertGeo(g *geo.Info) *alert.Geo {
	if g == nil {
		return nil
	}
	out := &alert.Geo{Country: g.Country, City: g.City, RadiusKm: g.RadiusKm, ASN: g.ASN, Org: g.Org}
	if g.HasLocation {
		lat, lon := g.Lat, g.Lon
		out.Lat, out.Lon = &lat, &lon
	}
	return out
}
