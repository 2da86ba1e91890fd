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

// sinkFlags are the flags for the common sinks; a config file's sinks: list
// configures any number more.
type sinkFlags struct {
	f sinks.Flags
}

func (s *sinkFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.f.SlackWebhookURL, "slack-webhook-url", "", "post alerts to this Slack incoming webhook `URL` (a secret: prefer GRACEGUARD_SLACK_WEBHOOK_URL)")
	fs.StringVar(&s.f.SlackToken, "slack-token", "", "Slack bot `TOKEN` for chat.postMessage with --slack-channel (a secret: prefer GRACEGUARD_SLACK_TOKEN)")
	fs.StringVar(&s.f.SlackChannel, "slack-channel", "", "Slack `CHANNEL` for --slack-token")
	fs.StringVar(&s.f.SlackAPIURL, "slack-api-url", "", "Slack Web API base `URL` (Slack-compatible or test endpoints)")
	fs.StringVar(&s.f.SlackRunbookURL, "slack-runbook-url", "", "runbook `URL` linked in every Slack message")
	fs.StringVar(&s.f.WebhookURL, "webhook-url", "", "POST each alert's JSON to this `URL`")
	fs.StringVar(&s.f.AlertsFile, "alerts-file", "", "append alerts as JSON lines to `FILE`")
	fs.StringVar(&s.f.AlertsFormat, "alerts-format", "json", "format of --alerts-file: json or ecs (Elastic Common Schema)")
	fs.StringVar(&s.f.SyslogAddr, "syslog-addr", "", "send RFC 5424 syslog to `ADDR` ([udp://|tcp://|tls://]host:port)")
}

// buildDispatcher makes the sinks the flags and the config's sinks: list
// name; nil when there are none.
func (s *sinkFlags) buildDispatcher(configPath string, minSev alert.Severity, stateDir string, reg prometheus.Registerer, logger *slog.Logger) (*sinks.Dispatcher, error) {
	s.f.MinSeverity = minSev
	cfgs, err := sinks.FromFlags(s.f)
	if err != nil {
		return nil, usageError{err}
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
	d, err := sinks.Build(cfgs, sinks.DispatcherOptions{StateDir: stateDir, Metrics: sinks.NewMetrics(reg), Logger: logger, AfterSend: afterSinkSend})
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
