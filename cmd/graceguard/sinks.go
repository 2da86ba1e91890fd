package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/yamlpos"
	"github.com/graceguard/graceguard/sinks"
)

// sinkFlags are the flags every registered sink type contributes
// (sinks.Flags); a config file's sinks: list configures any number more.
type sinkFlags struct {
	f *sinks.Flags
	// typedAlone are the problems noteGiven found: flags typed that shape
	// a flag's sink no flag made.
	typedAlone []string
}

// sinkFlagNeeds are the flags that only shape the sink another flag makes,
// with the flags that make it.
var sinkFlagNeeds = []struct {
	flag  string
	needs []string
	why   string // what the flag shapes, when "that sink" does not say
}{
	{"alerts-format", []string{"alerts-file"}, ""},
	{"slack-runbook-url", []string{"slack-webhook-url", "slack-token"}, ""},
	{"slack-channel", []string{"slack-token"}, "a bot token's sink"},
	{"slack-api-url", []string{"slack-token"}, "a bot token's sink"},
}

// noteGiven notes the flags of sinkFlagNeeds typed on cmd's command line
// when no flag makes their sink: each would do nothing, and watch ran
// saying nothing. Set in the config file or the environment they are
// defaults, as the --revoke-* flags are (noteGiven in revoke.go).
func (s *sinkFlags) noteGiven(cmd *cobra.Command) {
	s.typedAlone = nil
	set := func(name string) bool {
		f := cmd.Flags().Lookup(name)
		return f != nil && f.Value.String() != ""
	}
	for _, n := range sinkFlagNeeds {
		if !onCommandLine(cmd.Context(), n.flag) || slices.ContainsFunc(n.needs, set) {
			continue
		}
		why := "that sink"
		if n.why != "" {
			why = n.why
		}
		s.typedAlone = append(s.typedAlone, fmt.Sprintf("--%s: given without --%s: it shapes %s only, and no such sink is made",
			n.flag, strings.Join(n.needs, " or --"), why))
	}
}

func (s *sinkFlags) addFlags(fs *pflag.FlagSet) {
	s.f = sinks.NewFlags()
	s.f.AddFlags(fs)
}

// configs are the sinks the flags and the config file's sinks: list name.
func (s *sinkFlags) configs(file *configFile, minSev alert.Severity) ([]sinks.Config, error) {
	if len(s.typedAlone) > 0 {
		return nil, usageErrorf("%s", strings.Join(s.typedAlone, "; "))
	}
	var cfgs []sinks.Config
	if s.f != nil {
		var err error
		if cfgs, err = s.f.Configs(minSev); err != nil {
			return nil, usageError{err}
		}
	}
	more, err := configSinks(file)
	if err != nil {
		return nil, err
	}
	return append(cfgs, more...), nil
}

// buildDispatcher makes the sinks cfgs name; nil when there are none.
// metrics are registered once per process: a reload builds with the same.
func buildDispatcher(cfgs []sinks.Config, stateDir string, metrics *sinks.Metrics, logger *slog.Logger) (*sinks.Dispatcher, error) {
	if len(cfgs) == 0 {
		return nil, nil
	}
	d, err := sinks.Build(cfgs, sinks.DispatcherOptions{StateDir: stateDir, Metrics: metrics, Logger: logger, AfterSend: afterSinkSend, BeforeJournal: beforeSinkJournal})
	var ce *sinks.ConfigError
	if errors.As(err, &ce) {
		return nil, usageError{err}
	}
	return d, err
}

// configSinks decodes the config file's sinks: list; none without a file.
func configSinks(file *configFile) ([]sinks.Config, error) {
	if file == nil {
		return nil, nil
	}
	// At start readConfig has already refused a file that is no YAML
	// mapping; on SIGHUP this is the only reading.
	var doc yaml.Node
	if err := yaml.Unmarshal(file.data, &doc); err != nil {
		pos, msg := yamlpos.Locate(file.data, err)
		return nil, usageErrorf("%s:%d:%d: %s", file.path, pos.Line, pos.Column, msg)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, usageErrorf("%s:%d:%d: want a mapping of settings (flag names) to values", file.path, root.Line, root.Column)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "sinks" {
			cfgs, err := sinks.DecodeConfig(file.path, root.Content[i+1])
			if err != nil {
				return nil, usageError{err}
			}
			return cfgs, nil
		}
	}
	return nil, nil
}

// beforeStdout and afterStdout, set by tests only, run before and after
// stdout takes a group (the ledger has recorded it as leaving, and not yet
// as printed): the kill -9 tests crash the process there.
var beforeStdout, afterStdout func()

// afterSinkSend, set by tests only, runs after a queued sink took a group and
// before its journal says so.
var afterSinkSend func(sink string)

// beforeSinkJournal, set by tests only, runs when the dispatcher is about to
// journal the groups it was handed.
var beforeSinkJournal func()

// stdoutDelivery writes alerts to stdout.
func stdoutDelivery(out *sinks.Writer) func(context.Context, []alert.Alert) error {
	return func(ctx context.Context, g []alert.Alert) error {
		if beforeStdout != nil {
			beforeStdout()
		}
		err := out.Send(ctx, g)
		if afterStdout != nil {
			afterStdout()
		}
		return err
	}
}

// sinkSlot holds watch's dispatcher: none while no sink is configured, and
// a SIGHUP may then make the first one. The watcher hands every group to
// send, which passes it on to whichever dispatcher is in the slot.
type sinkSlot struct {
	d     atomic.Pointer[sinks.Dispatcher]
	build func([]sinks.Config) (*sinks.Dispatcher, error)
	// mu orders a reload's first build against close: a dispatcher made
	// after close would never be closed.
	mu     sync.Mutex
	closed bool
}

// send hands alerts to the dispatcher's durable queues, if there is one.
func (s *sinkSlot) send(ctx context.Context, g []alert.Alert) error {
	if d := s.d.Load(); d != nil {
		return d.Send(ctx, g)
	}
	return nil
}

// reload swaps cfgs in: into the dispatcher when there is one, else into a
// new one when cfgs name any sink.
func (s *sinkSlot) reload(ctx context.Context, cfgs []sinks.Config) error {
	if d := s.d.Load(); d != nil {
		return d.Reload(ctx, cfgs)
	}
	if len(cfgs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("watch is stopping")
	}
	d, err := s.build(cfgs)
	if err != nil {
		return err
	}
	s.d.Store(d)
	return nil
}

// close closes the dispatcher, delivering what it can within 10 s.
func (s *sinkSlot) close(logger *slog.Logger) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	d := s.d.Load()
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		logger.Error("closing sinks", "err", err)
	}
}
