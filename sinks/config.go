package sinks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/graceguard/graceguard/internal/secretfile"
	"github.com/graceguard/graceguard/internal/yamlpos"

	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/alert"
)

// Config is one sink: an entry of the config file's sinks: list, or one
// a flag made. It holds what every sink type shares (name, filter,
// delivery); the integration's own settings are in Sink, a type declared
// beside the sink itself (SlackConfig in slack.go, WebhookConfig in
// webhook.go, …) and found through the registry (registry.go). Secrets
// come from files (*_file keys) or from flags and the environment, never
// from the config file itself, which is too easily committed or shown in a
// ticket.
type Config struct {
	Type        string // a registered type: slack, webhook, file or syslog
	Name        string // labels metrics, logs and the persisted queue; the type by default
	MinSeverity alert.Severity
	Rules       []string // only these rules' alerts; empty for all
	Delivery    Delivery
	Sink        SinkConfig // the type's own settings

	// Origin names where the entry came from in errors:
	// "graceguard.yaml:12:5: sinks[1]", or the flag. RulesOrigin names its
	// rules: list ("graceguard.yaml:15:12: sinks[1].rules"). An entry an
	// alias (- *base) or a merge (<<: *base) makes is where it is used,
	// not where the anchor is: that is the line to fix.
	Origin      string
	RulesOrigin string

	at entryPos // where a config-file entry is; zero for a flag's
}

// entryPos is where an entry of a config file's sinks: list is, so that
// a problem one entry makes with another can name the other by its line.
type entryPos struct {
	file, path string // "graceguard.yaml", "sinks[1]"
	line       int
}

// ref names c to a problem of other: by index and line in the same file
// ("sinks[0] (line 3)"), else whole (its Origin).
func (c Config) ref(other Config) string {
	if c.at.file != "" && c.at.file == other.at.file {
		return fmt.Sprintf("%s (line %d)", c.at.path, c.at.line)
	}
	return c.Origin
}

// CheckRules reports the names in c.Rules that no rule has (known says
// which one does): a sink filtered on a name misspelt would never get an
// alert, and nothing would say so.
func (c Config) CheckRules(known func(name string) bool) error {
	var unknown []string
	for _, name := range c.Rules {
		if !known(name) {
			unknown = append(unknown, strconv.Quote(name))
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	at := cmp.Or(c.RulesOrigin, c.Origin)
	return &ConfigError{[]string{fmt.Sprintf("%s: no rule is named %s (the built-in rules' names, or --rules files')", at, strings.Join(unknown, ", "))}}
}

// SinkConfig is one integration's own settings: the YAML keys it reads,
// what it requires, and how it makes its sink (reading the secret files
// it names). Implemented in this package only, one type per sink file.
type SinkConfig interface {
	// keys are the config-file keys of this type, writing into the
	// receiver (or into c's shared settings, such as Slack's digest).
	keys(c *Config) map[string]setting
	// validate lists what is missing or wrong, without touching files or
	// the network; it may fill defaults. Problems never quote a secret.
	validate() []string
	// newSink reads the secret files and makes the sink.
	newSink() (Sink, error)
}

// ConfigError lists every problem found in sink configuration, each as
// "FILE:LINE:COLUMN: sinks[i].key: message" (or naming the flag), so a
// command can report them all at once and exit 2.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// parseConfig reads the sinks: list of a whole YAML config document (the
// other keys are the command's flags and are not looked at). A document
// without sinks: yields none. file names the document in errors.
func parseConfig(file string, data []byte) ([]Config, error) {
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
// Every problem is reported, each with its file, line and column. An
// entry may be an alias of another (- *base) or merge one (<<: *base);
// two file sinks writing one file are refused (see duplicates.go).
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
		uses  []*yaml.Node // each entry as written: an alias is its *name, not the anchor
		paths []string
	)
	for i, n := range node.Content {
		path := fmt.Sprintf("sinks[%d]", i)
		if c, ok := d.entry(resolve(n), n, path); ok {
			cfgs, uses, paths = append(cfgs, c), append(uses, n), append(paths, path)
		}
	}
	defaultNames(cfgs)
	names := map[string]int{}
	for i := range cfgs {
		if j, dup := names[cfgs[i].Name]; dup {
			d.errf(uses[i], paths[i], "%s is also the name of %s; give one a name", cfgs[i].Name, paths[j])
			continue
		}
		names[cfgs[i].Name] = i
	}
	d.problems = append(d.problems, sameFileProblems(cfgs, nil)...)
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

// resolve follows YAML aliases (*name) to what they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// commonKeys are the keys every sink type takes.
func commonKeys(c *Config) map[string]setting {
	return map[string]setting{
		"type": {set: func(*decoder, *yaml.Node, string) {}}, // read first, by entry
		"name": {set: func(d *decoder, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				if err := checkName(s); err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				c.Name = s
			}
		}},
		"min_severity": {set: func(d *decoder, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				sev, err := alert.ParseSeverity(s)
				if err != nil {
					d.errf(n, path, "%v", err)
					return
				}
				c.MinSeverity = sev
			}
		}},
		"rules": {set: func(d *decoder, n *yaml.Node, path string) {
			c.Rules, _ = d.strList(n, path)
			c.RulesOrigin = fmt.Sprintf("%s:%d:%d: %s", d.file, n.Line, n.Column, path)
		}},
		"queue_size":    numField(&c.Delivery.QueueSize),
		"max_age":       durField(&c.Delivery.MaxAge),
		"backoff_min":   durField(&c.Delivery.BackoffMin),
		"backoff_max":   durField(&c.Delivery.BackoffMax),
		"delivered_ids": numField(&c.Delivery.DeliveredIDs),
		"throttle":      durField(&c.Delivery.Throttle),
		"throttle_key": {set: func(d *decoder, n *yaml.Node, path string) {
			fields, ok := d.strList(n, path)
			if !ok {
				return
			}
			for _, f := range fields {
				if !slices.Contains(throttleFields, f) {
					d.errf(n, path, "unknown field %q (want some of %s)", f, strings.Join(throttleFields, ", "))
					return
				}
			}
			c.Delivery.ThrottleKey = fields
		}},
	}
}

