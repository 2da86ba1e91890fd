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

// maxTwins caps the matched AzSuccess lines remembered.
const maxTwins = 10_000

type twinKey struct{ source, thread, session string }

type twinEntry struct {
	at  time.Time
	res result
}

type twinCache struct{ m map[twinKey]twinEntry }

func keyOf(ev *parser.Event) twinKey { return twinKey{ev.Source, ev.Thread, ev.Session} }

func sameRequest(a, b *parser.Event) bool { return keyOf(a) == keyOf(b) }

func (c *twinCache) put(ev *parser.Event, res result) {
	if c.m == nil {
		c.m = map[twinKey]twinEntry{}
	}
	if len(c.m) >= maxTwins {
		for k, e := range c.m {
			if ev.Time.Sub(e.at) > twinGap {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxTwins {
			clear(c.m)
		}
	}
	c.m[keyOf(ev)] = twinEntry{at: ev.Time, res: res}
}

func (c *twinCache) get(ev *parser.Event) (result, bool) {
	e, ok := c.m[keyOf(ev)]
	if !ok || ev.Time.Sub(e.at) > twinGap || ev.Time.Before(e.at) {
		return result{}, false
	}
	return e.res, true
}
