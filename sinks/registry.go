package sinks

// The sink types.
const (
	TypeSlack   = "slack"
	TypeWebhook = "webhook"
	TypeFile    = "file"
	TypeSyslog  = "syslog"
)

// integration is one sink type: the config it reads (a type beside the
// sink, in its own file) and the command-line flags it contributes.
type integration struct {
	kind   string
	config func() SinkConfig
	flags  func() flagSet // nil: no flags
}

// integrations are the sink types, in the order errors list them and flags
// make sinks. A new sink type is one new file (its sink, its config type,
// maybe its flags) and one line here.
var integrations = []integration{
	{TypeSlack, func() SinkConfig { return &SlackConfig{} }, func() flagSet { return &slackFlags{} }},
	{TypeWebhook, func() SinkConfig { return &WebhookConfig{} }, func() flagSet { return &webhookFlags{} }},
	{TypeFile, func() SinkConfig { return &FileConfig{} }, func() flagSet { return &fileFlags{} }},
	{TypeSyslog, func() SinkConfig { return &SyslogConfig{} }, func() flagSet { return &syslogFlags{} }},
}

func lookup(kind string) (integration, bool) {
	for _, in := range integrations {
		if in.kind == kind {
			return in, true
		}
	}
	return integration{}, false
}

func typeNames() []string {
	names := make([]string, len(integrations))
	for i, in := range integrations {
		names[i] = in.kind
	}
	return names
}
