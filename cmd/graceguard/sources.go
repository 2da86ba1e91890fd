package main

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/graceguard/graceguard/source"
	"github.com/graceguard/graceguard/source/kube"
)

// watchSources are what watch reads: files and stdin, pods through the
// Kubernetes API, or both into one channel.
type watchSources struct {
	runs    []func(context.Context) error
	files   *source.Follower // nil without paths
	pods    *kube.Source     // nil without --kube-pod or --kube-selector
	proxies *kube.Source     // nil without --kube-proxy-selector
}

// checkInputs checks what watch is to read: paths, or pods named with kube
// flags that fit together and an API server that can be found.
func (o *watchOptions) checkInputs() (kube.Options, error) {
	if err := o.kube.check(); err != nil {
		return kube.Options{}, err
	}
	var opt kube.Options
	if o.kube.enabled() {
		var err error
		if opt, err = o.kube.options(); err != nil {
			return opt, err
		}
	} else if len(o.patterns) == 0 {
		return kube.Options{}, usageErrorf("watch needs at least one PATH, GLOB or - for stdin, or --kube-selector or --kube-pod")
	}
	for _, p := range o.patterns {
		if err := source.CheckPattern(p); err != nil {
			return kube.Options{}, usageError{err}
		}
	}
	for _, p := range o.proxyLogs {
		if p == "-" || p == "" {
			return kube.Options{}, usageErrorf("--proxy-logs %q: want a PATH or GLOB of proxies' log files (stdin is OpenUnison's)", p)
		}
		if err := source.CheckPattern(p); err != nil {
			return kube.Options{}, usageErrorf("--proxy-logs: %w", err)
		}
	}
	return opt, o.kube.resolveProxies(opt)
}

// followed is what the file follower reads: the patterns, and the proxy
// logs named with --proxy-logs that they do not already hold.
func (o *watchOptions) followed() []string {
	out := slices.Clone(o.patterns)
	for _, p := range o.proxyLogs {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// sources makes the file follower for the patterns and the Kubernetes
// source for kubeOpt (when pods are to be read), each given its own of the
// checkpoint's positions; written is when that checkpoint was written.
func (o *watchOptions) sources(kubeOpt kube.Options, positions []source.Position, written time.Time, out chan<- source.Batch, logger *slog.Logger) (*watchSources, error) {
	files, logs := splitPositions(positions)
	s := &watchSources{}
	if patterns := o.followed(); len(patterns) > 0 {
		f := source.New(source.Options{
			Patterns: patterns, FromEnd: o.from == "end", Poll: o.poll, PollOnly: !o.inotify, Positions: files, PositionsWritten: written,
			Stdin: o.io.in, Logger: logger,
		}, out)
		s.files = f
		s.runs = append(s.runs, f.Run)
	}
	if o.kube.enabled() {
		kubeOpt.FromEnd, kubeOpt.Positions, kubeOpt.Logger = o.from == "end", logs, logger
		pods, err := kube.New(kubeOpt, out)
		if err != nil {
			return nil, usageError{err}
		}
		s.pods = pods
		s.runs = append(s.runs, pods.Run)
	}
	if o.kube.proxiesEnabled() {
		opt := o.kube.proxyOpt
		opt.FromEnd, opt.Positions, opt.Logger = o.from == "end", logs, logger
		proxies, err := kube.New(opt, out)
		if err != nil {
			return nil, usageError{err}
		}
		s.proxies = proxies
		s.runs = append(s.runs, proxies.Run)
	}
	return s, nil
}

// notReady says why reading has not begun, "" once it has: the pods must
// have been listed once and their logs served, and every file found must
// be open and read (a path that cannot be read is named with its reason).
func (s *watchSources) notReady() string {
	if s.pods != nil {
		if why := s.pods.NotReady(); why != "" {
			return why
		}
	}
	if s.proxies != nil {
		if why := s.proxies.NotReady(); why != "" {
			return "proxy pods: " + why
		}
	}
	if s.files != nil {
		return s.files.NotReady()
	}
	return ""
}

// notes says what /readyz reports without being unready: files waited for,
// globs that match nothing.
func (s *watchSources) notes() []string {
	if s.files == nil {
		return nil
	}
	return s.files.Notes()
}

// run runs the sources side by side until ctx ends (or stdin, when it is
// the only one), then closes out.
func (s *watchSources) run(ctx context.Context, out chan<- source.Batch, logger *slog.Logger) {
	var wg sync.WaitGroup
	for _, run := range s.runs {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				logger.Error("following stopped", "err", err)
			}
		})
	}
	wg.Wait()
	close(out)
}

// splitPositions parts the checkpoint's positions into the files' and the
// container logs' (those with a cursor).
func splitPositions(all []source.Position) (files, logs []source.Position) {
	for _, p := range all {
		if p.Cursor != "" {
			logs = append(logs, p)
		} else {
			files = append(files, p)
		}
	}
	return files, logs
}

// proxyPeerOf names, in Kubernetes mode with --kube-proxy-selector, the
// address OpenUnison logs for a proxy pod: its pod IP, so attribution need
// not learn which controller log is which peer from the traffic. srcs is
// set after the watcher is made and before it runs; nil without proxy
// pods.
func proxyPeerOf(srcs **watchSources) func(string) (netip.Addr, bool) {
	return func(src string) (netip.Addr, bool) {
		if *srcs == nil || (*srcs).proxies == nil {
			return netip.Addr{}, false
		}
		return (*srcs).proxies.Addr(src)
	}
}
