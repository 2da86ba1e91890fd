package sinks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/graceguard/graceguard/internal/yamlpos"

	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/alert"
)

// Config is one sink: an entry of the config file's sinks: list, or one
// FromFlags made. Secrets come from files (*_file keys) or from flags and
// the environment (the Secret fields), never from the config file itself,
// which is too easily committed or shown in a ticket.
type Config struct {
	Type        string // slack, webhook, file or syslog
	Name        string // labels metrics, logs and the persisted queue; the type by default
	MinSeverity alert.Severity
	Rules       []string // only these rules' alerts; empty for all
	Delivery    Delivery

	// slack
	WebhookURL     Secret
	WebhookURLFile string
	Token          Secret
	TokenFile      string
	Channel        string
	APIURL         string
	RunbookURL     string
	Interval       time.Duration
	Burst          int
	ThreadWindow   time.Duration

	// webhook
	URL             Secret
	URLFile         string
	Headers         map[string]string
	SecretFile      string
	SignatureHeader string

	// file
	Path   string
	Format FileFormat

	// syslog
	Network  string
	Address  string
	TLS      *TLSConfig
	Facility string
	Hostname string
	AppName  string

	Timeout time.Duration // per request or connection: slack, webhook, syslog

	// Origin names where the entry came from in errors:
	// "graceguard.yaml:12:5: sinks[1]", or the flag.
	Origin string
}

// TLSConfig is a syslog sink's tls: mapping.
type TLSConfig struct {
	CAFile             string // PEM roots to verify the collector; the system's by default
	CertFile, KeyFile  string // a client certificate, for collectors that ask for one
	ServerName         string // the name to verify; the host of address by default
	InsecureSkipVerify bool   // for a lab only
}

// The sink types.
const (
	TypeSlack   = "slack"
	TypeWebhook = "webhook"
	TypeFile    = "file"
	TypeSyslog  = "syslog"
)

var sinkTypes = []string{TypeSlack, TypeWebhook, TypeFile, TypeSyslog}

// ConfigError lists every problem found in sink configuration, each as
// "FILE:LINE:COLUMN: sinks[i].key: message" (or naming the flag), so a
// command can report them all at once and exit 2.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// ParseConfig reads the sinks: list of a whole YAML config document (the
// other keys are the command's flags and are not looked at). A document
// without sinks: yields none. file names the document in errors.
func ParseConfig(file string, data []byte) ([]Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos, msg := yamlpos.Locate(data, err)
		return nil, &ConfigError{[]string{fmt.Sprintf("%s:%d:%d: %s", file, pos.Line, pos.Column, msg)}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return nil, nil
		}
		return nil, &ConfigError{[]string{fmt.Sprintf("%s:%d:%d: want a mapping of settings", file, root.Line, root.Column)}}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "sinks" {
			return DecodeConfig(file, root.Content[i+1])
		}
	}
	return nil, nil
}

// DecodeConfig reads the value of a sinks: key: a list of sink mappings.
// Every problem is reported, each with its file, line and column.
func DecodeConfig(file string, node *yaml.Node) ([]Config, error) {
	d := &decoder{file: file}
	node = resolve(node)
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil, nil
	}
	if node.Kind != yaml.SequenceNode {
		d.errf(node, "sinks", "want a list of sinks, each a mapping with a type")
		return nil, d.err()
	}
	var (
		cfgs  []Config
		nodes []*yaml.Node
		paths []string
	)
	for i, n := range node.Content {
		path := fmt.Sprintf("sinks[%d]", i)
		if c, ok := d.entry(resolve(n), path); ok {
			cfgs, nodes, paths = append(cfgs, c), append(nodes, resolve(n)), append(paths, path)
		}
	}
	defaultNames(cfgs)
	names := map[string]int{}
	for i := range cfgs {
		if j, dup := names[cfgs[i].Name]; dup {
			d.errf(nodes[i], paths[i], "%s is also the name of %s; give one a name", cfgs[i].Name, paths[j])
			continue
		}
		names[cfgs[i].Name] = i
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// defaultNames names unnamed sinks after their type, numbered when more
// than one of a type is unnamed or the type's name is taken.
func defaultNames(cfgs []Config) {
	unnamed, taken := map[string]int{}, map[string]bool{}
	for _, c := range cfgs {
		if c.Name == "" {
			unnamed[c.Type]++
		} else {
			taken[c.Name] = true
		}
	}
	seen := map[string]int{}
	for i := range cfgs {
		c := &cfgs[i]
		if c.Name != "" {
			continue
		}
		if unnamed[c.Type] == 1 && !taken[c.Type] {
			c.Name = c.Type
			continue
		}
		for {
			seen[c.Type]++
			name := c.Type + "-" + strconv.Itoa(seen[c.Type])
			if !taken[name] {
				c.Name = name
				break
			}
		}
	}
}

type decoder struct {
	file     string
	problems []string
}

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, fmt.Sprintf("%s:%d:%d: %s: %s", d.file, n.Line, n.Column, path, fmt.Sprintf(format, args...)))
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &ConfigError{d.problems}
}

