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
	ring []twinEntry // grows to maxTwins, then wraps
	next int         // where the next put goes once the ring is full
}

func keyOf(ev *parser.Event) twinKey { return twinKey{ev.Source, ev.Thread, ev.Session} }

func sameRequest(a, b *parser.Event) bool { return keyOf(a) == keyOf(b) }

func (c *twinCache) put(ev *parser.Event, res result) {
	e := twinEntry{key: keyOf(ev), at: ev.Time, hw: ev.Time, res: res}
	if n := len(c.ring); n > 0 {
		if prev := c.ring[(c.next+n-1)%n]; prev.hw.After(e.hw) {
			e.hw = prev.hw
		}
	}
	if len(c.ring) < maxTwins {
		c.ring = append(c.ring, e)
		return
	}
	c.ring[c.next] = e
	c.next = (c.next + 1) % len(c.ring)
}

// get returns the result of the latest token_ok of ev's request, when ev is
// a grace reuse logged within twinGap after it.
func (c *twinCache) get(ev *parser.Event) (result, bool) {
	if ev.Kind != parser.KindGraceReuse {
		return result{}, false // only a reuse has a twin to look up
	}
	n := len(c.ring)
	key := keyOf(ev)
	for k := 1; k <= n; k++ {
		e := &c.ring[(c.next+n-k)%n]
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
