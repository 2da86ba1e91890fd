package respond

import "github.com/graceguard/graceguard/prom"

// Metrics count what the Responder did, in Prometheus form.
type Metrics struct {
	Revocations    *prom.CounterVec // alerts that asked, by status (ended, dry_run, failed, held_back, excluded)
	SessionsEnded  *prom.Counter    // OidcSession objects deleted
	Failures       *prom.Counter    // failed API attempts (a revocation retried three times counts three)
	HeldBack       *prom.CounterVec // revocations held back, by reason (per_user, overall, queue_full, other_watcher)
	Queue          *prom.Gauge      // revocations waiting for the worker
	LimiterEvicted *prom.Counter    // users forgotten by the per-user limit's bounded memory
}

// NewMetrics registers the response metrics with reg.
func NewMetrics(reg *prom.Registry) *Metrics {
	m := &Metrics{
		Revocations:    prom.NewCounterVec(prom.Opts{Name: "graceguard_revocations_total", Help: "Alerts that asked to end a user's OpenUnison sessions, by outcome."}, []string{"status"}),
		SessionsEnded:  prom.NewCounter(prom.Opts{Name: "graceguard_revoked_sessions_total", Help: "OidcSession objects deleted (a dry run deletes none)."}),
		Failures:       prom.NewCounter(prom.Opts{Name: "graceguard_revocation_failures_total", Help: "Failed attempts to list or delete sessions through the Kubernetes API."}),
		HeldBack:       prom.NewCounterVec(prom.Opts{Name: "graceguard_revocations_held_back_total", Help: "Revocations not attempted, by reason."}, []string{"reason"}),
		Queue:          prom.NewGauge(prom.Opts{Name: "graceguard_revocation_queue_length", Help: "Revocations waiting for the worker."}),
		LimiterEvicted: prom.NewCounter(prom.Opts{Name: "graceguard_revocation_limiter_evicted_total", Help: "Users forgotten by the per-user rate limit's bounded memory."}),
	}
	reg.MustRegister(m.Revocations, m.SessionsEnded, m.Failures, m.HeldBack, m.Queue, m.LimiterEvicted)
	return m
}

// newUnregistered makes metrics that go nowhere, for a Responder built
// without any.
func newUnregistered() *Metrics { return NewMetrics(prom.NewRegistry()) }
