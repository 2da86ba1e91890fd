package respond

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/retry"
)

// Sessions lists and deletes a user's OidcSession objects; *API is the
// real one.
type Sessions interface {
	List(ctx context.Context, namespace, dnHash string) (Names, error)
	// DeleteAll's Names are those deleted, also when it fails after a
	// part of them.
	DeleteAll(ctx context.Context, namespace, dnHash string) (Names, error)
}

// Claimer lets watchers sharing a store agree on which one revokes; the
// shared store's alert claims satisfy it.
type Claimer interface {
	Claim(ctx context.Context, id string, ttl time.Duration) (bool, error)
	Unclaim(ctx context.Context, id string) error
}

// Deliver is the watcher's delivery function.
type Deliver func(context.Context, []alert.Alert) error

// Options configure a Responder. Zero values take the defaults.
type Options struct {
	// Severity is the gate: alerts at or above it end their user's
	// sessions. 0 leaves it to rules that say revoke: true. It may not be
	// below MinSeverity.
	Severity  alert.Severity
	Namespace string // OpenUnison's; default "openunison"
	DryRun    bool   // list and report, delete nothing
	Exclude   []string
	PerUser   Limit // default 1 per 10m
	Overall   Limit // default 10 per 1m
	// Wait is the longest delivery waits for the outcome (default 2s).
	Wait     time.Duration
	Queue    int           // revocations waiting, default 64
	Attempts int           // tries per revocation, default 5
	Backoff  time.Duration // first retry's wait, doubling, jittered; default 250ms
	Claims   Claimer       // nil when this watcher is alone
	Metrics  *Metrics
	Logger   *slog.Logger
	Now      func() time.Time
}

// DefaultNamespace is OpenUnison's namespace in its charts.
const DefaultNamespace = "openunison"

// claimTTL outlives any re-read of the line an alert came from.
const claimTTL = 7 * 24 * time.Hour

// maxBackoff caps one retry's wait.
const maxBackoff = 5 * time.Second

// Responder ends users' sessions as alerts ask.
type Responder struct {
	api     Sessions
	opt     Options
	exclude *Excluder
	limit   *limiter
	jobs    chan *job

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	// degraded is set while the API fails: alerts then leave at once with
	// "pending" rather than each wait out Options.Wait, so an outage
	// cannot add the wait to every alert of a flood.
	degraded atomic.Bool
}

type job struct {
	user, hash, trigger, alertID, claim string
	queued                              time.Time
	done                                chan struct{}
	res                                 alert.Response // set before done closes
}

// New checks opt and makes a Responder; Run does its work.
func New(api Sessions, opt Options) (*Responder, error) {
	if opt.Severity != 0 && opt.Severity < MinSeverity {
		return nil, fmt.Errorf("revoke severity %s: sessions are ended at %s or above only (a rule may ask for less with revoke: true)", opt.Severity, MinSeverity)
	}
	ex, err := NewExcluder(opt.Exclude)
	if err != nil {
		return nil, err
	}
	if opt.Namespace == "" {
		opt.Namespace = DefaultNamespace
	}
	if opt.PerUser == (Limit{}) {
		opt.PerUser = Limit{N: 1, Per: 10 * time.Minute}
	}
	if opt.Overall == (Limit{}) {
		opt.Overall = Limit{N: 10, Per: time.Minute}
	}
	if opt.Wait <= 0 {
		opt.Wait = 2 * time.Second
	}
	if opt.Queue <= 0 {
		opt.Queue = 64
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 5
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 250 * time.Millisecond
	}
	if opt.Metrics == nil {
		opt.Metrics = newUnregistered()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Responder{
		api: api, opt: opt, exclude: ex, limit: newLimiter(opt.PerUser, opt.Overall),
		jobs: make(chan *job, opt.Queue), done: make(chan struct{}),
	}, nil
}

// Run works through the queue until Close; ctx bounds the API calls.
func (r *Responder) Run(ctx context.Context) {
	defer close(r.done)
	for j := range r.jobs {
		r.opt.Metrics.Queue.Set(float64(len(r.jobs)))
		r.work(ctx, j)
	}
}

// Close stops taking revocations, lets Run finish those queued, and waits
// for it (or ctx).
func (r *Responder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.jobs)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("revocations still running: %w", ctx.Err())
	}
}

// Deliver wraps next: the alerts that ask have their user's sessions ended,
// and leave carrying the outcome, or "pending" after Options.Wait. The
// alerts of one event share its outcome, those below the gate too.
func (r *Responder) Deliver(next Deliver) Deliver {
	return func(ctx context.Context, group []alert.Alert) error {
		return next(ctx, r.Annotate(ctx, group))
	}
}