// entry reads one sink mapping, n; use is the entry as written (n, or an
// alias of it), where problems with the entry as a whole are reported.
func (d *decoder) entry(n, use *yaml.Node, path string) (Config, bool) {
	c := Config{Origin: fmt.Sprintf("%s:%d:%d: %s", d.file, use.Line, use.Column, path), at: entryPos{file: d.file, path: path, line: use.Line}}
	if n.Kind != yaml.MappingNode {
		d.errf(use, path, "want a mapping with a type (%s)", strings.Join(typeNames(), ", "))
		return c, false
	}
	before := len(d.problems)
	pairs := d.pairs(n, path)
	in, ok := d.integration(use, pairs, path)
	if !ok {
		return c, false
	}
	c.Type, c.Sink = in.kind, in.config()
	fields := commonKeys(&c)
	for k, f := range c.Sink.keys(&c) {
		fields[k] = f
	}
	for _, p := range pairs {
		kpath := path + "." + p.key.Value
		f, known := fields[p.key.Value]
		switch {
		case p.key.Kind != yaml.ScalarNode:
			d.errf(p.key, path, "a key must be a plain name")
		case !known:
			d.unknownKey(p.key, kpath, c.Type, fields)
		default:
			f.set(d, p.value, kpath)
		}
	}
	if len(d.problems) > before {
		return c, false
	}
	for _, p := range c.validate() {
		d.errf(use, path, "%s", p)
	}
	return c, len(d.problems) == before
}

// pair is one key of a sink entry and its value. A key a merge brought
// (<<: *base) is placed at the entry's merge key instead: a problem with
// the copy is the entry's, and the anchor's own line may be fine where it
// stands (a file sink's path, merged into a webhook entry).
type pair struct{ key, value *yaml.Node }

// placedAt is n moved to where at stands, or n itself when at is nil. Only
// the node itself moves: the items of a list or mapping copied keep their
// places in the anchor.
func placedAt(n, at *yaml.Node) *yaml.Node {
	if at == nil {
		return n
	}
	c := *n
	c.Line, c.Column = at.Line, at.Column
	return &c
}

// pairs returns the keys of the entry mapping n: its own, then those its
// merge keys bring (<<: *base, or <<: [*a, *b]) that it has not, the
// earlier merge first, as YAML's merge key has it. So an entry can copy an
// anchored one and change its path. A key given twice in one mapping is a
// problem. Each mapping is read once: aliases can make a mapping merge
// itself (&a {<<: *a}) or reach one mapping twice, and neither may loop or
// multiply the work.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	have := map[string]bool{}
	read := map[*yaml.Node]bool{}
	// via is the entry's own merge key that brought m's keys, nil for the
	// entry's own mapping.
	var add func(m, via *yaml.Node)
	add = func(m, via *yaml.Node) {
		if read[m] {
			return
		}
		read[m] = true
		type merge struct{ key, value *yaml.Node }
		var merges []merge
		own := map[string]bool{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := resolve(m.Content[i]), resolve(m.Content[i+1])
			if kn.Kind != yaml.ScalarNode {
				out = append(out, pair{placedAt(kn, via), placedAt(vn, via)})
				continue
			}
			switch {
			case kn.Tag == "!!merge":
				merges = append(merges, merge{kn, vn})
			case own[kn.Value]:
				d.errf(placedAt(kn, via), path+"."+kn.Value, "given twice")
			case have[kn.Value]: // a nearer mapping set it
				own[kn.Value] = true
			default:
				own[kn.Value], have[kn.Value] = true, true
				out = append(out, pair{placedAt(kn, via), placedAt(vn, via)})
			}
		}
		for _, mg := range merges {
			at := cmp.Or(via, mg.key)
			switch v := mg.value; v.Kind {
			case yaml.MappingNode:
				add(v, at)
			case yaml.SequenceNode:
				for _, item := range v.Content {
					if it := resolve(item); it.Kind == yaml.MappingNode {
						add(it, at)
					} else {
						d.errf(item, path+".<<", "want a mapping, or a list of mappings, to merge")
					}
				}
			default:
				d.errf(v, path+".<<", "want a mapping, or a list of mappings, to merge")
			}
		}
	}
	add(n, nil)
	return out
}

