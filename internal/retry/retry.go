// Package retry owns the wait between two attempts of graceguard's retry
// loops (the sinks' deliveries, the responder's API calls, the Kubernetes
// log source's reconnects): a wait that ends early when the context does.
//
// It must not decide whether or how long to wait: each loop classifies its
// own failures and computes its own backoff, because a receiver's quirks
// (Slack's rate limits, the API server's watch ends) are the loop's
// business.
package retry

import (
	"context"
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
