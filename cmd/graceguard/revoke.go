package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/respond"
	"github.com/graceguard/graceguard/source/kube"
)

// revokeFlags configure ending a user's OpenUnison sessions on an alert
// (package respond). Off by default.
type revokeFlags struct {
	severity  string
	namespace string
	dryRun    bool
	exclude   dnList
	perUser   string
	overall   string
	wait      time.Duration
	// typedAlone are the --revoke-* flags set on the command line while
	// --revoke was set nowhere (noteGiven).
	typedAlone []string
}

func (r *revokeFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&r.severity, "revoke", "", "end the user's OpenUnison sessions on alerts at or above `SEVERITY` (high or critical; \"rules\": only rules saying revoke: true); off when empty")
	f.StringVar(&r.namespace, "revoke-namespace", respond.DefaultNamespace, "OpenUnison's `NS`, where its OidcSession objects live")
	f.BoolVar(&r.dryRun, "revoke-dry-run", false, "say which sessions --revoke would end, and end none")
	f.Var(&r.exclude, "revoke-exclude", "never end the sessions of this user `DN` or pattern (* and ?; repeatable; break-glass accounts)")
	f.StringVar(&r.perUser, "revoke-user-limit", "1/10m", "end one user's sessions at most `N/DURATION`")
	f.StringVar(&r.overall, "revoke-limit", "10/1m", "end sessions at most `N/DURATION` in all")
	f.DurationVar(&r.wait, "revoke-wait", 2*time.Second, "longest an alert waits for its revocation's outcome before leaving with \"pending\"")
}

// noteGiven notes the --revoke-* flags typed on cmd's command line when
// --revoke is set nowhere: each would do nothing, and watch would run
// ending no session. Set in the config file or the environment they are
// defaults for when --revoke is on (README: a revoke-exclude: list in the
// config file; a Deployment's GRACEGUARD_REVOKE turning it on), and
// --revoke set off anywhere says the rest is meant to wait.
func (r *revokeFlags) noteGiven(cmd *cobra.Command) {
	r.typedAlone = nil
	if cmd.Flags().Changed("revoke") {
		return
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.HasPrefix(f.Name, "revoke-") && onCommandLine(cmd.Context(), f.Name) {
			r.typedAlone = append(r.typedAlone, "--"+f.Name)
		}
	})
}

// enabled reports whether sessions may be ended.
func (r *revokeFlags) enabled() bool { return r.severity != "" && r.severity != "off" }

// check refuses settings that do not fit, before anything starts.
func (r *revokeFlags) check() error {
	if len(r.typedAlone) > 0 {
		return usageErrorf("%s: given without --revoke, which is off: no session would be ended (add --revoke high, critical or rules)",
			strings.Join(r.typedAlone, ", "))
	}
	if !r.enabled() {
		return nil
	}
	if _, err := r.gate(); err != nil {
		return err
	}
	for _, l := range []struct{ flag, v string }{{"--revoke-user-limit", r.perUser}, {"--revoke-limit", r.overall}} {
		if _, err := parseLimit(l.v); err != nil {
			return usageErrorf("%s %q: %v", l.flag, l.v, err)
		}
	}
	if _, err := respond.NewExcluder(r.exclude); err != nil {
		return usageErrorf("--revoke-exclude: %v", err)
	}
	if err := kube.CheckNamespace(r.namespace); r.namespace != "" && err != nil { // "": the default
		return usageErrorf("--revoke-namespace: %v", err)
	}
	return nil
}

func (r *revokeFlags) gate() (alert.Severity, error) {
	if r.severity == "rules" {
		return 0, nil
	}
	sev, err := alert.ParseSeverity(r.severity)
	if err != nil {
		return 0, usageErrorf("--revoke %q: want high, critical or rules", r.severity)
	}
	if sev < respond.MinSeverity {
		return 0, usageErrorf("--revoke %s: sessions are ended at high or above only; a rule may ask for less with revoke: true (--revoke rules)", sev)
	}
	return sev, nil
}