// resolve follows YAML aliases (*name) to what they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// key is one setting of a sink entry: which types take it and how it is
// read.
type key struct {
	types []string // empty: every type
	set   func(d *decoder, c *Config, n *yaml.Node, path string)
}

var keys map[string]key

func init() {
	str := func(f func(*Config) *string) func(*decoder, *Config, *yaml.Node, string) {
		return func(d *decoder, c *Config, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				*f(c) = s
			}
		}
	}
	dur := func(f func(*Config) *time.Duration) func(*decoder, *Config, *yaml.Node, string) {
		return func(d *decoder, c *Config, n *yaml.Node, path string) {
			if v, ok := d.duration(n, path); ok {
				*f(c) = v
			}
		}
	}
	num := func(f func(*Config) *int) func(*decoder, *Config, *yaml.Node, string) {
		return func(d *decoder, c *Config, n *yaml.Node, path string) {
			if v, ok := d.positive(n, path); ok {
				*f(c) = v
			}
		}
	}
	secretInline := func(fileKey, flag string) func(*decoder, *Config, *yaml.Node, string) {
		return func(d *decoder, _ *Config, n *yaml.Node, path string) {
			d.errf(n, path, "secrets are not read from the config file; put it in a file and name that with %s, or use %s", fileKey, flag)
		}
	}
	slk, web, fil, sys := []string{TypeSlack}, []string{TypeWebhook}, []string{TypeFile}, []string{TypeSyslog}
	keys = map[string]key{
		"type": {set: func(*decoder, *Config, *yaml.Node, string) {}}, // read first, by entry
		"name": {set: func(d *decoder, c *Config, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				if err := checkName(s); err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				c.Name = s
			}
		}},
		"min_severity": {set: func(d *decoder, c *Config, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				sev, err := alert.ParseSeverity(s)
				if err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				c.MinSeverity = sev
			}
		}},
		"rules":         {set: func(d *decoder, c *Config, n *yaml.Node, path string) { c.Rules, _ = d.strList(n, path) }},
		"queue_size":    {set: num(func(c *Config) *int { return &c.Delivery.QueueSize })},
		"max_age":       {set: dur(func(c *Config) *time.Duration { return &c.Delivery.MaxAge })},
		"backoff_min":   {set: dur(func(c *Config) *time.Duration { return &c.Delivery.BackoffMin })},
		"backoff_max":   {set: dur(func(c *Config) *time.Duration { return &c.Delivery.BackoffMax })},
		"delivered_ids": {set: num(func(c *Config) *int { return &c.Delivery.DeliveredIDs })},
		"throttle":      {set: dur(func(c *Config) *time.Duration { return &c.Delivery.Throttle })},
		"throttle_key": {set: func(d *decoder, c *Config, n *yaml.Node, path string) {
			fields, ok := d.strList(n, path)
			if !ok {
				return
			}
			for _, f := range fields {
				if !slices.Contains(ThrottleFields, f) {
					d.errf(n, path, "unknown field %q (want some of %s)", f, strings.Join(ThrottleFields, ", "))
					return
				}
			}
			c.Delivery.ThrottleKey = fields
		}},
		"timeout": {types: []string{TypeSlack, TypeWebhook, TypeSyslog}, set: dur(func(c *Config) *time.Duration { return &c.Timeout })},

		"webhook_url_file": {types: slk, set: str(func(c *Config) *string { return &c.WebhookURLFile })},
		"webhook_url":      {types: slk, set: secretInline("webhook_url_file", "--slack-webhook-url or GRACEGUARD_SLACK_WEBHOOK_URL")},
		"token_file":       {types: slk, set: str(func(c *Config) *string { return &c.TokenFile })},
		"token":            {types: slk, set: secretInline("token_file", "--slack-token or GRACEGUARD_SLACK_TOKEN")},
		"channel":          {types: slk, set: str(func(c *Config) *string { return &c.Channel })},
		"api_url":          {types: slk, set: str(func(c *Config) *string { return &c.APIURL })},
		"runbook_url":      {types: slk, set: str(func(c *Config) *string { return &c.RunbookURL })},
		"interval":         {types: slk, set: dur(func(c *Config) *time.Duration { return &c.Interval })},
		"burst":            {types: slk, set: num(func(c *Config) *int { return &c.Burst })},
		"thread_window":    {types: slk, set: dur(func(c *Config) *time.Duration { return &c.ThreadWindow })},
		"digest_after":     {types: slk, set: num(func(c *Config) *int { return &c.Delivery.DigestAfter })},
		"digest_max":       {types: slk, set: num(func(c *Config) *int { return &c.Delivery.DigestMax })},

		"url": {types: web, set: func(d *decoder, c *Config, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				c.URL = Secret(s)
			}
		}},
		"url_file":         {types: web, set: str(func(c *Config) *string { return &c.URLFile })},
		"headers":          {types: web, set: func(d *decoder, c *Config, n *yaml.Node, path string) { c.Headers = d.strMap(n, path) }},
		"secret_file":      {types: web, set: str(func(c *Config) *string { return &c.SecretFile })},
		"secret":           {types: web, set: secretInline("secret_file", "a file")},
		"signature_header": {types: web, set: str(func(c *Config) *string { return &c.SignatureHeader })},

		"path": {types: fil, set: str(func(c *Config) *string { return &c.Path })},
		"format": {types: fil, set: func(d *decoder, c *Config, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				f, err := ParseFileFormat(s)
				if err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				c.Format = f
			}
		}},

		"network":  {types: sys, set: str(func(c *Config) *string { return &c.Network })},
		"address":  {types: sys, set: str(func(c *Config) *string { return &c.Address })},
		"facility": {types: sys, set: str(func(c *Config) *string { return &c.Facility })},
		"hostname": {types: sys, set: str(func(c *Config) *string { return &c.Hostname })},
		"app_name": {types: sys, set: str(func(c *Config) *string { return &c.AppName })},
		"tls":      {types: sys, set: func(d *decoder, c *Config, n *yaml.Node, path string) { c.TLS = d.tls(n, path) }},
	}
}

