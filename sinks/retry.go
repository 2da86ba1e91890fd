package sinks

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/graceguard/graceguard/internal/retry"
)

// verdict is what the Dispatcher's retry loop does after a failed attempt.
// Deciding it lives here, apart from the loop, so each receiver's quirks
// (Slack's error codes, HTTP statuses) are listed in one place and tested
// without timing anything.
type verdict int

const (
	// retryLater backs off exponentially, with jitter, until the alert's
	// max age. Network errors, timeouts and 5xx are here, and so are
	// errors that fail every message alike (a revoked token, an archived
	// channel, a 404 webhook): an operator can fix those, and what waited
	// meanwhile is sent after a restart instead of being thrown away.
	retryLater verdict = iota
	// retryAfter waits exactly what the receiver asked (429 Retry-After).
	retryAfter
	// giveUp dead-letters the message at once: it is malformed or too big
	// and would fail the same way forever, blocking the queue behind it.
	giveUp
)

func (v verdict) String() string {
	return [...]string{"retry", "retry-after", "give-up"}[v]
}

// classify reads a failed attempt's error. wait is set for retryAfter.
func classify(err error) (v verdict, wait time.Duration) {
	var (
		perm   *permanentError
		status *statusError
		rl     *slack.RateLimitedError
		sce    slack.StatusCodeError
		ser    slack.SlackErrorResponse
	)
	switch {
	case errors.As(err, &perm):
		return giveUp, 0
	case errors.As(err, &rl) && rl.RetryAfter > 0:
		return retryAfter, rl.RetryAfter
	case errors.As(err, &rl):
		// "Retry-After: 0", or an HTTP date already past (the server's
		// clock behind ours): waiting exactly that would ask again at
		// once, and again, while the limit holds. Backed off, as a 429
		// without Retry-After is.
		return retryLater, 0
	case errors.As(err, &status) && status.SinkWide:
		return retryLater, 0
	case errors.As(err, &status):
		return classifyStatus(status.Code, status.RetryAfter)
	case errors.As(err, &sce):
		return classifyStatus(sce.Code, 0)
	case errors.As(err, &ser):
		return classifySlackError(ser.Err), 0
	}
	// Network errors, timeouts, resets, malformed bodies: the receiver may
	// be fine a moment later.
	return retryLater, 0
}

func classifyStatus(code int, after time.Duration) (verdict, time.Duration) {
	switch {
	case code == http.StatusTooManyRequests && after > 0:
		return retryAfter, after
	case code == http.StatusBadRequest, code == http.StatusRequestEntityTooLarge,
		code == http.StatusUnsupportedMediaType, code == http.StatusUnprocessableEntity:
		return giveUp, 0
	}
	return retryLater, 0
}

// Slack Web API error codes that belong to one message, not to the sink:
// sending the same message again would fail the same way.
var slackMessageErrors = map[string]bool{
	"invalid_blocks": true, "invalid_blocks_format": true, "msg_too_long": true, "no_text": true,
	"too_many_attachments": true, "invalid_arguments": true, "invalid_form_data": true,
	"invalid_post_type": true, "invalid_metadata_format": true, "invalid_metadata_schema": true,
	"metadata_too_large": true, "too_many_blocks": true,
}

func classifySlackError(code string) verdict {
	if slackMessageErrors[code] {
		return giveUp
	}
	return retryLater
}

// backoff is the wait before retry number attempt (0 for the first):
// min·2^attempt, capped at max, of which a random half is jitter, so many
// graceguard replicas recovering at once do not hit the receiver in step.
func backoff(attempt int, lo, hi time.Duration, random func() float64) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(random()*float64(d/2))
}

// statusError is an HTTP answer other than success from a receiver the
// sinks speak to directly (webhooks, Slack's incoming webhooks).
type statusError struct {
	Code       int
	Body       string        // the start of the body, scrubbed of secrets by the sink
	RetryAfter time.Duration // from Retry-After, when the receiver sent one
	// SinkWide marks an answer about the sink (its team, its hook), not
	// the message, whatever its status: every message would fail alike, so
	// it is retried like an outage, not dead-lettered.
	SinkWide bool
	// Location is where a redirect points, redacted as a secret URL is
	// (scheme and host): enough to see http went to https or the endpoint
	// moved host, without the key a new path may hold.
	Location string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Code/100 == 3 {
		to := ""
		if e.Location != "" {
			to = " to " + e.Location
		}
		msg += " (a redirect" + to + ", not followed: set the URL to where it points)"
	}
	return msg
}

// newStatusError reads a failed response's status, Retry-After and the
// start of its body.
func newStatusError(resp *http.Response, body []byte, now time.Time) *statusError {
	e := &statusError{Code: resp.StatusCode, Body: oneLine(string(body), 200)}
	if d, ok := retry.After(resp.Header.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	if loc := resp.Header.Get("Location"); e.Code/100 == 3 && loc != "" && resp.Request != nil {
		if u, err := resp.Request.URL.Parse(loc); err == nil {
			e.Location = redact(u.String())
		}
	}
	return e
}

// permanentError marks a failure no retry can cure (an alert that cannot
// be encoded, a message over the receiver's size limit).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// oneLine shortens text for an error message: the first n bytes, newlines
// folded, cut at a rune boundary.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
