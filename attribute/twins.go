package attribute

import (
	"time"

	"github.com/graceguard/graceguard/parser"
)

// OpenUnison logs a grace reuse as an [AzSuccess] and an
// [ExpiredRefreshTokenUsed] line for one request (same source, thread and
// session id, microseconds apart): one proxy record, matched once.

// twinGap is how far apart the two lines of one request may be logged.
const twinGap = time.Second

// maxTwins caps the matched AzSuccess lines remembered; past it the oldest
// is overwritten.
const maxTwins = 10_000

// twinKeep is how long, behind the newest line put, a line is kept: a
// reuse is looked up at most twinGap after its twin, and a source lagging
// the others by up to twinKeep still finds it. Past that the ring reuses
// the line's place instead of growing, so it holds a few seconds of
// token_ok lines (tens, usually), not maxTwins.
const twinKeep = 10 * time.Second

type twinKey struct{ source, thread, session string }

type twinEntry struct {
	key twinKey
	at  time.Time
	// hw is the latest at of this entry and every one put before it: a
	// lookup walking back stops at the first entry whose hw is too old,
	// exact even when a lagging source puts an older line after newer ones.
	hw  time.Time
	res result
}

// twinCache remembers the result of every token_ok attributed, for the
// grace reuse of the same request. Every token_ok is put and only the rare
// reuse looks one up, so it is a ring written in order rather than a map:
// a put hashes nothing, and a lookup walks back at most twinGap of lines.
type twinCache struct {
	ring  []twinEntry // circular, oldest at start
	start int
	n     int // entries held
}

func keyOf(ev *parser.Event) twinKey { return twinKey{ev.Source, ev.Thread, ev.Session} }

func sameRequest(a, b *parser.Event) bool { return keyOf(a) == keyOf(b) }

// newest returns the k-th newest entry, k from 0.
func (c *twinCache) newest(k int) *twinEntry {
	return &c.ring[(c.start+c.n-1-k)%len(c.ring)]
}

func (c *twinCache) put(ev *parser.Event, res result) {
	e := twinEntry{key: keyOf(ev), at: ev.Time, hw: ev.Time, res: res}
	if c.n > 0 {
		if hw := c.newest(0).hw; hw.After(e.hw) {
			e.hw = hw
		}
	}
	if c.n == len(c.ring) {
		if c.n == maxTwins || (c.n > 0 && e.hw.Sub(c.ring[c.start].hw) > twinKeep) {
			// The oldest goes: too old to be needed, or the cap.
			c.ring[c.start] = e
			c.start = (c.start + 1) % len(c.ring)
			return
		}
		grown := make([]twinEntry, min(max(16, 2*len(c.ring)), maxTwins))
		for k := range c.n {
			grown[k] = c.ring[(c.start+k)%len(c.ring)]
		}
		c.ring, c.start = grown, 0
	}
	c.ring[(c.start+c.n)%len(c.ring)] = e
	c.n++
}

// get returns the result of the latest token_ok of ev's request, when ev is
// a grace reuse logged within twinGap after it.
func (c *twinCache) get(ev *parser.Event) (result, bool) {
	if ev.Kind != parser.KindGraceReuse {
		return result{}, false // only a reuse has a twin to look up
	}
	key := keyOf(ev)
	for k := range c.n {
		e := c.newest(k)
		if ev.Time.Sub(e.hw) > twinGap {
			break
		}
		if e.key != key {
			continue
		}
		if ev.Time.Sub(e.at) > twinGap || ev.Time.Before(e.at) {
			return result{}, false
		}
		return e.res, true
	}
	return result{}, false
}

// trim keeps only the entries a reuse still to be read could look up: those
// within twinGap of the newest line put (a reuse is logged microseconds
// after its twin, in the same log; twinKeep's allowance is for a source
// lagging while others are read, and an idle watcher has read them all),
// in a ring no larger than they need. A burst of token_ok lines otherwise
// keeps its ring (up to maxTwins entries and the strings they hold) for as
// long as the watcher idles.
func (c *twinCache) trim() {
	if c.n == 0 {
		c.ring, c.start = nil, 0
		return
	}
	newest := c.newest(0).hw
	keep := 0
	for keep < c.n && newest.Sub(c.newest(keep).hw) <= twinGap {
		keep++
	}
	ring := make([]twinEntry, max(keep, 1))
	for k := range keep {
		ring[keep-1-k] = *c.newest(k)
	}
	c.ring, c.start, c.n = ring, 0, keep
}
