package respond

import (
	"fmt"
	"sync"
	"time"
)

// Limit is at most N revocations per Per; N 0 means no limit.
type Limit struct {
	N   int
	Per time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.N, l.Per) }

// maxLimitedUsers bounds the per-user memory; the user whose last
// revocation is oldest is forgotten first (counted as an eviction).
const maxLimitedUsers = 10_000

// limiter holds back revocations beyond the per-user and overall limits.
// Windows slide: a revocation counts for Per after it was allowed.
type limiter struct {
	perUser, overall Limit
	maxUsers         int

	mu      sync.Mutex
	users   map[string][]time.Time // by DN hash, oldest first
	all     []time.Time
	evicted uint64
}

func newLimiter(perUser, overall Limit) *limiter {
	return &limiter{perUser: perUser, overall: overall, maxUsers: maxLimitedUsers, users: map[string][]time.Time{}}
}

// allow records a revocation for user at now, or says which limit holds
// it back (per_user or overall) and why.
func (l *limiter) allow(user string, now time.Time) (ok bool, kind, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := prune(l.users[user], now, l.perUser.Per)
	l.all = prune(l.all, now, l.overall.Per)
	if l.perUser.N > 0 && len(recent) >= l.perUser.N {
		l.users[user] = recent
		return false, "per_user", fmt.Sprintf("per-user limit %s: last ended %s ago", l.perUser, now.Sub(recent[len(recent)-1]).Round(time.Second))
	}
	if l.overall.N > 0 && len(l.all) >= l.overall.N {
		return false, "overall", "overall limit " + l.overall.String()
	}
	// A window without a limit keeps nothing: its memory stays bounded
	// by the limit it enforces.
	if l.perUser.N > 0 {
		if _, known := l.users[user]; !known && len(l.users) >= l.maxUsers {
			l.evictLocked()
		}
		l.users[user] = append(recent, now)
	}
	if l.overall.N > 0 {
		l.all = append(l.all, now)
	}
	return true, "", ""
}

// release gives back a revocation allowed at at that ended nothing (it
// failed): the limits count sessions ended, and a failed try must not hold
// back the next one, after the API answers again, for a whole window.
func (l *limiter) release(user string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts, ok := l.users[user]; ok {
		// A user left with nothing is forgotten: kept, it would take a
		// place in the bounded memory and be counted as evicted later.
		if ts = dropTime(ts, at); len(ts) == 0 {
			delete(l.users, user)
		} else {
			l.users[user] = ts
		}
	}
	l.all = dropTime(l.all, at)
}

// dropTime removes one occurrence of at from ts.
func dropTime(ts []time.Time, at time.Time) []time.Time {
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			return append(ts[:i:i], ts[i+1:]...)
		}
	}
	return ts
}

func prune(ts []time.Time, now time.Time, per time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= per {
		i++
	}
	return ts[i:]
}

func (l *limiter) evictLocked() {
	var oldest string
	var at time.Time
	for u, ts := range l.users {
		last := time.Time{}
		if len(ts) > 0 {
			last = ts[len(ts)-1]
		}
		if oldest == "" || last.Before(at) {
			oldest, at = u, last
		}
	}
	delete(l.users, oldest)
	l.evicted++
}
