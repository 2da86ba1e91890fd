package respond

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	status := func(code int) error { return fmt.Errorf("list sessions: %w", apiError(code, nil)) }
	asked := func(code int, after time.Duration) error {
		return fmt.Errorf("delete sessions: %w", &retryAfterError{apiError(code, nil), after})
	}
	for _, tt := range []struct {
		name string
		err  error
		want verdict
		wait time.Duration
	}{
		{"429 waits its Retry-After", asked(429, time.Second), retryAfter, time.Second},
		{"429 asking too long waits the cap", asked(429, time.Hour), retryAfter, maxRetryAfter},
		{"429 with Retry-After 0 backs off", asked(429, 0), retryLater, 0},
		{"429 without Retry-After backs off", status(429), retryLater, 0},
		{"503 backs off", status(503), retryLater, 0},
		{"503 with Retry-After backs off", asked(503, 5*time.Second), retryLater, 0},
		{"500 backs off", status(500), retryLater, 0},
		{"408 backs off", status(408), retryLater, 0},
		{"401 is final", status(401), final, 0},
		{"403 is final", status(403), final, 0},
		{"404 is final", status(404), final, 0},
		{"422 is final", status(422), final, 0},
		{"410, a list that outlived its continue token, backs off", status(410), retryLater, 0},
		{"a network error backs off", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, retryLater, 0},
		{"a request timeout backs off", fmt.Errorf("list sessions: %w", context.DeadlineExceeded), retryLater, 0},
		{"a malformed answer backs off", errors.New("decode GET response: unexpected end of JSON input"), retryLater, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v, wait := classify(tt.err); v != tt.want || wait != tt.wait {
				t.Errorf("classify(%v) = %v, %v; want %v, %v", tt.err, v, wait, tt.want, tt.wait)
			}
		})
	}
}

// A Retry-After longer than the cap is waited for the cap only, and a
// shutdown ends the wait at once.
func TestLongRetryAfterIsCappedAndEndsWithTheContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Severity: alert.High, Wait: time.Millisecond})
	h.api.ThrottleOidc(1, 3600)
	h.send(replay(victim, alert.Critical))
	waitFor(t, "the retry to be logged", func() bool { return strings.Contains(h.log.String(), "retrying") })
	if log := h.log.String(); !strings.Contains(log, fmt.Sprintf(`"retry_in":%d`, maxRetryAfter)) {
		t.Errorf("the retry does not wait the cap, %s:\n%s", maxRetryAfter, log)
	}
	h.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.r.Close(ctx); err != nil {
		t.Fatalf("close during a Retry-After wait: %v", err)
	}
	if log := h.log.String(); !strings.Contains(log, "could not end sessions") || !strings.Contains(log, "context canceled") {
		t.Errorf("the revocation cut short does not say so:\n%s", log)
	}
	if n := len(h.api.OidcRequests()); n != 1 {
		t.Errorf("%d requests, want the one refused", n)
	}
}
