package respond

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what the Responder did, in Prometheus form.
type Metrics struct {
	Revocations    *prometheus.CounterVec // alerts that asked, by status (ended, dry_run, failed, held_back, excluded)
	SessionsEnded  prometheus.Counter     // OidcSession objects deleted
	Failures       prometheus.Counter     // failed API attempts (a revocation retried three times counts three)
	HeldBack       *prometheus.CounterVec // revocations held back, by reason (per_user, overall, queue_full, other_watcher)
	Queue          prometheus.Gauge       // revocations waiting for the worker
	LimiterEvicted prometheus.Counter     // users forgotten by the per-user limit's bounded memory
}

// NewMetrics registers the response metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Revocations:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graceguard_revocations_total", Help: "Alerts that asked to end a user's OpenUnison sessions, by outcome."}, []string{"status"}),
		SessionsEnded:  prometheus.NewCounter(prometheus.CounterOpts{Name: "graceguard_revoked_sessions_total", Help: "OidcSession objects deleted (a dry run deletes none)."}),
		Failures:       prometheus.NewCounter(prometheus.CounterOpts{Name: "graceguard_revocation_failures_total", Help: "Failed attempts to list or delete sessions through the Kubernetes API."}),
		HeldBack:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graceguard_revocations_held_back_total", Help: "Revocations not attempted, by reason."}, []string{"reason"}),
		Queue:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "graceguard_revocation_queue_length", Help: "Revocations waiting for the worker."}),
		LimiterEvicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "graceguard_revocation_limiter_evicted_total", Help: "Users forgotten by the per-user rate limit's bounded memory."}),
	}
	reg.MustRegister(m.Revocations, m.SessionsEnded, m.Failures, m.HeldBack, m.Queue, m.LimiterEvicted)
	return m
}

// newUnregistered makes metrics that go nowhere, for a Responder built
// without any.
func newUnregistered() *Metrics { return NewMetrics(prometheus.NewRegistry()) }
