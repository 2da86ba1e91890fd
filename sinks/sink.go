// Package sinks delivers alerts: to a terminal or file as text or JSON lines
// now, to webhooks and Slack as they come. A sink decides how and where an
// alert goes, never whether it matters: severity is the rules' call, and the
// only filter here is a sink's own minimum severity.
package sinks

import (
	"context"

	"github.com/graceguard/graceguard/alert"
)

// Sink delivers alerts. Send takes the alerts one log event raised, most
// severe first, so a sink that posts messages can post one per event.
type Sink interface {
	Send(ctx context.Context, group []alert.Alert) error
	Close(ctx context.Context) error
}
