package sinks

import (
	"fmt"
	"strings"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/keycap"
)

// throttle lets one alert per key through per window and counts the rest,
// so the next alert let through can say how many were held back. It runs on
// the alerts' own clock, as the rules' throttle does, so a scan of last
// week's log throttles as production would have.
type throttle struct {
	window  time.Duration
	key     []string
	entries map[string]*throttleEntry
	sweeps  int   // full passes over entries (evict)
	evicted int64 // keys dropped at the cap, expired or not (evict)
}

type throttleEntry struct {
	start      time.Time // of the alert that opened the window
	suppressed int
}

// maxThrottleKeys bounds the throttle's memory under a flood of new users;
// at it, evict frees throttleEvictBatch keys at once.
const (
	maxThrottleKeys    = 10_000
	throttleEvictBatch = maxThrottleKeys / 10
)

// throttleFields are the alert fields a throttle key can be made of.
var throttleFields = []string{"rule", "user", "ip", "prev_ip", "idp", "source", "severity"}

func newThrottle(window time.Duration, key []string) *throttle {
	return &throttle{window: window, key: key, entries: map[string]*throttleEntry{}}
}

func throttleField(a *alert.Alert, field string) string {
	switch field {
	case "rule":
		return a.Rule
	case "user":
		return a.IdP + "\x00" + a.User
	case "ip":
		return a.IP
	case "prev_ip":
		return a.PrevIP
	case "idp":
		return a.IdP
	case "source":
		return a.Source
	case "severity":
		return a.Severity.String()
	}
	return ""
}

// admit reports whether a goes through. An alert let through after some
// were held back gets "N more suppressed since T" added to its summary.
func (t *throttle) admit(a *alert.Alert) bool {
	parts := make([]string, len(t.key))
	for i, f := range t.key {
		parts[i] = throttleField(a, f)
	}
	k := strings.Join(parts, "\x01")
	e := t.entries[k]
	if e != nil {
		d := a.Time.Sub(e.start)
		if d < t.window && d > -t.window {
			e.suppressed++
			return false
		}
		if e.suppressed > 0 {
			note := fmt.Sprintf("%d more suppressed since %s", e.suppressed, e.start.UTC().Format(time.RFC3339))
			if a.Summary == "" {
				a.Summary = note
			} else {
				a.Summary += " (" + note + ")"
			}
		}
		e.start, e.suppressed = a.Time, 0
		return true
	}
	if len(t.entries) >= maxThrottleKeys {
		t.evict(a.Time)
	}
	t.entries[k] = &throttleEntry{start: a.Time}
	return true
}

// evict makes room at the cap: the keys whose window is over go, then the
// oldest, throttleEvictBatch at once (keycap.Evict says why and in which
// order).
func (t *throttle) evict(now time.Time) {
	t.sweeps++
	n := keycap.Evict(t.entries, func(e *throttleEntry) time.Time { return e.start }, now, t.window, maxThrottleKeys-throttleEvictBatch)
	t.evicted += int64(n)
}
