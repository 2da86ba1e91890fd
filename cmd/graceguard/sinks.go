package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/sinks"
)

// sinkFlags are the flags every registered sink type contributes
// (sinks.Flags); a config file's sinks: list configures any number more.
type sinkFlags struct {
	f *sinks.Flags
}

func (s *sinkFlags) addFlags(fs *pflag.FlagSet) {
	s.f = sinks.NewFlags()
	s.f.AddFlags(fs)
}

// buildDispatcher makes the sinks the flags and the config's sinks: list
// name; nil when there are none.
func (s *sinkFlags) buildDispatcher(configPath string, minSev alert.Severity, stateDir string, reg prometheus.Registerer, logger *slog.Logger) (*sinks.Dispatcher, error) {
	var cfgs []sinks.Config
	if s.f != nil {
		var err error
		if cfgs, err = s.f.Configs(minSev); err != nil {
			return nil, usageError{err}
		}
	}
	if configPath != "" {
		more, err := configSinks(configPath)
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, more...)
	}
	if len(cfgs) == 0 {
		return nil, nil
	}
	d, err := sinks.Build(cfgs, sinks.DispatcherOptions{StateDir: stateDir, Metrics: sinks.NewMetrics(reg), Logger: logger, AfterSend: afterSinkSend, BeforeJournal: beforeSinkJournal})
	var ce *sinks.ConfigError
	if errors.As(err, &ce) {
		return nil, usageError{err}
	}
	return d, err
}

func configSinks(path string) ([]sinks.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil // readConfig has reported it
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "sinks" {
			cfgs, err := sinks.DecodeConfig(path, root.Content[i+1])
			if err != nil {
				return nil, usageError{err}
			}
			return cfgs, nil
		}
	}
	return nil, nil
}

// afterStdout, set by tests only, runs after stdout took a group (and the
// ledger recorded it): the kill -9 tests crash the process there.
var afterStdout func()

// afterSinkSend, set by tests only, runs after a queued sink took a group and
// before its journal says so.
var afterSinkSend func(sink string)

// beforeSinkJournal, set by tests only, runs when the dispatcher is about to
// journal the groups it was handed.
var beforeSinkJournal func()

// stdoutDelivery writes alerts to stdout.
func stdoutDelivery(out *sinks.Writer) func(context.Context, []alert.Alert) error {
	return func(ctx context.Context, g []alert.Alert) error {
		err := out.Send(ctx, g)
		if afterStdout != nil {
			afterStdout()
		}
		return err
	}
}

// enqueue hands alerts to the dispatcher's durable queues; nil without one.
func enqueue(d *sinks.Dispatcher) func(context.Context, []alert.Alert) error {
	if d == nil {
		return nil
	}
	return d.Send
}