func keyNames(typ string) []string {
	var names []string
	for k, v := range keys {
		if len(v.types) == 0 || slices.Contains(v.types, typ) {
			if v.set != nil && !isInlineSecret(k) {
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

func isInlineSecret(k string) bool { return k == "webhook_url" || k == "token" || k == "secret" }

// entry reads one sink mapping.
func (d *decoder) entry(n *yaml.Node, path string) (Config, bool) {
	c := Config{Origin: fmt.Sprintf("%s:%d:%d: %s", d.file, n.Line, n.Column, path)}
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "want a mapping with a type (%s)", strings.Join(sinkTypes, ", "))
		return c, false
	}
	before := len(d.problems)
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typeNode = resolve(n.Content[i+1])
		}
	}
	if typeNode == nil {
		d.errf(n, path, "no type (want %s)", strings.Join(sinkTypes, ", "))
		return c, false
	}
	typ, ok := d.str(typeNode, path+".type")
	if !ok {
		return c, false
	}
	if !slices.Contains(sinkTypes, typ) {
		d.errf(typeNode, path+".type", "unknown sink type %q (want %s)", typ, strings.Join(sinkTypes, ", "))
		return c, false
	}
	c.Type = typ
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		kpath := path + "." + kn.Value
		k, known := keys[kn.Value]
		switch {
		case kn.Kind != yaml.ScalarNode:
			d.errf(kn, path, "a key must be a plain name")
			continue
		case seen[kn.Value]:
			d.errf(kn, kpath, "given twice")
			continue
		case !known:
			d.errf(kn, kpath, "unknown key for a %s sink (known: %s)", typ, strings.Join(keyNames(typ), ", "))
			continue
		case len(k.types) > 0 && !slices.Contains(k.types, typ):
			d.errf(kn, kpath, "does not apply to a %s sink (it is for %s)", typ, strings.Join(k.types, ", "))
			continue
		}
		seen[kn.Value] = true
		k.set(d, &c, vn, kpath)
	}
	if len(d.problems) > before {
		return c, false
	}
	for _, p := range c.validate() {
		d.errf(n, path, "%s", p)
	}
	return c, len(d.problems) == before
}

