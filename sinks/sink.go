// Package sinks delivers alerts: to a terminal or a file as text, JSON or
// Elastic Common Schema lines, to a webhook, to a syslog collector and to
// Slack.
//
// What it owns: how and where an alert goes, and that it gets there. Each
// sink (Writer, Slack, Webhook, File, Syslog) knows one receiver's format and
// makes one attempt per call; it never retries or sleeps on its own. The
// Dispatcher gives every sink a bounded queue and a worker, retries what
// failed (classified apart from the loop in retry.go), writes what it gives
// up on to a dead-letter file, never sends an alert id a sink already took,
// and keeps what is queued in the state directory across restarts.
//
// Sent once: the Ledger (ledger.go) is the one record of which alerts left;
// the watcher asks it, with the other watchers' claims, before any alert
// goes anywhere, and writes a fresh group to it whole ("leaving") before
// handing it to any sink. Per sink, across kill -9: the file sink is
// exactly-once (journalled before the write, its tail checked at start-up),
// webhook, Slack and syslog are at-least-once (journalled before, marked
// done after the receiver's yes; a kill between the two repeats that group,
// with the same id), stdout is at-least-once (a kill between its write and
// the ledger's "printed" record prints that group again at the restart,
// which hands every group left "leaving" out again).
//
// What it must not do: decide whether an alert matters. Severity is the
// rules' call; the only filters here are a sink's own minimum severity, rule
// list and optional throttle, which an operator sets per sink. Nor does it
// read the command line or the environment: each sink type declares its
// flags (Flags.AddFlags), and cmd/graceguard parses them, applies the
// environment and config file, and hands the config's sinks: list to
// DecodeConfig. Each sink type's config lives beside the sink, registered
// in registry.go.
//
// Secrets (webhook URLs, tokens, HMAC keys) are held as Secret and scrubbed
// from every error a sink returns, because net/http's errors quote the URL
// and a webhook URL is itself the credential; the scrubber also knows the
// encodings the sinks produce (a URL's userinfo as Basic auth's base64).
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
