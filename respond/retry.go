package respond

import (
	"errors"
	"net/http"
	"time"
)

// verdict is what the revocation's retry loop (Responder.work) does after a
// failed attempt. Deciding it lives here, apart from the loop, so that the
// API server's answers are sorted in one place and tested without timing
// anything.
type verdict int

const (
	// retryLater backs off exponentially, with jitter: the server is
	// overloaded or away (5xx, 408, a 429 that did not say how long), the
	// network failed, or a list outlived its continue token twice (410: a
	// slow API server, or two etcd compactions; the next list may pass).
	retryLater verdict = iota
	// retryAfter waits what the server asked (a 429's Retry-After), at
	// most maxRetryAfter.
	retryAfter
	// final ends the revocation as failed at once: the API server answered
	// and will answer the same again (401 or 403: graceguard's credentials
	// or its RBAC; 404: OpenUnison's CRD is not installed; any other 4xx
	// but 408, 410 and 429).
	// The API is up: alerts go on waiting for the outcome, which comes at
	// once, rather than leaving "pending" as during an outage.
	final
)

func (v verdict) String() string {
	return [...]string{"retry", "retry-after", "final"}[v]
}

// maxRetryAfter caps the wait a 429 asks for. The API server's filters ask
// for 1 second; a larger value (a proxy's, a misconfiguration's) must not
// hold the one worker, and every revocation queued behind it, for longer.
const maxRetryAfter = 30 * time.Second

// classify reads a failed attempt's error. wait is set for retryAfter.
func classify(err error) (v verdict, wait time.Duration) {
	var ae *APIError
	if !errors.As(err, &ae) {
		// A network error, a timeout, a cut or malformed response: the
		// next try may pass.
		return retryLater, 0
	}
	switch {
	case ae.Code == http.StatusTooManyRequests:
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > 0 {
			return retryAfter, min(ra.after, maxRetryAfter)
		}
		// No Retry-After, or 0 (or a date already past): waiting that
		// would ask again at once while the limit holds.
		return retryLater, 0
	case ae.Code == http.StatusRequestTimeout, ae.Code == http.StatusGone, ae.Code >= 500:
		return retryLater, 0
	}
	return final, 0
}