func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errf(n, path, "want a single value")
		return "", false
	}
	return n.Value, true
}

func (d *decoder) strList(n *yaml.Node, path string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := d.str(n, path)
		if !ok {
			return nil, false
		}
		return []string{s}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, path, "want a list of names")
		return nil, false
	}
	var out []string
	for _, item := range n.Content {
		s, ok := d.str(resolve(item), path)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (d *decoder) strMap(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "want a mapping of names to values")
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, ok1 := d.str(resolve(n.Content[i]), path)
		v, ok2 := d.str(resolve(n.Content[i+1]), path+"."+n.Content[i].Value)
		if ok1 && ok2 {
			m[k] = v
		}
	}
	return m
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.errf(n, path, "want a positive duration such as 30s, 10m or 24h, not %q", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) positive(n *yaml.Node, path string) (int, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 || v > 10_000_000 {
		d.errf(n, path, "want a positive whole number, not %q", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
		d.errf(n, path, "want true or false")
		return false, false
	}
	return v, true
}

func (d *decoder) tls(n *yaml.Node, path string) *TLSConfig {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "want a mapping (ca_file, cert_file, key_file, server_name, insecure_skip_verify)")
		return nil
	}
	t := &TLSConfig{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		kpath := path + "." + kn.Value
		var dst *string
		switch kn.Value {
		case "ca_file":
			dst = &t.CAFile
		case "cert_file":
			dst = &t.CertFile
		case "key_file":
			dst = &t.KeyFile
		case "server_name":
			dst = &t.ServerName
		case "insecure_skip_verify":
			t.InsecureSkipVerify, _ = d.boolean(vn, kpath)
			continue
		default:
			d.errf(kn, kpath, "unknown key (known: ca_file, cert_file, key_file, server_name, insecure_skip_verify)")
			continue
		}
		if s, ok := d.str(vn, kpath); ok {
			*dst = s
		}
	}
	return t
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("name %q: want letters, digits, '.', '_' or '-', at most 64", s)
	}
	return nil
}

// validate checks what each type needs, without touching files or the
// network. The problems never quote a secret.
func (c *Config) validate() []string {
	var p []string
	one := func(a, b bool, what string) {
		switch {
		case a && b:
			p = append(p, "give "+what+", not both")
		case !a && !b:
			p = append(p, "needs "+what)
		}
	}
	checkURL := func(label, raw string, secret bool) {
		if raw == "" {
			return
		}
		if err := checkHTTPURL(raw); err != nil {
			shown := raw
			if secret {
				shown = redact(raw)
			}
			p = append(p, fmt.Sprintf("%s %s: %v", label, shown, err))
		}
	}
	switch c.Type {
	case TypeSlack:
		one(c.WebhookURL != "" || c.WebhookURLFile != "", c.Token != "" || c.TokenFile != "",
			"webhook_url_file (an incoming webhook) or token_file with channel (a bot)")
		if (c.Token != "" || c.TokenFile != "") && c.Channel == "" {
			p = append(p, "a bot token needs a channel")
		}
		if c.Channel != "" && c.Token == "" && c.TokenFile == "" {
			p = append(p, "channel goes with a bot token (token_file); an incoming webhook posts to its own channel")
		}
		if c.APIURL != "" && c.Token == "" && c.TokenFile == "" {
			p = append(p, "api_url goes with a bot token (token_file)")
		}
		checkURL("webhook URL", c.WebhookURL.Reveal(), true)
		checkURL("api_url", c.APIURL, false)
		checkURL("runbook_url", c.RunbookURL, false)
	case TypeWebhook:
		one(c.URL != "", c.URLFile != "", "url or url_file")
		checkURL("url", c.URL.Reveal(), true)
		for k := range c.Headers {
			if !validHeaderName(k) {
				p = append(p, fmt.Sprintf("header name %q is not a valid HTTP header name", k))
			}
		}
	case TypeFile:
		if c.Path == "" {
			p = append(p, "needs a path")
		}
	case TypeSyslog:
		if c.Network == "" {
			c.Network = "udp"
		}
		if !slices.Contains([]string{"udp", "tcp", "tls"}, c.Network) {
			p = append(p, fmt.Sprintf("network %q: want udp, tcp or tls", c.Network))
		}
		if _, _, err := net.SplitHostPort(c.Address); err != nil {
			p = append(p, fmt.Sprintf("address %q: want host:port", c.Address))
		}
		if c.TLS != nil && c.Network != "tls" {
			p = append(p, "tls settings need network: tls")
		}
		if c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
			p = append(p, "tls: cert_file and key_file go together")
		}
		if _, err := ParseFacility(c.Facility); err != nil {
			p = append(p, err.Error())
		}
	default:
		p = append(p, fmt.Sprintf("unknown sink type %q (want %s)", c.Type, strings.Join(sinkTypes, ", ")))
	}
	if c.Delivery.BackoffMin > 0 && c.Delivery.BackoffMax > 0 && c.Delivery.BackoffMax < c.Delivery.BackoffMin {
		p = append(p, "backoff_max is shorter than backoff_min")
	}
	return p
}

