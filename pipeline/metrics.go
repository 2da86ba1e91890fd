package pipeline

import (
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/prom"
)

// Metrics are what a Watcher counts, in Prometheus form (package prom).
type Metrics struct {
	Lines          *prom.CounterVec // by source
	Bytes          *prom.CounterVec // by source
	Records        *prom.Counter
	Cut            *prom.Counter    // records longer than parser.MaxRecord, cut there: one count a record
	Events         *prom.CounterVec // by kind
	ParseErrors    *prom.Counter
	Alerts         *prom.CounterVec // by rule and severity
	Duplicates     *prom.Counter    // alerts already sent before a restart, not sent again
	SinkDeliveries *prom.CounterVec // by sink
	SinkFailures   *prom.CounterVec // by sink
	Held           *prom.Gauge      // events waiting for other replicas (order.go), grace reuses waiting the settle time and their users' later events
	HeldOverflow   *prom.Counter    // held events judged early because too many waited
	Lag            *prom.Gauge      // seconds between now and the newest record's time
	Checkpoints    *prom.CounterVec // by result: ok, error
	RuleErrors     *prom.Counter
	// Attribution (package attribute): token events by how their client
	// was found; events and proxy records waiting for each other; what was
	// dropped; grace reuses through a proxy whose log was not given.
	Attribution   *prom.CounterVec // by attribution
	AttrWaiting   *prom.GaugeVec   // by what: events, records
	AttrEvicted   *prom.CounterVec // by what: events, records, records_unmatched, learned_names
	Unattributed  *prom.Counter
	Outnumbered   *prom.Counter    // token events unattributed because their requests outnumbered the proxy's records
	StateFailures *prom.CounterVec // writes to the state directory that failed, by file: ledger, checkpoint
	// What the detector forgot to stay within its caps (see detectorMetrics):
	// the rules' throttle keys, and the correlator's indexes by what.
	RuleThrottleEvicted *prom.Counter
	CorrEvicted         *prom.CounterVec // by what: pending, refusals, chain_users, moves, place_users, place_pairs, parked_refusals
}

