package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graceguard/graceguard/internal/yamlpos"
	"github.com/graceguard/graceguard/parser"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envPrefix starts the environment variable of every flag: --state-dir is
// GRACEGUARD_STATE_DIR.
const envPrefix = "GRACEGUARD_"

// applySettings fills the flags the command line left unset, first from
// GRACEGUARD_* environment variables, then from the --config file, so the
// order of precedence is flag, environment, file, default. Every flag has a
// key: its name, with '-' or '_'. Unknown keys are errors naming the file,
// line and column: a typo must not silently fall back to a default.
func applySettings(cmd *cobra.Command, file *configFile, origins settingOrigins) error {
	flags := cmd.Flags()
	var fileValues map[string]*yaml.Node
	configPath := ""
	if file != nil {
		configPath = file.path
		var (
			ignored []string
			err     error
		)
		if fileValues, ignored, err = readConfig(file, cmd, otherCommandsKeys(cmd)); err != nil {
			return err
		}
		if len(ignored) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s ignores the settings of other commands: %s\n",
				configPath, commandName(cmd), strings.Join(ignored, ", "))
		}
	}
	typed := map[string]bool{}
	flags.Visit(func(f *pflag.Flag) { typed[f.Name] = true })
	var problems []string
	if v, ok := os.LookupEnv(envName(proxyJSONKeys)); ok && flags.Lookup("timezone") != nil {
		if _, isFile := fileValues[proxyJSONKeys]; !isFile {
			if err := setProxyJSONKeys(&yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: 1, Column: 1}); err != nil {
				problems = append(problems, envName(proxyJSONKeys)+":"+err.Error())
			}
		}
	}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "help" {
			return
		}
		if f.Changed {
			if err := checkRange(f); err != nil {
				problems = append(problems, fmt.Sprintf("--%s: %v", f.Name, err))
			}
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			origins[f.Name] = envName(f.Name)
			if err := setFlag(f, v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", envName(f.Name), err))
			}
			return
		}
		if n, ok := fileValues[f.Name]; ok {
			origins[f.Name] = fmt.Sprintf("%s:%d:%d: %s", configPath, n.Line, n.Column, f.Name)
			if err := setFromNode(f, n); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", origins[f.Name], err))
			}
		}
	})
	outranked(flags, typed, origins)
	if len(problems) > 0 {
		return usageErrorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// secretAlternatives are the ways to give one secret (the value, the file
// holding it, login's stdin), which exclude each other when given at the
// same level (readSecretFlag). Given at different levels, the one set
// higher wins, as for any setting: --password typed over a config file's
// password_file:, or GRACEGUARD_CLIENT_SECRET over client_secret_file:,
// were refused as excluding each other.
var secretAlternatives = [][]string{
	{"password", "password-file", "password-stdin"},
	{"client-secret", "client-secret-file"},
}

// outranked unsets the alternatives of a secret set at a lower level than
// another of them: typed on the command line (typed), then from the
// environment, then from the config file (origins).
func outranked(flags *pflag.FlagSet, typed map[string]bool, origins settingOrigins) {
	level := func(f *pflag.Flag) int {
		switch {
		case f == nil || !f.Changed || f.Value.String() == "" || f.Value.Type() == "bool" && f.Value.String() == "false":
			return -1
		case typed[f.Name]:
			return 0
		case origins[f.Name] == envName(f.Name):
			return 1
		}
		return 2
	}
	for _, names := range secretAlternatives {
		top := -1
		for _, name := range names {
			if l := level(flags.Lookup(name)); l >= 0 && (top < 0 || l < top) {
				top = l
			}
		}
		for _, name := range names {
			f := flags.Lookup(name)
			if l := level(f); l > top {
				if err := f.Value.Set(f.DefValue); err == nil {
					f.Changed = false
					delete(origins, name)
				}
			}
		}
	}
}

// settingOrigins says where each flag the command line left unset got its
// value: its environment variable, or its key in the config file
// (FILE:LINE:COLUMN: key). A value checked only when the command runs
// (a time zone, a format, a URL) was refused as "--timezone …", naming a
// flag nobody gave; blame names where it was written.
type settingOrigins map[string]string

// blame rewrites each line of a usage error that starts with a flag
// ("--NAME", then a space or ':') set from the environment or the config
// file to start with where it was set instead. Other errors are as they
// were.
func (o settingOrigins) blame(err error) error {
	var usage usageError
	if err == nil || len(o) == 0 || !errors.As(err, &usage) {
		return err
	}
	lines := strings.Split(err.Error(), "\n")
	changed := false
	for i, line := range lines {
		rest, ok := strings.CutPrefix(line, "--")
		if !ok {
			continue
		}
		end := strings.IndexAny(rest, " :=")
		if end < 0 {
			end = len(rest)
		}
		if origin, ok := o[rest[:end]]; ok {
			lines[i], changed = origin+rest[end:], true
		}
	}
	if !changed {
		return err
	}
	return usageError{blamed{strings.Join(lines, "\n"), err}}
}

// blamed is an error said again in other words: its text, and what it
// wraps for errors.Is and As.
type blamed struct {
	text string
	err  error
}

func (b blamed) Error() string { return b.text }
func (b blamed) Unwrap() error { return b.err }

// proxyJSONKeys is the setting that adds key names of ingress-nginx JSON
// access logs to the parser's defaults: "FIELD=KEY,…" or a list of
// FIELD=KEY (see parser.ParseJSONKeys). It is a config key and a
// GRACEGUARD_ variable, not a flag.
const proxyJSONKeys = "proxy-json-keys"

// setProxyJSONKeys reads the setting from its YAML node and sets the
// parser's keys; errors start "LINE:COLUMN: ".
func setProxyJSONKeys(n *yaml.Node) error {
	var parts []string
	switch n.Kind {
	case yaml.ScalarNode:
		parts = []string{n.Value}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("%d:%d: %s: want FIELD=KEY strings", item.Line, item.Column, proxyJSONKeys)
			}
			parts = append(parts, item.Value)
		}
	default:
		return fmt.Errorf("%d:%d: %s: want \"FIELD=KEY,…\" or a list of FIELD=KEY", n.Line, n.Column, proxyJSONKeys)
	}
	keys, err := parser.ParseJSONKeys(strings.Join(parts, ","))
	if err != nil {
		var ke *parser.JSONKeysError
		if !errors.As(err, &ke) {
			return fmt.Errorf("%d:%d: %s: %w", n.Line, n.Column, proxyJSONKeys, err)
		}
		// The column counts in the parts joined by commas: place it on
		// the part (a list's item) it falls in. A list's error was placed
		// on the list, with that column.
		at, col := n, ke.Column
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				if col <= len(item.Value)+1 {
					at = item
					break
				}
				col -= len(item.Value) + 1
			}
		}
		if at.Style != 0 {
			// Quoted or folded: where the column falls in the file is not
			// the value's column.
			return fmt.Errorf("%d:%d: %s: %s", at.Line, at.Column, proxyJSONKeys, ke.Msg)
		}
		return fmt.Errorf("%d:%d: %s: %s", at.Line, at.Column+col-1, proxyJSONKeys, ke.Msg)
	}
	parser.SetJSONKeys(parser.DefaultJSONKeys().Merge(keys))
	return nil
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configFile is the --config file as one load read it: at start its
// settings fill the flags and watch decodes its sinks: list from the same
// bytes; watch's SIGHUP loads it anew.
type configFile struct {
	path string
	data []byte
}