// Annotate decides the response to an event's alerts and returns copies
// carrying its outcome (waiting up to Options.Wait for it), for a caller
// that queues, records and writes the alerts in steps of its own (the
// watcher's delivery ledger).
func (r *Responder) Annotate(ctx context.Context, group []alert.Alert) []alert.Alert {
	out := slices.Clone(group)
	byUser := map[string]outcome{}
	for i := range out {
		if _, done := byUser[out[i].User]; done {
			continue
		}
		if o := r.decide(ctx, out[i]); o != (outcome{}) {
			byUser[out[i].User] = o
		}
	}
	var expired chan struct{} // closed after Options.Wait: every later wait sees it
	for i := range out {
		o, ok := byUser[out[i].User]
		switch {
		case !ok:
		case o.job == nil:
			res := *o.res
			out[i].Response = &res
		default:
			if expired == nil {
				expired = make(chan struct{})
				wait := r.opt.Wait
				if r.degraded.Load() {
					wait = 0
				}
				defer time.AfterFunc(wait, func() { close(expired) }).Stop()
			}
			res := o.job.wait(expired)
			out[i].Response = &res
		}
	}
	return out
}

// outcome is a decision: a response now, or a job whose outcome will be.
type outcome struct {
	res *alert.Response
	job *job
}

// wait returns the outcome, or "pending" once expired is closed.
func (j *job) wait(expired <-chan struct{}) alert.Response {
	select {
	case <-j.done:
		return j.res
	default:
	}
	select {
	case <-j.done:
		return j.res
	case <-expired:
		return alert.Response{Action: "end_sessions", Status: alert.ResponsePending, Trigger: j.trigger}
	}
}

// decide answers at once (nothing to do, excluded, held back) or queues a
// job whose outcome the alert will carry.
func (r *Responder) decide(ctx context.Context, a alert.Alert) outcome {
	why := trigger(a, r.opt.Severity)
	if why == "" || a.User == "" {
		return outcome{}
	}
	res := &alert.Response{Action: "end_sessions", DryRun: r.opt.DryRun, Trigger: why, Namespace: r.opt.Namespace}
	log := r.opt.Logger.With("user", a.User, "alert", a.ID, "rule", a.Rule, "trigger", why, "dry_run", r.opt.DryRun)
	if r.exclude.Excluded(a.User) {
		res.Status = alert.ResponseExcluded
		r.opt.Metrics.Revocations.WithLabelValues(res.Status).Inc()
		log.Info("not ending sessions: excluded user")
		return outcome{res: res}
	}
	key := claimKey(a)
	if !r.claim(ctx, key, log) {
		return outcome{res: r.heldBack(res, "other_watcher", "another watcher is ending them", log)}
	}
	hash := DNHash(a.User)
	now := r.opt.Now()
	ok, kind, reason := r.limit.allow(hash, now)
	r.syncEvictions()
	if !ok {
		return outcome{res: r.heldBack(res, kind, reason, log)}
	}
	j := &job{user: a.User, hash: hash, trigger: why, alertID: a.ID, claim: key, queued: now, done: make(chan struct{})}
	if !r.enqueue(j) {
		r.limit.release(hash, now)
		r.unclaim(ctx, key, log)
		return outcome{res: r.heldBack(res, "queue_full", fmt.Sprintf("queue full (%d waiting)", r.opt.Queue), log)}
	}
	return outcome{job: j}
}

func (r *Responder) heldBack(res *alert.Response, kind, reason string, log *slog.Logger) *alert.Response {
	res.Status, res.HeldBack = alert.ResponseHeldBack, reason
	r.opt.Metrics.Revocations.WithLabelValues(res.Status).Inc()
	r.opt.Metrics.HeldBack.WithLabelValues(kind).Inc()
	log.Warn("not ending sessions: held back", "reason", reason)
	return res
}

func (r *Responder) syncEvictions() {
	r.limit.mu.Lock()
	n := r.limit.evicted
	r.limit.evicted = 0
	r.limit.mu.Unlock()
	r.opt.Metrics.LimiterEvicted.Add(float64(n))
}

func (r *Responder) enqueue(j *job) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	select {
	case r.jobs <- j:
		r.opt.Metrics.Queue.Set(float64(len(r.jobs)))
		return true
	default:
		return false
	}
}

// claim asks the other watchers' consent. When the store cannot answer,
// this watcher goes ahead: deleting a collection twice is harmless, not
// deleting it is not.
func (r *Responder) claim(ctx context.Context, key string, log *slog.Logger) bool {
	if r.opt.Claims == nil {
		return true
	}
	ok, err := r.opt.Claims.Claim(ctx, key, claimTTL)
	if err != nil {
		log.Warn("could not claim the revocation; going ahead", "err", err)
		return true
	}
	return ok
}

func (r *Responder) unclaim(ctx context.Context, key string, log *slog.Logger) {
	if r.opt.Claims == nil {
		return
	}
	if err := r.opt.Claims.Unclaim(ctx, key); err != nil {
		log.Warn("could not release the revocation's claim", "err", err)
	}
}