// Flags are the command-line settings for the common sinks; each also has
// a config key and a GRACEGUARD_* variable in cmd/graceguard. A set value
// adds one sink.
type Flags struct {
	SlackWebhookURL string         // --slack-webhook-url
	SlackToken      string         // --slack-token, with SlackChannel
	SlackChannel    string         // --slack-channel
	SlackAPIURL     string         // --slack-api-url
	SlackRunbookURL string         // a runbook link in every Slack message (optional)
	WebhookURL      string         // --webhook-url
	AlertsFile      string         // --alerts-file: JSON lines appended
	AlertsFormat    string         // json (default) or ecs
	SyslogAddr      string         // --syslog-addr: [udp://|tcp://|tls://]host:port
	MinSeverity     alert.Severity // for every sink made here
}

// FromFlags turns flag values into sink configs named slack, webhook,
// alerts-file and syslog. Problems name the flag and never quote a secret.
func FromFlags(f Flags) ([]Config, error) {
	var cfgs []Config
	var problems []string
	add := func(c Config) {
		for _, p := range c.validate() {
			problems = append(problems, c.Origin+": "+p)
		}
		cfgs = append(cfgs, c)
	}
	switch {
	case f.SlackWebhookURL != "" && f.SlackToken != "":
		problems = append(problems, "--slack-webhook-url and --slack-token: give one (a bot token allows threads)")
	case f.SlackWebhookURL != "":
		if f.SlackChannel != "" || f.SlackAPIURL != "" {
			problems = append(problems, "--slack-channel and --slack-api-url go with --slack-token; an incoming webhook posts to its own channel")
		}
		add(Config{Type: TypeSlack, Name: "slack", Origin: "--slack-webhook-url", MinSeverity: f.MinSeverity,
			WebhookURL: Secret(strings.TrimSpace(f.SlackWebhookURL)), RunbookURL: f.SlackRunbookURL})
	case f.SlackToken != "":
		add(Config{Type: TypeSlack, Name: "slack", Origin: "--slack-token", MinSeverity: f.MinSeverity,
			Token: Secret(strings.TrimSpace(f.SlackToken)), Channel: f.SlackChannel, APIURL: f.SlackAPIURL, RunbookURL: f.SlackRunbookURL})
	case f.SlackChannel != "" || f.SlackAPIURL != "":
		problems = append(problems, "--slack-channel and --slack-api-url need --slack-token")
	}
	if f.WebhookURL != "" {
		add(Config{Type: TypeWebhook, Name: "webhook", Origin: "--webhook-url", MinSeverity: f.MinSeverity, URL: Secret(strings.TrimSpace(f.WebhookURL))})
	}
	if f.AlertsFile != "" {
		format, err := ParseFileFormat(f.AlertsFormat)
		if err != nil {
			problems = append(problems, "--alerts-file: "+err.Error())
		}
		add(Config{Type: TypeFile, Name: "alerts-file", Origin: "--alerts-file", MinSeverity: f.MinSeverity, Path: f.AlertsFile, Format: format})
	}
	if f.SyslogAddr != "" {
		network, addr := "udp", f.SyslogAddr
		if scheme, rest, ok := strings.Cut(addr, "://"); ok {
			network, addr = scheme, rest
		}
		add(Config{Type: TypeSyslog, Name: "syslog", Origin: "--syslog-addr", MinSeverity: f.MinSeverity, Network: network, Address: addr})
	}
	if len(problems) > 0 {
		return nil, &ConfigError{problems}
	}
	return cfgs, nil
}