// readConfigFile loads the config file; nil when path is empty.
func readConfigFile(path string) (*configFile, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("config: %w", err)
	}
	return &configFile{path: path, data: data}, nil
}

type configFileKey struct{}

// withConfigFile hands the file the root command loaded to the command
// that runs, through the context cobra passes it.
func withConfigFile(ctx context.Context, f *configFile) context.Context {
	return context.WithValue(ctx, configFileKey{}, f)
}

func configFileFrom(ctx context.Context) *configFile {
	f, _ := ctx.Value(configFileKey{}).(*configFile)
	return f
}

type commandLineKey struct{}

// withCommandLine hands on the names of the flags set on the command line,
// as told apart from those the environment or the config file sets: a
// setting in a file may be a default for another flag's sake (revoke-*
// without revoke), a flag typed is meant to do something.
func withCommandLine(ctx context.Context, flags *pflag.FlagSet) context.Context {
	set := map[string]bool{}
	flags.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	return context.WithValue(ctx, commandLineKey{}, set)
}

// onCommandLine reports whether the flag name was set on the command line.
func onCommandLine(ctx context.Context, name string) bool {
	set, _ := ctx.Value(commandLineKey{}).(map[string]bool)
	return set[name]
}

// configFromEnv takes --config from GRACEGUARD_CONFIG when the command
// line gave none, as every other flag takes its variable.
func configFromEnv(cmd *cobra.Command, configPath *string) error {
	f := cmd.Flags().Lookup("config")
	if f == nil || f.Changed {
		return nil
	}
	v, ok := os.LookupEnv(envName("config"))
	if !ok || v == "" {
		return nil
	}
	if err := f.Value.Set(v); err != nil {
		return usageErrorf("%s: %v", envName("config"), err)
	}
	f.Changed = true
	*configPath = v
	return nil
}

