package sinks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	scrub := newScrubber("https://hooks.example/services/T0/B0/secretsecretsecret")
	tests := []struct {
		name string
		err  error
		want verdict
		wait time.Duration
	}{
		{"slack 429", &slack.RateLimitedError{RetryAfter: 30 * time.Second}, retryAfter, 30 * time.Second},
		{"slack 429 with Retry-After 0 or a date past backs off", &slack.RateLimitedError{}, retryLater, 0},
		{"429 with Retry-After", &statusError{Code: 429, RetryAfter: 7 * time.Second}, retryAfter, 7 * time.Second},
		{"429 without Retry-After backs off", &statusError{Code: 429}, retryLater, 0},
		{"500", &statusError{Code: 500}, retryLater, 0},
		{"503 wrapped and scrubbed", scrub.wrap(fmt.Errorf("slack webhook: %w", &statusError{Code: 503})), retryLater, 0},
		{"408", &statusError{Code: 408}, retryLater, 0},
		{"400 bad payload", &statusError{Code: 400, Body: "invalid_payload"}, giveUp, 0},
		{"413 too large", &statusError{Code: 413}, giveUp, 0},
		{"403 webhook revoked: operator can fix", &statusError{Code: 403, Body: "invalid_token"}, retryLater, 0},
		{"404 no such hook: operator can fix", &statusError{Code: 404, Body: "no_service"}, retryLater, 0},
		{"410 archived channel", &statusError{Code: 410, Body: "channel_is_archived"}, retryLater, 0},
		{"slack 5xx", slack.StatusCodeError{Code: 502, Status: "502 Bad Gateway"}, retryLater, 0},
		{"slack invalid_blocks", slack.SlackErrorResponse{Err: "invalid_blocks"}, giveUp, 0},
		{"slack msg_too_long", fmt.Errorf("post: %w", slack.SlackErrorResponse{Err: "msg_too_long"}), giveUp, 0},
		{"slack channel_not_found", slack.SlackErrorResponse{Err: "channel_not_found"}, retryLater, 0},
		{"slack not_in_channel", slack.SlackErrorResponse{Err: "not_in_channel"}, retryLater, 0},
		{"slack internal_error", slack.SlackErrorResponse{Err: "internal_error"}, retryLater, 0},
		{"connection refused", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, retryLater, 0},
		{"timeout", &url.Error{Op: "Post", URL: "http://x", Err: context.DeadlineExceeded}, retryLater, 0},
		{"truncated body", io.ErrUnexpectedEOF, retryLater, 0},
		{"cannot encode", permanent(errors.New("json: unsupported value")), giveUp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, wait := classify(tt.err)
			if v != tt.want || wait != tt.wait {
				t.Errorf("classify(%v) = %v, %v; want %v, %v", tt.err, v, wait, tt.want, tt.wait)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		random  float64
		want    time.Duration
	}{
		{0, 0, 500 * time.Millisecond},
		{0, 1, time.Second},
		{1, 1, 2 * time.Second},
		{3, 0.5, 6 * time.Second},
		{6, 1, time.Minute},
		{60, 0, 30 * time.Second}, // capped, and no overflow
	}
	for _, tt := range tests {
		if got := backoff(tt.attempt, time.Second, time.Minute, func() float64 { return tt.random }); got != tt.want {
			t.Errorf("backoff(%d, random %v) = %v, want %v", tt.attempt, tt.random, got, tt.want)
		}
	}
}

func TestStatusErrorReadsResponse(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"12"}}}
	e := newStatusError(resp, []byte("rate_limited\n\n please slow down"), time.Now())
	if e.RetryAfter != 12*time.Second || e.Error() != "HTTP 429 Too Many Requests: rate_limited please slow down (retry after 12s)" {
		t.Errorf("%+v: %v", e, e)
	}
}
