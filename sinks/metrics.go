package sinks

import "github.com/graceguard/graceguard/prom"

// Metrics are what the Dispatcher counts per sink, in Prometheus form
// (package prom). Counts are of alerts, not messages, except retries
// (attempts) and the queue (groups waiting), so a digest of forty alerts
// counts forty sent.
type Metrics struct {
	Sent         *prom.CounterVec // by sink
	Retried      *prom.CounterVec // failed attempts that will be tried again, by sink
	Failed       *prom.CounterVec // alerts given up on after an error, by sink
	DeadLettered *prom.CounterVec // alerts written to the dead-letter file, by sink and reason
	Suppressed   *prom.CounterVec // alerts held back by the sink's own throttle, by sink
	// ThrottleEvicted counts the keys a sink's throttle forgot at its cap
	// (10,000), by sink: each may let one alert through early.
	ThrottleEvicted *prom.CounterVec
	Duplicates      *prom.CounterVec // alerts already delivered or queued, not queued again, by sink
	Queue           *prom.GaugeVec   // groups waiting, by sink
}

// NewMetrics registers the delivery metrics with reg. The names differ from
// pipeline's graceguard_sink_deliveries_total and _failures_total, which
// count what the watcher handed over, so both can share one registry.
func NewMetrics(reg *prom.Registry) *Metrics {
	m := &Metrics{
		Sent:            prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_alerts_sent_total", Help: "Alerts a sink delivered."}, []string{"sink"}),
		Retried:         prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_retries_total", Help: "Failed delivery attempts that will be retried."}, []string{"sink"}),
		Failed:          prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_alerts_failed_total", Help: "Alerts a sink gave up on after an error (permanent, or older than max age)."}, []string{"sink"}),
		DeadLettered:    prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_alerts_dead_lettered_total", Help: "Alerts written to the dead-letter file, by reason."}, []string{"sink", "reason"}),
		Suppressed:      prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_alerts_suppressed_total", Help: "Alerts held back by a sink's own throttle."}, []string{"sink"}),
		ThrottleEvicted: prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_throttle_evicted_total", Help: "Keys a sink's throttle forgot to stay within its cap (10,000): expired windows first, then the oldest."}, []string{"sink"}),
		Duplicates:      prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_alerts_duplicate_total", Help: "Alerts already delivered or queued for a sink, not queued again."}, []string{"sink"}),
		Queue:           prom.NewGaugeVec(prom.Opts{Name: "graceguard_sink_queue_length", Help: "Alert groups waiting for a sink."}, []string{"sink"}),
	}
	reg.MustRegister(m.Sent, m.Retried, m.Failed, m.DeadLettered, m.Suppressed, m.ThrottleEvicted, m.Duplicates, m.Queue)
	return m
}