// claimKey names a revocation by the event the alert is about, not the
// rule: two rules firing on one replay end the sessions once.
func claimKey(a alert.Alert) string {
	h := sha256.New()
	for _, part := range []string{"revoke", a.IdP, a.User, a.Time.UTC().Format(time.RFC3339Nano), a.IP, a.Session} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "revoke:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// work ends one user's sessions, retrying what may pass on a second try.
func (r *Responder) work(ctx context.Context, j *job) {
	res := alert.Response{Action: "end_sessions", DryRun: r.opt.DryRun, Trigger: j.trigger, Namespace: r.opt.Namespace}
	log := r.opt.Logger.With("user", j.user, "dn_hash", j.hash, "alert", j.alertID, "trigger", j.trigger, "namespace", r.opt.Namespace, "dry_run", r.opt.DryRun)
	var err error
	for res.Attempts = 1; ; res.Attempts++ {
		// An attempt that fails may have deleted some of the sessions
		// (a page at a time): they are ended, and count.
		var n int
		n, err = r.once(ctx, j, log)
		res.Sessions += n
		if err == nil {
			break
		}
		r.opt.Metrics.Failures.Inc()
		v, wait := classify(err)
		// A final answer came from an API server that answers: the next
		// alerts may wait for their outcome, which comes as fast. Taken
		// for an outage, they left "pending" (containment under way) for
		// revocations that could only fail.
		r.degraded.Store(v != final)
		if v == final || res.Attempts >= r.opt.Attempts || ctx.Err() != nil {
			break
		}
		if v == retryLater {
			wait = backoff(r.opt.Backoff, res.Attempts)
		}
		log.Warn("ending sessions failed; retrying", "attempt", res.Attempts, "retry_in", wait.Round(time.Millisecond), "verdict", v.String(), "err", err)
		if retry.Sleep(ctx, wait) != nil {
			err = errors.Join(err, ctx.Err())
			break
		}
	}
	if err == nil {
		r.degraded.Store(false)
	}
	switch {
	case err != nil:
		// Nothing was ended: the next alert about this user may try
		// again, and so may this one's line read again (a restart,
		// another replica's watcher), which the claim would hold back as
		// "another watcher is ending them" for claimTTL. Given back even
		// when stopping: a restart reads the line again.
		r.limit.release(j.hash, j.queued)
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		r.unclaim(uctx, j.claim, log)
		cancel()
		res.Status, res.Error = alert.ResponseFailed, err.Error()
		r.opt.Metrics.SessionsEnded.Add(float64(res.Sessions))
		log.Error("could not end sessions", "attempts", res.Attempts, "sessions_deleted", res.Sessions, "err", err)
	case r.opt.DryRun:
		res.Status = alert.ResponseDryRun
		log.Info("dry run: would end sessions", "sessions", res.Sessions, "attempts", res.Attempts)
	default:
		res.Status = alert.ResponseEnded
		r.opt.Metrics.SessionsEnded.Add(float64(res.Sessions))
		log.Info("ended sessions", "sessions", res.Sessions, "attempts", res.Attempts, "took", r.opt.Now().Sub(j.queued).Round(time.Millisecond))
	}
	r.opt.Metrics.Revocations.WithLabelValues(res.Status).Inc()
	j.res = res
	close(j.done)
}

// once lists the user's sessions (metadata only) and, unless a dry run,
// deletes them; the count is of those deleted as the server names them,
// or of those listed if some answer naming them was not read. On an error
// it is of those deleted before it.
func (r *Responder) once(ctx context.Context, j *job, log *slog.Logger) (int, error) {
	listed, err := r.api.List(ctx, r.opt.Namespace, j.hash)
	if err != nil {
		return 0, err
	}
	if r.opt.DryRun {
		return listed.Count, nil
	}
	deleted, err := r.api.DeleteAll(ctx, r.opt.Namespace, j.hash)
	if errors.Is(err, ErrDeletedUncounted) {
		// Ended: a failure here would tell the responder the thief still
		// holds the sessions, and a retry would delete nothing more.
		log.Warn("sessions deleted, counted from the listing", "listed", listed.Count, "named", deleted.Count, "err", err)
		return max(listed.Count, deleted.Count), nil
	}
	if err != nil {
		return deleted.Count, err
	}
	if deleted.Count == 0 {
		return listed.Count, nil
	}
	return deleted.Count, nil
}

// backoff is base·2^(attempt-1), capped, with full jitter over its upper
// half so that watchers retrying together spread out.
func backoff(base time.Duration, attempt int) time.Duration {
	d := min(base<<min(attempt-1, 16), maxBackoff)
	return d/2 + rand.N(d/2+1)
}