// NewMetrics registers the pipeline's metrics with reg, and the store's
// sizes and evictions read from store when scraped.
func NewMetrics(reg *prom.Registry, store StoreStats) *Metrics {
	m := &Metrics{
		Lines:          prom.NewCounterVec(prom.Opts{Name: "graceguard_lines_read_total", Help: "Physical lines read, by source."}, []string{"source"}),
		Bytes:          prom.NewCounterVec(prom.Opts{Name: "graceguard_bytes_read_total", Help: "Bytes read, by source."}, []string{"source"}),
		Records:        prom.NewCounter(prom.Opts{Name: "graceguard_records_total", Help: "Log records after joining partial and continuation lines."}),
		Cut:            prom.NewCounter(prom.Opts{Name: "graceguard_records_cut_total", Help: "Records longer than 1 MiB (a line, or a line and its continuations), cut there; one count a record."}),
		Events:         prom.NewCounterVec(prom.Opts{Name: "graceguard_events_total", Help: "Records by event kind."}, []string{"kind"}),
		ParseErrors:    prom.NewCounter(prom.Opts{Name: "graceguard_parse_errors_total", Help: "Records that broke OpenUnison's grammar."}),
		Alerts:         prom.NewCounterVec(prom.Opts{Name: "graceguard_alerts_total", Help: "Alerts raised, by rule and severity."}, []string{"rule", "severity"}),
		Duplicates:     prom.NewCounter(prom.Opts{Name: "graceguard_alerts_duplicate_total", Help: "Alerts raised again after a restart and not sent again."}),
		SinkDeliveries: prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_deliveries_total", Help: "Alert groups delivered, by sink."}, []string{"sink"}),
		SinkFailures:   prom.NewCounterVec(prom.Opts{Name: "graceguard_sink_failures_total", Help: "Alert groups a sink failed to deliver, by sink."}, []string{"sink"}),
		Held:           prom.NewGauge(prom.Opts{Name: "graceguard_held_reuses", Help: "Events waiting for the other replicas' logs to catch up, and with shared state grace reuses waiting the settle time, with their users' later events."}),
		HeldOverflow:   prom.NewCounter(prom.Opts{Name: "graceguard_held_overflow_total", Help: "Events judged without waiting because too many were held (10,000 reuses and their users' events, or 50,000 events waiting for other replicas)."}),
		Lag:            prom.NewGauge(prom.Opts{Name: "graceguard_lag_seconds", Help: "Seconds between now and the time of the newest record read."}),
		Checkpoints:    prom.NewCounterVec(prom.Opts{Name: "graceguard_checkpoints_total", Help: "Checkpoints written, by result."}, []string{"result"}),
		RuleErrors:     prom.NewCounter(prom.Opts{Name: "graceguard_rule_errors_total", Help: "Rule evaluations that failed at run time."}),
		Attribution:    prom.NewCounterVec(prom.Opts{Name: "graceguard_attribution_total", Help: "Token-endpoint events by how their client was found: direct, joined, ambiguous, unattributed."}, []string{"attribution"}),
		AttrWaiting:    prom.NewGaugeVec(prom.Opts{Name: "graceguard_attribution_waiting", Help: "Token events waiting for their proxy record, and proxy records waiting for their event."}, []string{"what"}),
		AttrEvicted:    prom.NewCounterVec(prom.Opts{Name: "graceguard_attribution_evicted_total", Help: "Events released early and proxy records dropped to stay within bounds, records no event claimed, and names whose learned mappings were forgotten at a cap."}, []string{"what"}),
		Unattributed:   prom.NewCounter(prom.Opts{Name: "graceguard_unattributed_reuses_total", Help: "Grace reuses through a proxy whose access log was not given: their client is unknown (add the proxy's log)."}),
		Outnumbered: prom.NewCounter(prom.Opts{Name: "graceguard_attribution_outnumbered_total",
			Help: "Token events left unattributed because OpenUnison logged more token requests around them than the proxy's log has records for (a line lost, or a path forged through X-Envoy-Original-Path)."}),
		StateFailures: prom.NewCounterVec(prom.Opts{Name: "graceguard_state_write_failures_total", Help: "Writes to the state directory that failed (full, read-only), by file: ledger, checkpoint."}, []string{"file"}),
		RuleThrottleEvicted: prom.NewCounter(prom.Opts{Name: "graceguard_rule_throttle_evicted_total",
			Help: "Keys the rules' throttles forgot to stay within their cap (10,000 per rule): expired windows first, then the oldest."}),
		CorrEvicted: prom.NewCounterVec(prom.Opts{Name: "graceguard_correlation_evicted_total",
			Help: "Entries correlation's indexes dropped to stay within bounds, by what: pending (refreshes learned before their twin could come), refusals, chain_users, moves, place_users, place_pairs, parked_refusals."}, []string{"what"}),
	}
	reg.MustRegister(m.Lines, m.Bytes, m.Records, m.Cut, m.Events, m.ParseErrors, m.Alerts, m.Duplicates,
		m.SinkDeliveries, m.SinkFailures, m.Held, m.HeldOverflow, m.Lag, m.Checkpoints, m.RuleErrors,
		m.Attribution, m.AttrWaiting, m.AttrEvicted, m.Unattributed, m.Outnumbered, m.StateFailures, m.RuleThrottleEvicted, m.CorrEvicted)
	if store != nil {
		reg.MustRegister(newStoreCollector(store))
	}
	return m
}

// RegisterGenerationsLost registers graceguard_generations_lost_total,
// read from lost when scraped: the files the follower found gone before it
// had read them to their end (source.Follower.GenerationsLost).
func RegisterGenerationsLost(reg *prom.Registry, lost func() uint64) {
	reg.MustRegister(prom.NewCounterFunc(prom.Opts{
		Name: "graceguard_generations_lost_total",
		Help: "Rotated files deleted (or compressed) before they were read to their end: graceguard fell behind more generations than are kept. Their unread lines are lost; each is logged once.",
	}, func() float64 { return float64(lost()) }))
}

// RegisterGenerationsUnwatched registers
// graceguard_generations_unwatched_total, read from unwatched when scraped:
// the rotated files read to their end that the follower stopped watching
// for late lines while they still existed
// (source.Follower.GenerationsUnwatched).
func RegisterGenerationsUnwatched(reg *prom.Registry, unwatched func() uint64) {
	reg.MustRegister(prom.NewCounterFunc(prom.Opts{
		Name: "graceguard_generations_unwatched_total",
		Help: "Rotated files read to their end no longer watched for lines their writer appends late, while they still existed: more than 4 of a log or 1024 in all were watched (the one changed longest ago goes). Lines written to them afterwards are not read; each is logged once.",
	}, func() float64 { return float64(unwatched()) }))
}

