package pipeline

// With a shared store, each alert is sent by one watcher: the first to
// claim it. The claims go through the delivery ledger (sinks.Ledger), the
// one place that decides whether an alert was sent.

import "github.com/graceguard/graceguard/sinks"

// Claimer dedups alerts across watchers that share a store.
type Claimer = sinks.Claimer
