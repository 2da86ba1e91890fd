package attribute

import (
	"slices"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// OpenUnison logs a grace reuse as an [AzSuccess] and an
// [ExpiredRefreshTokenUsed] line for one request (same source, thread and
// session id, microseconds apart): one proxy record, matched once.

// twinGap is how far apart the two lines of one request may be logged.
const twinGap = time.Second

// twinHold is how long behind the newest line of its own source a line is
// kept: twinGap, and as much again for a log's lines written a little out
// of order by its threads.
const twinHold = 2 * twinGap

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
	return &c.ring[c.wrap(c.start+c.n-1-k)]
}

// wrap is i, from 0 to twice the ring's size, as a place in the ring: a
// compare where % divides, on every put.
func (c *twinCache) wrap(i int) int {
	if i >= len(c.ring) {
		i -= len(c.ring)
	}
	return i
}

// put is called for every token_ok: the line is written in its place in
// the ring, not built aside and copied in (an entry is some 200 bytes).
func (c *twinCache) put(ev *parser.Event, res result) {
	hw := ev.Time
	if c.n > 0 {
		if h := c.newest(0).hw; h.After(hw) {
			hw = h
		}
	}
	var e *twinEntry
	if c.n == len(c.ring) && !c.makeRoom(ev, &hw) {
		// The oldest goes: too old to be needed, or the cap.
		e = &c.ring[c.start]
		c.start = c.wrap(c.start + 1)
	} else {
		e = &c.ring[c.wrap(c.start+c.n)]
		c.n++
	}
	e.key, e.at, e.hw, e.res = keyOf(ev), ev.Time, hw, res
}

// makeRoom makes room in a full ring for ev's line, whose hw is *hw, or
// reports that its oldest line is to be overwritten: it is more than
// twinKeep behind hw, or the ring is at its cap. Below the cap the lines
// whose own log has moved on go first (compact), and *hw is then the
// running maximum over the lines kept; the ring grows only when that frees
// less than a quarter of it, so a catch-up of many files does not grow it
// to maxTwins (every line's hw is then the newest file's), and compacting
// costs a few steps a put.
func (c *twinCache) makeRoom(ev *parser.Event, hw *time.Time) bool {
	size := len(c.ring)
	// Before, not Sub: a full ring is the usual state of a long scan.
	if size == maxTwins || c.n > 0 && c.ring[c.start].at.Add(twinKeep).Before(*hw) {
		return false
	}
	if c.n > 0 {
		c.compact(&twinEntry{key: keyOf(ev), at: ev.Time}, size)
		*hw = ev.Time
		if c.n > 0 && c.newest(0).hw.After(*hw) {
			*hw = c.newest(0).hw
		}
		if c.n <= size*3/4 {
			return true
		}
	}
	grown := make([]twinEntry, min(max(16, 2*size), maxTwins))
	for k := range c.n {
		grown[k] = c.ring[(c.start+k)%len(c.ring)]
	}
	c.ring, c.start = grown, 0
	return true
}

// compact keeps, in order, in a ring of size entries, the lines a reuse
// could still be the twin of: those within twinHold of the newest line of
// their own source (a reuse is logged microseconds after its twin, in the
// same log, so a source that has moved well past a line brings none for
// it); next, when set, is the line about to be put. Each line's hw
// is the running maximum again, over the lines kept.
func (c *twinCache) compact(next *twinEntry, size int) {
	newest := make(map[string]time.Time, 8)
	note := func(e *twinEntry) {
		if t, ok := newest[e.key.source]; !ok || e.at.After(t) {
			newest[e.key.source] = e.at
		}
	}
	for k := range c.n {
		note(c.newest(k))
	}
	if next != nil {
		note(next)
	}
	kept := make([]twinEntry, 0, size)
	for k := c.n - 1; k >= 0; k-- {
		e := *c.newest(k)
		if newest[e.key.source].Sub(e.at) > twinHold {
			continue
		}
		e.hw = e.at
		if len(kept) > 0 && kept[len(kept)-1].hw.After(e.hw) {
			e.hw = kept[len(kept)-1].hw
		}
		kept = append(kept, e)
	}
	c.ring, c.start, c.n = kept[:size], 0, len(kept)
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

// trim is compact for an idle watcher, in a ring no larger than the lines
// kept: every source has been read to its end, so the lines a reuse still
// to come could be the twin of are the last twinHold of each. A burst of
// token_ok lines otherwise keeps its ring (up to maxTwins entries and the
// strings they hold) for as long as the watcher idles.
func (c *twinCache) trim() {
	if c.n == 0 {
		c.ring, c.start = nil, 0
		return
	}
	c.compact(nil, c.n)
	c.ring = slices.Clip(c.ring[:c.n])
}