// RegisterGeoCache registers the GeoIP lookups' cache (16,384 addresses,
// CLOCK eviction): graceguard_geo_cache_evicted_total and
// graceguard_geo_cache_entries, read from stats when scraped (geo.DB.Stats
// takes each shard's lock, so a scrape needs nothing of the watcher).
func RegisterGeoCache(reg *prom.Registry, stats func() geo.Stats) {
	reg.MustRegister(prom.NewCounterFunc(prom.Opts{
		Name: "graceguard_geo_cache_evicted_total",
		Help: "Addresses the GeoIP cache forgot to make room (CLOCK: one not looked up since the hand last passed).",
	}, func() float64 { return float64(stats().Evictions) }))
	reg.MustRegister(prom.NewGaugeFunc(prom.Opts{
		Name: "graceguard_geo_cache_entries",
		Help: "Addresses the GeoIP cache remembers.",
	}, func() float64 { return float64(stats().Entries) }))
}

// StoreStats is a store whose size and evictions can be read: the memory
// store, and the failover store (which also reports whether its shared
// store is up, and how often it failed).
type StoreStats interface {
	Stats() correlate.MemoryStats
}

type sharedHealth interface {
	Up() bool
	Errors() int64
	HistoryLost() int64
}

// storeCollector reads the history's size and evictions at scrape time.
// Its families are made when it is registered, not when the program
// starts: scan, which exposes nothing, should not pay for them.
type storeCollector struct {
	store                         StoreStats
	users, sessions, evictions    *prom.Desc
	stateUp, stateErrs, stateLost *prom.Desc
	wbPending, wbDropped          *prom.Desc
}

func newStoreCollector(store StoreStats) *storeCollector {
	return &storeCollector{
		store:     store,
		users:     prom.NewDesc("graceguard_tracked_users", "Users in the correlation history.", prom.GaugeValue),
		sessions:  prom.NewDesc("graceguard_tracked_sessions", "Session ids in the correlation history.", prom.GaugeValue),
		evictions: prom.NewDesc("graceguard_evictions_total", "History entries dropped to stay within bounds, by what.", prom.CounterValue, "what"),
		stateUp:   prom.NewDesc("graceguard_shared_state_up", "1 while the shared state store (Redis) answers, 0 while analysis runs on local state.", prom.GaugeValue),
		stateErrs: prom.NewDesc("graceguard_shared_state_errors_total", "Failed calls to the shared state store, reconnection attempts included.", prom.CounterValue),
		stateLost: prom.NewDesc("graceguard_shared_state_history_lost_total", "Times the shared history in Redis was found gone (flushed, restarted without persistence, or another server): first-seen facts start over.", prom.CounterValue),
		wbPending: prom.NewDesc("graceguard_shared_state_writeback_pending", "Events learned while the shared state store was unreachable, to be written back to it.", prom.GaugeValue),
		wbDropped: prom.NewDesc("graceguard_shared_state_writeback_dropped_total", "Events learned while the shared state store was unreachable and never written back (over 100,000 waited).", prom.CounterValue),
	}
}

// writeBacker is a store that writes back what it learned during an outage.
type writeBacker interface {
	WriteBackPending() int
	WriteBackDropped() int64
}

func (c *storeCollector) Describe() []*prom.Desc {
	ds := []*prom.Desc{c.users, c.sessions, c.evictions}
	if _, ok := c.store.(sharedHealth); ok {
		ds = append(ds, c.stateUp, c.stateErrs, c.stateLost)
	}
	if _, ok := c.store.(writeBacker); ok {
		ds = append(ds, c.wbPending, c.wbDropped)
	}
	return ds
}

