package sinks

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		secret Secret
		shown  string
		parts  []string // must not appear
	}{
		{"https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX", "https://hooks.slack.com/…", []string{"XXXXXXXX", "services"}},
		{"xoxb-1234-5678-abcdefabcdef", "xoxb-…", []string{"1234", "abcdef"}},
		{"https://user:pa55word@siem.example:8443/ingest?token=t0ps3cret", "https://siem.example:8443/…", []string{"pa55word", "t0ps3cret", "user"}},
		{"hmac-shared-key", "…", []string{"hmac"}},
	}
	for _, tt := range tests {
		opts := struct{ URL, Token Secret }{tt.secret, tt.secret}
		js, _ := json.Marshal(opts)
		var logged strings.Builder
		slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", tt.secret, "opts", opts)
		for _, out := range []string{
			tt.secret.String(), fmt.Sprint(tt.secret), fmt.Sprintf("%v %+v %#v %s", opts, opts, opts, tt.secret),
			string(js), logged.String(),
		} {
			for _, p := range tt.parts {
				if strings.Contains(out, p) {
					t.Errorf("%q shows %q", out, p)
				}
			}
		}
		if tt.secret.String() != tt.shown {
			t.Errorf("String() = %q, want %q", tt.secret.String(), tt.shown)
		}
	}
}

func TestScrubberOnErrors(t *testing.T) {
	t.Parallel()
	hook := "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
	s := newScrubber(hook, "xoxb-1234-5678-abcdefabcdef")
	inner := errors.New("boom")
	tests := []error{
		&url.Error{Op: "Post", URL: hook, Err: inner},
		fmt.Errorf("server said: no hook at /services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"),
		fmt.Errorf("token=%s rejected", url.QueryEscape("xoxb-1234-5678-abcdefabcdef")),
		fmt.Errorf("quoted %q", hook),
	}
	for _, err := range tests {
		got := s.wrap(err)
		if strings.Contains(got.Error(), "XXXXXXXX") || strings.Contains(got.Error(), "abcdef") {
			t.Errorf("%q leaks a secret", got)
		}
		if !errors.Is(got, err) {
			t.Errorf("%v: the chain is lost", got)
		}
	}
}
