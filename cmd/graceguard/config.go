package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

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
func applySettings(cmd *cobra.Command, configPath string) error {
	flags := cmd.Flags()
	var fileValues map[string]*yaml.Node
	if configPath != "" {
		var err error
		if fileValues, err = readConfig(configPath, flags); err != nil {
			return err
		}
	}
	var problems []string
	if v, ok := os.LookupEnv(envName(proxyJSONKeys)); ok && flags.Lookup("timezone") != nil {
		if _, isFile := fileValues[proxyJSONKeys]; !isFile {
			if err := setProxyJSONKeys(&yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: 1, Column: 1}); err != nil {
				problems = append(problems, envName(proxyJSONKeys)+":"+err.Error())
			}
		}
	}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := setFlag(f, v); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", envName(f.Name), err))
			}
			return
		}
		if n, ok := fileValues[f.Name]; ok {
			if err := setFromNode(f, n); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d:%d: %s: %v", configPath, n.Line, n.Column, f.Name, err))
			}
		}
	})
	if len(problems) > 0 {
		return usageErrorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

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
		if errors.As(err, &ke) && n.Kind == yaml.ScalarNode && n.Style == 0 {
			return fmt.Errorf("%d:%d: %s: %s", n.Line, n.Column+ke.Column-1, proxyJSONKeys, ke.Msg)
		}
		return fmt.Errorf("%d:%d: %s: %w", n.Line, n.Column, proxyJSONKeys, err)
	}
	parser.SetJSONKeys(parser.DefaultJSONKeys().Merge(keys))
	return nil
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// readConfig reads a YAML mapping of flag names to values.
func readConfig(path string, flags *pflag.FlagSet) (map[string]*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, usageErrorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	values := map[string]*yaml.Node{}
	if len(doc.Content) == 0 {
		return values, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, usageErrorf("%s:%d:%d: want a mapping of settings (flag names) to values", path, root.Line, root.Column)
	}
	var problems []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := strings.ReplaceAll(k.Value, "_", "-")
		if name == "sinks" && flags.Lookup("slack-webhook-url") != nil {
			// The sinks list is read by the command that delivers alerts.
			continue
		}
		if name == proxyJSONKeys && flags.Lookup("timezone") != nil {
			// Read by every command that reads logs; no flag of its own.
			if err := setProxyJSONKeys(v); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%s", path, err))
			}
			continue
		}
		if flags.Lookup(name) == nil || name == "config" {
			problems = append(problems, fmt.Sprintf("%s:%d:%d: unknown setting %q for this command (settings are its flag names: %s)",
				path, k.Line, k.Column, k.Value, strings.Join(flagNames(flags), ", ")))
			continue
		}
		values[name] = v
	}
	if len(problems) > 0 {
		return nil, usageErrorf("%s", strings.Join(problems, "\n"))
	}
	return values, nil
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
			if item.Kind != yaml.ScalarNode {
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

func setFlag(f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if err := sv.Replace(parts); err != nil {
			return err
		}
		f.Changed = true
		return nil
	}
	if err := f.Value.Set(v); err != nil {
		return err
	}
	f.Changed = true
	return nil
}
