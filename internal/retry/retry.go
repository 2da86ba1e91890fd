// Package retry owns the wait between two attempts of graceguard's retry
// loops (the sinks' deliveries, the responder's API calls, the Kubernetes
// log source's reconnects): a wait that ends early when the context does,
// and the reading of a server's Retry-After header, which the loops that
// honour it (the sinks' for Slack and webhooks, the responder's for the
// API server) read alike.
//
// It must not decide whether or how long to wait: each loop classifies its
// own failures, caps what a server asks and computes its own backoff,
// because a receiver's quirks (Slack's rate limits, the API server's watch
// ends) are the loop's business.
package retry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sleep waits d, or until ctx ends, and returns ctx's error in that case.
// A d of zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// After reads a Retry-After header's value as seconds or as an HTTP date
// (RFC 9110 allows both), a date relative to now; a date already past
// reads as 0. ok is false for an empty, negative or malformed value.
func After(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		// A value past what a Duration holds is as good as for ever.
		return time.Duration(min(s, int64(maxSeconds))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// maxSeconds is the most seconds a Duration holds.
const maxSeconds = int64(1<<63-1) / int64(time.Second)
