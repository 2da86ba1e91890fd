package pipeline

// With a shared store, each alert is sent by one watcher: the first to
// claim it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// Claimer dedups alerts across watchers that share a store.
type Claimer interface {
	// Claim marks id as sent for ttl; false when it was claimed before.
	Claim(ctx context.Context, id string, ttl time.Duration) (bool, error)
	// Unclaim releases an id whose delivery failed.
	Unclaim(ctx context.Context, id string) error
}

// claimTTL is how long a sent alert id stays claimed: longer than any
// watcher takes to come back and re-read a line.
const claimTTL = 7 * 24 * time.Hour

// claim asks the other watchers' consent to send an alert. When the store
// cannot answer the alert is sent: a duplicate beats a loss.
func (w *Watcher) claim(ctx context.Context, a alert.Alert) bool {
	if w.opt.Claims == nil {
		return true
	}
	ok, err := w.opt.Claims.Claim(ctx, claimKey(a), claimTTL)
	if err != nil {
		w.log.Warn("could not claim an alert; sending it anyway", "id", a.ID, "err", err)
		return true
	}
	return ok
}

// claimKey names an alert across watchers by the request it is about, not
// by where it was read: a sidecar reading the pod's log file (alert ids
// from device and inode) and a central watcher reading the same lines
// through the API (ids from the container) must claim the same key.
// OpenUnison's bracketed request id and the millisecond make the request
// unique; rule, user and address keep the key honest where it is "null".
func claimKey(a alert.Alert) string {
	h := sha256.New()
	for _, part := range []string{a.Rule, a.IdP, a.User, a.Time.UTC().Format(time.RFC3339Nano), a.IP, a.Session} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// unclaim releases the ids of alerts that were not delivered, so that a
// later read of their lines can send them.
func (w *Watcher) unclaim(ctx context.Context, group []alert.Alert) {
	if w.opt.Claims == nil {
		return
	}
	for _, a := range group {
		if err := w.opt.Claims.Unclaim(ctx, claimKey(a)); err != nil {
			w.log.Warn("could not release an alert's claim", "id", a.ID, "err", err)
		}
	}
}