func (c *storeCollector) Collect(s *prom.Scrape) {
	st := c.store.Stats()
	s.Emit(c.users, float64(st.Users))
	s.Emit(c.sessions, float64(st.Sessions))
	for what, n := range map[string]int64{
		"users": st.UsersEvicted, "users_expired": st.UsersExpired, "addresses": st.IPsEvicted,
		"addresses_expired": st.IPsExpired, "sessions": st.SessionsEvicted, "session_addresses": st.SessionIPsCapped,
		"moves_index": st.MovesIndexEvicted,
	} {
		s.Emit(c.evictions, float64(n), what)
	}
	if h, ok := c.store.(sharedHealth); ok {
		up := 0.0
		if h.Up() {
			up = 1
		}
		s.Emit(c.stateUp, up)
		s.Emit(c.stateErrs, float64(h.Errors()))
		s.Emit(c.stateLost, float64(h.HistoryLost()))
	}
	if wb, ok := c.store.(writeBacker); ok {
		s.Emit(c.wbPending, float64(wb.WriteBackPending()))
		s.Emit(c.wbDropped, float64(wb.WriteBackDropped()))
	}
}

// publish brings the watcher's metrics up to date with its counts: once a
// batch, so a backlog costs a label lookup per kind a batch, not one per
// record.
func (w *Watcher) publish() {
	w.attrMetrics()
	m := w.opt.Metrics
	if m == nil {
		return
	}
	st, was := &w.stats, &w.counted
	if d := st.Records - was.Records; d > 0 {
		m.Records.Add(float64(d))
	}
	if d := st.ParseErrors - was.ParseErrors; d > 0 {
		m.ParseErrors.Add(float64(d))
	}
	addCount(m.Cut, st.Cut, was.Cut)
	for k, n := range st.Events {
		if d := n - was.Events[k]; d > 0 {
			m.Events.WithLabelValues(parser.Kind(k).String()).Add(float64(d))
		}
	}
	w.detectorMetrics(m)
	m.Held.Set(float64(len(w.held) + w.queued))
	if w.newest.After(w.lagOf) {
		// Now minus the newest record's time, as it was read.
		w.lagOf = w.newest
		m.Lag.Set(w.opt.now().Sub(w.newest).Seconds())
	}
	w.counted.Records, w.counted.ParseErrors, w.counted.Cut, w.counted.Events = st.Records, st.ParseErrors, st.Cut, st.Events
}

// detectorCounts are the detector's counts the metrics have counted.
type detectorCounts struct {
	ruleErrors, throttleEvicted int64
	corr                        correlate.CorrelatorStats
}

// detectorMetrics brings the counts the detector keeps on the watcher's
// goroutine (rule errors, the evictions of the rules' throttles and of
// correlation's indexes) to the metrics, once a batch: a scrape reads the
// counters, never the detector, which is not safe to read from another
// goroutine.
func (w *Watcher) detectorMetrics(m *Metrics) {
	now, was := w.detectorCountsNow(), &w.detCounted
	addCount(m.RuleErrors, now.ruleErrors, was.ruleErrors)
	addCount(m.RuleThrottleEvicted, now.throttleEvicted, was.throttleEvicted)
	cs := now.corr
	for _, c := range [...]struct {
		what     string
		now, was int64
	}{
		{"pending", cs.PendingEvicted, was.corr.PendingEvicted},
		{"refusals", cs.RefusalsEvicted, was.corr.RefusalsEvicted},
		{"chain_users", cs.ChainUsersEvicted, was.corr.ChainUsersEvicted},
		{"moves", cs.MovesEvicted, was.corr.MovesEvicted},
		{"place_users", cs.PlaceUsersEvicted, was.corr.PlaceUsersEvicted},
		{"place_pairs", cs.PlacePairsEvicted, was.corr.PlacePairsEvicted},
		{"parked_refusals", cs.RefusalsJudgedEarly, was.corr.RefusalsJudgedEarly},
	} {
		if c.now > c.was {
			m.CorrEvicted.WithLabelValues(c.what).Add(float64(c.now - c.was))
		}
	}
	*was = now
}

// detectorCountsNow reads the detector's counts. A restore from a
// checkpoint takes them as counted: they are the earlier run's, and this
// process's counters start at zero (Prometheus reads a restart as a reset,
// and would count them again).
func (w *Watcher) detectorCountsNow() detectorCounts {
	rs := w.det.RuleStats()
	var errs int64
	for _, n := range rs.Errors {
		errs += n
	}
	return detectorCounts{ruleErrors: errs, throttleEvicted: rs.ThrottleEvicted, corr: w.det.CorrelatorStats()}
}

// addCount adds to c what a count gained since it was counted; a count
// never shrinks, but a counter must not be given a negative.
func addCount(c *prom.Counter, now, was int64) {
	if now > was {
		c.Add(float64(now - was))
	}
}