// Build makes a Dispatcher with one route per config, reading the secret
// files they name. Flag-made and file-made configs may be mixed; their
// names must differ.
func Build(cfgs []Config, opt DispatcherOptions) (*Dispatcher, error) {
	var routes []Route
	var problems []string
	names := map[string]string{}
	for _, c := range cfgs {
		if prev, dup := names[c.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: a sink named %q is also defined by %s; give one a name", c.Origin, c.Name, prev))
			continue
		}
		names[c.Name] = c.Origin
		r, err := c.Route()
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		routes = append(routes, r)
	}
	if len(problems) > 0 {
		closeAll(routes)
		return nil, &ConfigError{problems}
	}
	d, err := NewDispatcher(opt, routes...)
	if err != nil {
		closeAll(routes)
		return nil, err
	}
	return d, nil
}

func closeAll(routes []Route) {
	for _, r := range routes {
		r.Sink.Close(context.Background())
	}
}

// Route makes the config's sink and its route. Errors start with Origin.
func (c Config) Route() (Route, error) {
	fail := func(err error) (Route, error) { return Route{}, fmt.Errorf("%s: %w", c.Origin, err) }
	if p := c.validate(); len(p) > 0 {
		return fail(errors.New(strings.Join(p, "; ")))
	}
	var (
		s   Sink
		err error
	)
	switch c.Type {
	case TypeSlack:
		opt := SlackOptions{WebhookURL: c.WebhookURL, Token: c.Token, Channel: c.Channel, APIURL: c.APIURL,
			RunbookURL: c.RunbookURL, Timeout: c.Timeout, Interval: c.Interval, Burst: c.Burst, ThreadWindow: c.ThreadWindow}
		if opt.WebhookURL, err = readSecret(opt.WebhookURL, c.WebhookURLFile, "webhook_url_file"); err != nil {
			return fail(err)
		}
		if opt.Token, err = readSecret(opt.Token, c.TokenFile, "token_file"); err != nil {
			return fail(err)
		}
		s, err = NewSlack(opt)
	case TypeWebhook:
		opt := WebhookOptions{URL: c.URL, Headers: c.Headers, SignatureHeader: c.SignatureHeader, Timeout: c.Timeout}
		if opt.URL, err = readSecret(opt.URL, c.URLFile, "url_file"); err != nil {
			return fail(err)
		}
		if opt.Secret, err = readSecret("", c.SecretFile, "secret_file"); err != nil {
			return fail(err)
		}
		s, err = NewWebhook(opt)
	case TypeFile:
		s, err = NewFile(FileOptions{Path: c.Path, Format: c.Format})
	case TypeSyslog:
		opt := SyslogOptions{Network: c.Network, Address: c.Address, Facility: c.Facility, Hostname: c.Hostname, AppName: c.AppName, Timeout: c.Timeout}
		if c.TLS != nil {
			if opt.TLS, err = c.TLS.config(); err != nil {
				return fail(err)
			}
		}
		s, err = NewSyslog(opt)
	}
	if err != nil {
		return fail(err)
	}
	return Route{Name: c.Name, Sink: s, Filter: Filter{MinSeverity: c.MinSeverity, Rules: c.Rules}, Delivery: c.Delivery}, nil
}

// readSecret returns v, or the contents of file (trailing newline and
// spaces dropped) when v is empty and file is set.
func readSecret(v Secret, file, key string) (Secret, error) {
	if v != "" || file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", key, file)
	}
	return Secret(s), nil
}

func (t *TLSConfig) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