// otherCommandsKeys are the settings some other command takes (its flags,
// and sinks: for the commands that deliver alerts), so that one config
// file can serve scan and watch: a key of another command is ignored with
// a note, while a key of no command stays an error.
func otherCommandsKeys(cmd *cobra.Command) map[string]bool {
	keys := map[string]bool{}
	for c := range commandTree(cmd.Root()) {
		if c != cmd {
			c.Flags().VisitAll(func(f *pflag.Flag) { keys[f.Name] = true })
			if readsSinks(c.Flags()) {
				keys["sinks"] = true
			}
			if readsLogs(c.Flags()) {
				keys[proxyJSONKeys] = true
			}
		}
	}
	delete(keys, "help")
	delete(keys, "config")
	return keys
}

// readsLogs reports whether the command with flags reads logs, and so the
// proxy-json-keys setting, which has no flag: those with --timezone. One
// config file serves every command, so the others let the key by as they
// let watch's state-dir by; `graceguard version` with the deployment's
// file was refused on it.
func readsLogs(flags *pflag.FlagSet) bool {
	return flags.Lookup("timezone") != nil
}

// readsSinks reports whether the command with flags reads the sinks:
// list: those with every sink type's flags (sinks.Flags), not demo, whose
// --slack-webhook-url alone delivers its alerts and which said nothing of
// a list it ignored.
func readsSinks(flags *pflag.FlagSet) bool {
	return flags.Lookup("webhook-url") != nil
}

// readConfig reads a YAML mapping of flag names to values. Keys that only
// other commands take are returned in ignored.
func readConfig(file *configFile, cmd *cobra.Command, others map[string]bool) (values map[string]*yaml.Node, ignored []string, err error) {
	path, data, flags := file.path, file.data, cmd.Flags()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos, msg := yamlpos.Locate(data, err)
		return nil, nil, usageErrorf("%s:%d:%d: %s", path, pos.Line, pos.Column, msg)
	}
	values = map[string]*yaml.Node{}
	if len(doc.Content) == 0 {
		return values, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, usageErrorf("%s:%d:%d: want a mapping of settings (flag names) to values", path, root.Line, root.Column)
	}
	problems := extraDocuments(path, data)
	// The last of a key set twice used to win without a word: which one an
	// operator edited is a guess.
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		name := strings.ReplaceAll(k.Value, "_", "-")
		if first, ok := seen[name]; ok {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %q is set again (first at line %d, as %q)", path, k.Line, k.Column, k.Value, first.Line, first.Value))
			continue
		}
		seen[name] = k
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			// "format:" or "format: ~" was taken for the text "" or "~".
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %q has no value (leave the key out for the default)", path, k.Line, k.Column, k.Value))
			continue
		}
		if how, ok := secretSettings[name]; ok {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %q is a secret, which the config file may not hold: give it with %s", path, k.Line, k.Column, k.Value, how))
			continue
		}
		if name == "sinks" && readsSinks(flags) {
			// The sinks list is read by the command that delivers alerts.
			continue
		}
		if name == proxyJSONKeys && readsLogs(flags) {
			// Read by every command that reads logs; no flag of its own.
			if err := setProxyJSONKeys(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%s", path, err))
			}
			continue
		}
		// config and help are flags but no settings: a file names no
		// other file, and help: true was taken and did nothing.
		notSetting := name == "config" || name == "help"
		if flags.Lookup(name) == nil || notSetting {
			if others[name] && !notSetting {
				ignored = append(ignored, k.Value)
				continue
			}
			problems = append(problems, fmt.Sprintf("%s:%d:%d: unknown setting %q (%s)", path, k.Line, k.Column, k.Value, settingsMeant(k.Value, cmd, others)))
			continue
		}
		values[name] = v
	}
	if len(problems) > 0 {
		return nil, nil, usageErrorf("%s", strings.Join(problems, "\n"))
	}
	return values, ignored, nil
}