// integration finds the registered type an entry's type: key names.
func (d *decoder) integration(use *yaml.Node, pairs []pair, path string) (integration, bool) {
	var typeNode *yaml.Node
	for _, p := range pairs {
		if p.key.Kind == yaml.ScalarNode && p.key.Value == "type" {
			typeNode = p.value
		}
	}
	if typeNode == nil {
		d.errf(use, path, "no type (want %s)", strings.Join(typeNames(), ", "))
		return integration{}, false
	}
	typ, ok := d.str(typeNode, path+".type")
	if !ok {
		return integration{}, false
	}
	in, ok := lookup(typ)
	if !ok {
		d.errf(typeNode, path+".type", "unknown sink type %q (want %s)", typ, strings.Join(typeNames(), ", "))
	}
	return in, ok
}

// unknownKey reports a key this type does not take: one of another type's,
// or a typo.
func (d *decoder) unknownKey(kn *yaml.Node, kpath, typ string, fields map[string]setting) {
	var owners []string
	for _, in := range integrations {
		if _, ok := in.config().keys(&Config{})[kn.Value]; ok {
			owners = append(owners, in.kind)
		}
	}
	if len(owners) > 0 {
		d.errf(kn, kpath, "does not apply to a %s sink (it is for %s)", typ, strings.Join(owners, ", "))
		return
	}
	var names []string
	for k, f := range fields {
		if !f.secret {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	d.errf(kn, kpath, "unknown key for a %s sink (known: %s)", typ, strings.Join(names, ", "))
}

// nameRE is compiled at its first use, not at every start: its bounded
// repetition makes a large program (0.2 ms of each process's start).
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

func checkName(s string) error {
	if !nameRE().MatchString(s) {
		return fmt.Errorf("name %q: want letters, digits, '.', '_' or '-', at most 64", s)
	}
	return nil
}

// validate checks what the type needs and what all share, without touching
// files or the network. The problems never quote a secret.
func (c *Config) validate() []string {
	var p []string
	if c.Sink == nil {
		p = append(p, fmt.Sprintf("unknown sink type %q (want %s)", c.Type, strings.Join(typeNames(), ", ")))
	} else {
		p = c.Sink.validate()
	}
	if c.Delivery.BackoffMin > 0 && c.Delivery.BackoffMax > 0 && c.Delivery.BackoffMax < c.Delivery.BackoffMin {
		p = append(p, "backoff_max is shorter than backoff_min")
	}
	return p
}

// Build makes a Dispatcher with one route per config, reading the secret
// files they name. Flag-made and file-made configs may be mixed; their
// names must differ.
func Build(cfgs []Config, opt DispatcherOptions) (*Dispatcher, error) {
	routes, err := routesOf(cfgs, opt)
	if err != nil {
		return nil, err
	}
	d, err := newDispatcher(opt, routes...)
	if err != nil {
		closeAll(routes)
		return nil, err
	}
	return d, nil
}

// routesOf makes the sinks cfgs name for a dispatcher made with opt; a
// *ConfigError lists every config that cannot make its sink, and then no
// sink is left open. Two file sinks of one file are refused before any
// sink is made, so a refused set creates no file.
func routesOf(cfgs []Config, opt DispatcherOptions) ([]Route, error) {
	if p := sameFileProblems(cfgs, opt.ownFiles()); len(p) > 0 {
		return nil, &ConfigError{p}
	}
	var routes []Route
	var origins, problems []string
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
		routes, origins = append(routes, r), append(origins, c.Origin)
	}
	if len(problems) > 0 {
		closeAll(routes)
		return nil, &ConfigError{problems}
	}
	if opt.Logger != nil {
		warnSameDestination(routes, origins, opt.Logger)
	}
	return routes, nil
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
	s, err := c.Sink.newSink()
	if err != nil {
		return fail(err)
	}
	return Route{Name: c.Name, Sink: s, Filter: Filter{MinSeverity: c.MinSeverity, Rules: c.Rules}, Delivery: c.Delivery}, nil
}

// readSecret returns v, or the content of file, read by the rules every
// *_file setting follows (internal/secretfile), when v is empty and file
// is set.
func readSecret(v Secret, file, key string) (Secret, error) {
	if v != "" || file == "" {
		return v, nil
	}
	s, err := secretfile.Read(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return Secret(s), nil
}
