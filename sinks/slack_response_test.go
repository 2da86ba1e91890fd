package sinks

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/graceguard/graceguard/alert"
)

// The message shows what graceguard did about the event: the sessions it
// ended (or would have, in a dry run), or why it did not.
func TestSlackShowsTheResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *alert.Response
		want string
	}{
		{"none", nil, ""},
		{"ended", &alert.Response{Action: "end_sessions", Status: alert.ResponseEnded, Sessions: 2}, "*Response*\nSessions ended: 2"},
		{"dry run", &alert.Response{Action: "end_sessions", Status: alert.ResponseDryRun, DryRun: true, Sessions: 2}, "*Response*\nSessions ended: 2 (dry run)"},
		{"failed", &alert.Response{Action: "end_sessions", Status: alert.ResponseFailed, Error: "kubernetes API: 503 <Service Unavailable>"},
			"*Response*\nSessions not ended: kubernetes API: 503 &lt;Service Unavailable&gt;"},
		{"held back", &alert.Response{Action: "end_sessions", Status: alert.ResponseHeldBack, HeldBack: "overall limit 10 per 1m0s"},
			"*Response*\nSessions not ended: held back (overall limit 10 per 1m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := plain("x")
			a.Response = tt.res
			_, blocks := slackMessage([]alert.Alert{a}, "")
			var got string
			for _, b := range blocks {
				if s, ok := b.(*slack.SectionBlock); ok {
					for _, f := range s.Fields {
						if strings.HasPrefix(f.Text, "*Response*") {
							got = f.Text
						}
					}
				}
			}
			if got != tt.want {
				t.Errorf("response field %q, want %q", got, tt.want)
			}
		})
	}
}
