package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/sinks"
	"github.com/graceguard/graceguard/source"
	"github.com/graceguard/graceguard/source/kube"
)

// batchQueue bounds the batches read ahead of the watcher: each holds up to
// a MiB of lines, so a backlog costs a few MiB, not the backlog.
const batchQueue = 4

type watchOptions struct {
	io       streams
	patterns []string
	alertFlags
	from            string
	stateDir        string
	settle          time.Duration
	proxies         proxyFlags
	proxyLogs       []string // --proxy-logs: followed beside patterns, proxies' logs from their first line
	poll            time.Duration
	inotify         bool
	checkpointEvery time.Duration
	listen          string
	logFormat       string
	logLevel        string
	geo             geoFlags
	sinks           sinkFlags
	state           stateFlags
	kube            kubeFlags
	revoke          revokeFlags
	configPath      string
	config          *configFile // as loaded at start; SIGHUP reads configPath anew
	// listening, when set, is told the address /metrics serves on (tests).
	listening func(addr string)
	// notReady, when set, says why reading has not begun ("" once it has).
	notReady func() string
	// notes, when set, says what /readyz reports while ready.
	notes func() []string
}

// newWatchCmd makes watch; runF, when not nil, runs instead of runWatch
// with the options resolved from flags, environment and config (tests).
func newWatchCmd(io streams, runF func(context.Context, *watchOptions) error) *cobra.Command {
	o := &watchOptions{io: io}
	if runF == nil {
		runF = runWatch
	}
	cmd := &cobra.Command{
		Use:   "watch [flags] [PATH|GLOB...|-]",
		Short: "Follow OpenUnison logs and alert on replays as they happen",
		Long: `Watch follows OpenUnison's logs (files, globs that pick up new files, or stdin)
through rotation by rename, copytruncate and re-creation, and prints alerts as
they happen. A file seen for the first time is read from its start unless
--from end. Positions, the correlation history and the ids of alerts sent are
checkpointed in --state-dir, so a restart, even after kill -9, reads every line
written meanwhile and sends no alert twice.

With --kube-selector (or --kube-pod), watch reads the pods' logs through the
Kubernetes API instead of, or as well as, files: it follows pods as they come and
go, reads a restarted container's new log from its start, and resumes after a
restart from the checkpoint. It uses the pod's service account in a cluster,
else --kubeconfig, $KUBECONFIG or ~/.kube/config, and needs get, list and watch
on pods and get on pods/log in --kube-namespace. --from end applies to the
containers running at start-up.

With several files or pods (one per replica), a grace reuse waits until the
others have been read up to its time, or --settle at most, so a refresh logged
by another replica is seen first.

With --state redis://…, the watchers of all replicas (one sidecar each) share
one history: a refresh logged by one replica and its replay logged by another
meet in Redis. Every grace reuse then waits --settle for the other watchers,
and each alert is sent by one watcher only. If Redis goes away, watch goes on
with its own history, reports not ready on /readyz, and reconnects.

With --revoke SEVERITY, an alert at or above it (high or critical; or one whose
rule says revoke: true) ends the user's OpenUnison sessions by deleting their
OidcSession objects in --revoke-namespace, as OpenUnison does at logout; the
alert carries the outcome ("response"). Start with --revoke-dry-run. It needs
list and deletecollection on oidc-sessions.openunison.tremolo.io there.

Signals: SIGHUP reloads the rule files and the sinks (the config file's sinks:
list and the sink flags' secret files) together; if any is invalid, the error
is logged and the old rules and sinks are kept. Alerts queued for a sink move
to its new settings. SIGTERM or Ctrl-C stops reading, judges what waits, checkpoints and
exits 0.`,
		Example: `  graceguard watch '/var/log/openunison/*.log'
  graceguard watch --proxy-logs '/var/log/ingress-nginx/*.log' '/var/log/openunison/*.log'
  graceguard watch --listen 127.0.0.1:9090 --format json '/var/log/pods/openunison_openunison-orchestra-*/openunison-orchestra/*.log'
  GRACEGUARD_REDIS_PASSWORD=… graceguard watch --state redis://graceguard-redis:6379/0 /var/log/openunison/pod-a.log
  kubectl logs -f -n openunison deploy/openunison-orchestra | graceguard watch -
  graceguard watch --kube-namespace openunison --kube-selector application=openunison-orchestra --kube-container openunison-orchestra
  graceguard watch --kubeconfig ~/.kube/prod --kube-context prod --kube-namespace openunison --kube-pod openunison-orchestra-7d9c-x2x4z
  graceguard watch --revoke critical --revoke-dry-run --revoke-exclude 'uid=breakglass-*,ou=Users,o=Tremolo' '/var/log/openunison/*.log'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked here, not with cobra's Args: the kube flags may come
			// from the environment or the config file, applied after Args.
			o.patterns = args
			o.configPath, _ = cmd.Flags().GetString("config")
			o.config = configFileFrom(cmd.Context())
			o.revoke.noteGiven(cmd)
			o.sinks.noteGiven(cmd)
			o.state.noteGiven(cmd)
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.alertFlags.addFlags(f, "repeatable; reloaded on SIGHUP")
	f.StringVar(&o.from, "from", "start", "where to start a file or container log first seen at start-up: start or end")
	f.StringVar(&o.stateDir, "state-dir", ".graceguard", "`DIR` for checkpoints (positions, history, sent alert ids); empty for none")
	f.DurationVar(&o.settle, "settle", 2*time.Second, "longest a grace reuse waits for the other files or pods to catch up")
	f.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often files are checked for new lines where file events do not arrive (every file with --inotify=false)")
	f.BoolVar(&o.inotify, "inotify", true, "wake on file events (inotify, Linux), polling files only where events do not arrive and once a second as a safety net; --inotify=false: every file every --poll")
	f.DurationVar(&o.checkpointEvery, "checkpoint-every", 5*time.Second, "how often state is checkpointed")
	f.StringVar(&o.listen, "listen", "", "`ADDR` for /healthz, /readyz and /metrics, e.g. 127.0.0.1:9090 (off when empty)")
	f.StringVar(&o.logFormat, "log-format", "text", "graceguard's own log on stderr: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	o.geo.addFlags(f)
	o.proxies.addFlags(f)
	f.StringArrayVar(&o.proxyLogs, "proxy-logs", nil, "`GLOB` of proxies' access logs to follow beside OpenUnison's: each is a proxy's log from its first line, empty or not, and token requests wait for the proxies' records from the start (repeatable)")
	o.sinks.addFlags(f)
	o.state.addFlags(f)
	o.kube.addFlags(f)
	o.revoke.addFlags(f)
	return cmd
}

// checkStart is what watch checks of its settings before it touches any
// state: where to start, what to read (finding the API server for pods),
// and --revoke's limits. The deploy tests run it on the options the command
// resolved from a manifest.
func (o *watchOptions) checkStart() (kube.Options, error) {
	if o.from != "start" && o.from != "end" {
		return kube.Options{}, usageErrorf("--from %q: want start or end", o.from)
	}
	o.kube.forRevoke = o.revoke.enabled()
	kubeOpt, err := o.checkInputs()
	if err != nil {
		return kube.Options{}, err
	}
	return kubeOpt, o.revoke.check()
}

// stateDirError sorts what went wrong with the state directory by whose
// doing it is: a path that cannot be a directory (a file stands there or
// at a parent) is how --state-dir was set, a usage error (exit 2);
// anything else (a file inside it that cannot be read, the disk) is a
// runtime failure (exit 1), which a restart or an operator's repair of the
// directory may cure.
func stateDirError(err error) error {
	var usage usageError
	if errors.As(err, &usage) {
		return err
	}
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) {
		return usageErrorf("--state-dir: %w", err)
	}
	return err
}

func runWatch(ctx context.Context, o *watchOptions) error {
	defer watchGCPolicy()()
	logger, err := newLogger(o.io, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	outOpt, loc, err := resolveOutput(o.format, o.minSeverity, o.timezone, o.color, o.io.out)
	if err != nil {
		return err
	}
	kubeOpt, err := o.checkStart()
	if err != nil {
		return err
	}
	alerting, err := o.loadAlerting(o.config, outOpt.MinSeverity)
	if err != nil {
		return err
	}
	set := alerting.rules
	attribution, err := o.proxies.attribution()
	if err != nil {
		return err
	}
	geoDB, err := o.geo.open()
	if err != nil {
		return err
	}
	out := sinks.NewWriter(o.io.out, outOpt)
	state, err := o.state.open(ctx, o.stateDir, logger)
	if err != nil {
		return stateDirError(err)
	}
	defer state.close()
	reg := prom.NewRegistry()
	reg.MustRegister(prom.NewGoCollector(), prom.NewProcessCollector())
	sinkMetrics := sinks.NewMetrics(reg)
	slot := &sinkSlot{build: func(cfgs []sinks.Config) (*sinks.Dispatcher, error) {
		return buildDispatcher(cfgs, o.stateDir, sinkMetrics, logger)
	}}
	dispatcher, err := slot.build(alerting.sinks)
	if err != nil {
		return stateDirError(err)
	}
	slot.d.Store(dispatcher)
	defer slot.close(logger)
	responder, stopRevoking, err := o.revoke.start(ctx, o.kube, state.claims, reg, logger)
	if err != nil {
		return err
	}
	defer stopRevoking()
	var srcs *watchSources
	attribution.Expect, attribution.PeerOf = o.kube.proxiesEnabled(), proxyPeerOf(&srcs)
	watcher, err := pipeline.NewWatcher(pipeline.WatchOptions{
		Location: loc, Rules: set, Settle: o.settle, Deliver: stdoutDelivery(out), Enqueue: slot.send, SinkName: slot.deliveryName,
		Respond:  respondTo(responder),
		StateDir: o.stateDir, CheckpointEvery: o.checkpointEvery, Metrics: pipeline.NewMetrics(reg, state.stats),
		Logger: logger, Store: state.store, Shared: state.shared, Claims: state.claims, Geo: geoLookup(geoDB), Idle: releaseWhenIdle,
		Attribution: attribution, ProxyLogs: o.proxyLogs,
		// The pods' IPs are the proxies' upstreams; the sources are made
		// after the watcher (they start at its checkpoint's positions)
		// and before it runs.
		UpstreamOf: func(src string) (netip.Addr, bool) {
			if srcs == nil || srcs.pods == nil {
				return netip.Addr{}, false
			}
			return srcs.pods.Addr(src)
		},
	})
	if err != nil {
		return stateDirError(err)
	}
	batches := make(chan source.Batch, batchQueue)
	srcs, err = o.sources(kubeOpt, watcher.Positions(), watcher.PositionsWritten(), batches, logger)
	if err != nil {
		return err
	}
	o.notReady, o.notes = srcs.notReady, srcs.notes
	if srcs.files != nil {
		pipeline.RegisterGenerationsLost(reg, srcs.files.GenerationsLost)
		pipeline.RegisterGenerationsUnwatched(reg, srcs.files.GenerationsUnwatched)
	}
	srcs.registerKubeStreams(reg)
	if geoDB != nil {
		pipeline.RegisterGeoCache(reg, geoDB.Stats)
	}
	if o.listen != "" {
		stop, err := serveOps(o, reg, watcher, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go o.reloadOnHUP(ctx, hup, outOpt.MinSeverity, watcher, slot, logger)

	// The sources stop on ctx (SIGTERM); the watcher then drains what was
	// read, judges what waits and checkpoints.
	go srcs.run(ctx, batches, logger)
	logger.Info("watching", "patterns", o.patterns, "proxy_logs", o.proxyLogs, "kube", o.kube.describe(), "state_dir", o.stateDir, "rules", len(set.Enabled()))
	logger.Info("alerts go to", "stdout", o.format+", at least "+o.minSeverity, "sinks", destinations(dispatcher))
	err = watcher.Run(context.WithoutCancel(ctx), batches)
	st := watcher.Stats()
	logger.Info("stopped", "records", st.Records, "alerts", st.Alerts, "duplicates_suppressed", st.Duplicates, "parse_errors", st.ParseErrors)
	if why := watchNothingJudged(st); why != "" {
		logger.Warn("nothing was judged: " + why)
	}
	return err
}

// watchNothingJudged says why a watch judged nothing, "" when it judged
// something: "stopped records=1 alerts=0" after another program's log
// reads like a clean bill of health. The words are scan's (a script
// matches "nothing was judged"), but the watcher counts events, not
// OpenUnison's headers: a record of no kind the rules see may be
// OpenUnison's own (its start-up lines), so then the reason says only
// that none was one the rules judge.
func watchNothingJudged(st pipeline.WatchStats) string {
	if st.ParseErrors > 0 {
		return "" // OpenUnison's records, broken: the parse errors said so
	}
	for k, n := range st.Events {
		if k := parser.Kind(k); k != parser.KindOther && k != parser.KindProxy && n > 0 {
			return ""
		}
	}
	why := "no OpenUnison record in the input"
	if other := st.Records - st.Events[parser.KindProxy]; other > 0 {
		why = fmt.Sprintf("no OpenUnison record the rules judge in the input (a token request, refusal or login): %s %s read, none of them",
			commas(other), plural(int(other), "record", "records"))
	}
	if n := st.Events[parser.KindProxy]; n > 0 {
		why += fmt.Sprintf("; a proxy's access log (%s token requests) names the clients of OpenUnison's token requests, "+
			"but nothing is judged without OpenUnison's own log: give both", commas(n))
	}
	return why
}

// alerting is what decides on and delivers alerts and may change while
// watch runs: the rule set and the sinks. One load makes both (reading the
// config file once), at start and on SIGHUP.
type alerting struct {
	rules *rules.Set
	sinks []sinks.Config
}

// loadAlerting reads the rule files, and the sinks of the flags and of
// file's sinks: list.
func (o *watchOptions) loadAlerting(file *configFile, minSev alert.Severity) (alerting, error) {
	set, err := loadRules(o.ruleFiles)
	if err != nil {
		return alerting{}, err
	}
	cfgs, err := o.sinks.configs(file, minSev)
	if err != nil {
		return alerting{}, err
	}
	// A built-in rule a rule file disabled is a name all the same: a sink
	// kept for it while it is off is not a typo.
	var builtin *rules.Set // compiled once, and only if a name is not in set
	known := func(name string) bool {
		if _, ok := set.Lookup(name); ok {
			return true
		}
		if builtin == nil {
			builtin = rules.Builtin()
		}
		_, ok := builtin.Lookup(name)
		return ok
	}
	var unknown []error
	for _, c := range cfgs {
		if err := c.CheckRules(known); err != nil {
			unknown = append(unknown, err)
		}
	}
	if len(unknown) > 0 {
		return alerting{}, usageError{errors.Join(unknown...)}
	}
	return alerting{rules: set, sinks: cfgs}, nil
}

// reloadWait bounds how long a reload waits for the deliveries in flight
// before it cuts them short (they stay queued); alerts wait meanwhile.
const reloadWait = 5 * time.Second

// reloadOnHUP reloads the rules and the sinks on SIGHUP.
func (o *watchOptions) reloadOnHUP(ctx context.Context, hup <-chan os.Signal, minSev alert.Severity, w *pipeline.Watcher, slot *sinkSlot, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			o.reload(ctx, minSev, w, slot, logger)
		}
	}
}

// reload loads the config file, the rule files and the sink flags' secret
// files anew. It is all or nothing: when any is invalid, the error (naming
// FILE:LINE:COLUMN) is logged and the rules and sinks in force stay.
func (o *watchOptions) reload(ctx context.Context, minSev alert.Severity, w *pipeline.Watcher, slot *sinkSlot, logger *slog.Logger) {
	file, err := readConfigFile(o.configPath)
	var a alerting
	if err == nil {
		a, err = o.loadAlerting(file, minSev)
	}
	if err != nil {
		logger.Error("reload failed; keeping the rules and sinks in force", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, reloadWait)
	err = slot.reload(rctx, a.sinks)
	cancel()
	var ce *sinks.ConfigError
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) || (err != nil && slot.d.Load() == nil) {
		logger.Error("reload failed; keeping the rules and sinks in force", "err", err)
		return
	}
	if err != nil {
		logger.Warn("closing the replaced sinks", "err", err)
	}
	logger.Info("alerts go to", "stdout", o.format+", at least "+o.minSeverity, "sinks", destinations(slot.d.Load()))
	w.Reload(a.rules)
}

// listenError reports that the address a flag named cannot be listened on
// (malformed, taken, not this machine's): the user's to fix, exit 2, as
// every command that listens has it.
func listenError(flag, addr string, err error) error {
	return usageErrorf("%s %s: %v", flag, addr, err)
}

// serveOps serves /healthz, /readyz and /metrics.
func serveOps(o *watchOptions, reg *prom.Registry, w *pipeline.Watcher, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, listenError("--listen", o.listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ok") })
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		if why := w.Unready(); why != "" {
			http.Error(rw, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		if o.notReady != nil {
			if why := o.notReady(); why != "" {
				http.Error(rw, "not ready: "+why, http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(rw, "ready")
		if o.notes != nil {
			for _, n := range o.notes() {
				fmt.Fprintln(rw, "note: "+n)
			}
		}
	})
	mux.Handle("GET /metrics", reg.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("ops server", "err", err)
		}
	}()
	if o.listening != nil {
		o.listening(ln.Addr().String())
	}
	logger.Info("serving /healthz /readyz /metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// newLogger makes graceguard's own structured log on stderr.
func newLogger(io streams, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(io.errOut, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(io.errOut, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: want text or json", format)
}

// destinations are the sinks beyond stdout, or "none".
func destinations(d *sinks.Dispatcher) string {
	if d == nil {
		return "none"
	}
	return strings.Join(d.Destinations(), ", ")
}

// deliveryName labels the watcher's delivery metrics: stdout alone, or
// stdout and the sinks' queues (whose own metrics count what they sent),
// by the dispatcher in the slot at each group: a reload may make the first.
func (s *sinkSlot) deliveryName() string {
	if s.d.Load() == nil {
		return "stdout"
	}
	return "stdout+queues"
}