// secretSettings are the flags whose value is a credential, with the ways
// to give it. The config file may not hold one, as a sinks: entry may not
// hold token: (sinks.inlineSecret): config files get committed and pasted
// into tickets. It is refused whichever command reads the file, and
// whatever the value: simulate's password: simulate (the demo users'
// public password, its default) is refused too, as the rule does not
// weigh values, and leaving the key out means the same.
var secretSettings = map[string]string{
	"slack-webhook-url": "--slack-webhook-url or GRACEGUARD_SLACK_WEBHOOK_URL, or as webhook_url_file in a sinks: entry",
	"slack-token":       "--slack-token or GRACEGUARD_SLACK_TOKEN, or as token_file in a sinks: entry",
	"password": "--password or GRACEGUARD_PASSWORD, or password_file naming a file that holds it " +
		"(idp login also reads --password-stdin; simulate without one uses the demo users' password)",
	"client-secret": "--client-secret or GRACEGUARD_CLIENT_SECRET, or client_secret_file naming a file that holds it",
}

// extraDocuments reports a second YAML document in data ("---" and more
// settings), which was ignored without a word: one file holds one. Empty
// documents (a trailing "---", one of comments or "~" only) hold nothing
// and are fine.
func extraDocuments(path string, data []byte) []string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if dec.Decode(&first) != nil {
		return nil
	}
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			return nil
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
			continue
		}
		n := doc.Content[0]
		return []string{fmt.Sprintf("%s:%d:%d: a second YAML document: a config file holds one mapping of settings", path, n.Line, n.Column)}
	}
}

// settingsMeant is the hint for an unknown key: the settings of cmd it
// likely meant, written as the key was (state_dir for stat_dir); else
// those of other commands (others) it likely meant, since one file serves
// every command and scan lets watch's state-dir by: stat_dir under scan
// was answered with scan's own list, which lacks state_dir; else cmd's
// settings, all of them.
func settingsMeant(key string, cmd *cobra.Command, others map[string]bool) string {
	typed := strings.ReplaceAll(key, "_", "-")
	styled := func(meant []string) string {
		if strings.Contains(key, "_") {
			for i, m := range meant {
				meant[i] = strings.ReplaceAll(m, "-", "_")
			}
		}
		return orList(meant)
	}
	names := flagNames(cmd.Flags())
	if meant := meantNames(typed, names); len(meant) > 0 {
		return "did you mean " + styled(meant) + "?"
	}
	elsewhere := make([]string, 0, len(others))
	for name := range others {
		elsewhere = append(elsewhere, name)
	}
	slices.Sort(elsewhere)
	if meant := meantNames(typed, elsewhere); len(meant) > 0 {
		whose := "settings of other commands"
		if len(meant) == 1 {
			whose = "a setting of other commands"
			if owners := commandsWithFlag(cmd.Root(), meant[0]); len(owners) > 0 {
				whose = "a setting of " + orList(owners)
			}
		}
		return fmt.Sprintf("did you mean %s, %s, which %s ignores?", styled(meant), whose, commandName(cmd))
	}
	if len(names) == 0 {
		return commandName(cmd) + " takes no settings of its own"
	}
	return "settings are flag names: " + strings.Join(names, ", ")
}

func flagNames(flags *pflag.FlagSet) []string {
	var names []string
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	return names
}