// parseLimit reads N/DURATION, e.g. 1/10m, N of 1 or more.
func parseLimit(s string) (respond.Limit, error) {
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 0 {
		return respond.Limit{}, fmt.Errorf("want N/DURATION, e.g. 1/10m")
	}
	if count == 0 {
		// The responder reads a limit of 0 as none at all: "at most 0"
		// would have ended every session it was asked to.
		return respond.Limit{}, fmt.Errorf("want N of 1 or more (to end no session, use --revoke-dry-run)")
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return respond.Limit{}, fmt.Errorf("want N/DURATION with a positive duration, e.g. 1/10m")
	}
	return respond.Limit{N: count, Per: d}, nil
}

// start makes the Responder, with the pod-log source's credentials (the
// service account in a cluster, else --kubeconfig and --kube-context), and
// runs it; nil when --revoke is off. stop lets queued revocations finish.
func (r *revokeFlags) start(ctx context.Context, k kubeFlags, claims pipeline.Claimer, reg *prom.Registry, logger *slog.Logger) (*respond.Responder, func(), error) {
	if !r.enabled() {
		return nil, func() {}, nil
	}
	gate, err := r.gate()
	if err != nil {
		return nil, nil, err
	}
	perUser, _ := parseLimit(r.perUser) // checked
	overall, _ := parseLimit(r.overall)
	cfg, _, err := kube.LoadConfig(k.kubeconfig, k.context)
	if err != nil {
		if ke := k.configError(err); ke.Error() != err.Error() {
			return nil, nil, ke
		}
		return nil, nil, usageErrorf("--revoke: %w", err)
	}
	api, err := respond.NewAPI(cfg)
	if err != nil {
		return nil, nil, usageErrorf("--revoke: %v", err)
	}
	opt := respond.Options{
		Severity: gate, Namespace: r.namespace, DryRun: r.dryRun, Exclude: r.exclude, PerUser: perUser, Overall: overall,
		Wait: r.wait, Metrics: respond.NewMetrics(reg), Logger: logger.With("component", "revoke"),
	}
	if claims != nil {
		opt.Claims = claims
	}
	resp, err := respond.New(api, opt)
	if err != nil {
		return nil, nil, usageError{err}
	}
	go resp.Run(context.WithoutCancel(ctx))
	logger.Info("revoking sessions", "gate", r.severity, "namespace", r.namespace, "dry_run", r.dryRun, "excluded", len(r.exclude),
		"user_limit", r.perUser, "limit", r.overall)
	return resp, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := resp.Close(ctx); err != nil {
			logger.Error("stopping revocations", "err", err)
		}
	}, nil
}

// withRevoke wraps delivery so the alerts that ask end their user's
// sessions and carry the outcome.
// respondTo is the watcher's Respond hook: the responder's outcome put on
// each alert before the alert is queued, written or sent; nil without
// --revoke.
func respondTo(resp *respond.Responder) func(context.Context, []alert.Alert) []alert.Alert {
	if resp == nil {
		return nil
	}
	return resp.Annotate
}

// dnList is a list of DNs or patterns. DNs hold commas, so an item is
// never split on them: each flag or config list item is one; in the
// GRACEGUARD_REVOKE_EXCLUDE variable (or a config value that is not a
// list) items are separated by ';', and kept as written: the spaces after
// a DN's commas ("cn=Larsen\, Priya") are part of it.
type dnList []string

func (l *dnList) String() string { return strings.Join(*l, ";") }
func (l *dnList) Type() string   { return "DN" }

func (l *dnList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (l *dnList) Append(v string) error { return l.Set(v) }

func (l *dnList) Replace(parts []string) error { return l.ReplaceRaw(strings.Join(parts, ",")) }

func (l *dnList) ReplaceRaw(v string) error {
	*l = nil
	for _, item := range strings.Split(v, ";") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

func (l *dnList) GetSlice() []string { return *l }