// resolveAlias follows an alias (*name) to the value its anchor names, as
// the sinks: list's reader does: read as a value, an alias was "want a
// single value or a list". Settings are values or flat lists, so
// following aliases never multiplies the work. The value keeps the
// alias's place, so a problem with it names where it was used.
func resolveAlias(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.AliasNode {
		return n
	}
	at := n
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	v := *n
	v.Line, v.Column = at.Line, at.Column
	return &v
}

// setFromNode sets a flag from a YAML scalar or, for list flags, a sequence.
func setFromNode(f *pflag.Flag, n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return setFlag(f, n.Value)
	case yaml.SequenceNode:
		if _, ok := f.Value.(pflag.SliceValue); !ok {
			return fmt.Errorf("takes one value, not a list")
		}
		for _, item := range n.Content {
			if item = resolveAlias(item); item.Kind != yaml.ScalarNode {
				return fmt.Errorf("list items must be single values")
			}
			if err := f.Value.Set(item.Value); err != nil {
				return err
			}
		}
		f.Changed = true
		return nil
	}
	return fmt.Errorf("want a single value or a list")
}

// rawList is a list flag whose items hold commas and spaces of their own
// (DNs: "cn=Larsen\, Priya,ou=Users"): it splits a variable's value
// itself, as the commas and the spaces beside them are part of its items.
type rawList interface{ ReplaceRaw(v string) error }

func setFlag(f *pflag.Flag, v string) error {
	if rl, ok := f.Value.(rawList); ok {
		if err := rl.ReplaceRaw(v); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		// An empty variable (GRACEGUARD_RULES=) is an empty list, as
		// "rules: []" is, not a file named "" ("open : no such file").
		var parts []string
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				parts = append(parts, part)
			}
		}
		if err := sv.Replace(parts); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if err := f.Value.Set(v); err != nil {
		if words := valueError(f, v, err); words != nil {
			return words
		}
		return err
	}
	f.Changed = true
	return checkRange(f)
}

// valueError says what a flag wants in words instead of the parser's
// (`strconv.ParseBool: parsing "maybe"`, `time: missing unit`), or nil
// when the flag's own error is all there is to say. Values of string flags
// are never echoed: they may be secrets.
func valueError(f *pflag.Flag, v string, err error) error {
	switch f.Value.Type() {
	case "bool":
		return fmt.Errorf("want true or false, not %q", v)
	case "duration":
		return fmt.Errorf("want a duration with its unit, such as 500ms, 2s or 5m, not %q", v)
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return fmt.Errorf("want a whole number, not %q", v)
	case "float32", "float64":
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("want a finite number, not %q", v)
		}
		return fmt.Errorf("want a number, not %q", v)
	}
	return nil
}

// positiveDurations are intervals that cannot be zero: a zero poll would
// spin, a zero checkpoint interval would write on every line, and a zero
// settle time or revocation wait was taken for the default (2s) without a
// word.
var positiveDurations = map[string]bool{"poll": true, "checkpoint-every": true, "settle": true, "revoke-wait": true}

// checkRange refuses values no setting can mean: negative durations,
// counts and numbers, NaN and infinities, and zero for the intervals above.
func checkRange(f *pflag.Flag) error {
	switch f.Value.Type() {
	case "duration":
		d, err := time.ParseDuration(f.Value.String())
		if err != nil {
			return nil
		}
		if d < 0 || (d == 0 && positiveDurations[f.Name]) {
			if positiveDurations[f.Name] {
				return fmt.Errorf("must be above zero, not %s", f.Value)
			}
			return fmt.Errorf("must not be negative, not %s", f.Value)
		}
	case "int", "int64":
		if strings.HasPrefix(f.Value.String(), "-") {
			return fmt.Errorf("must not be negative, not %s", f.Value)
		}
	case "float32", "float64":
		// strconv takes "NaN" and "Inf" in any case as numbers; every
		// float setting is a rate or a share, which neither can be (a NaN
		// compares false to every bound, so later checks let it through).
		x, err := strconv.ParseFloat(f.Value.String(), 64)
		if err != nil {
			return nil
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("want a finite number, not %s", f.Value)
		}
		if x < 0 {
			return fmt.Errorf("must not be negative, not %s", f.Value)
		}
	}
	return nil
}
