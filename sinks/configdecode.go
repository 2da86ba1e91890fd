package sinks

import (
	"fmt"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	iredact "github.com/graceguard/graceguard/internal/redact"
)

// The YAML readers of sink settings: each reports a problem with its file,
// line and column and returns whether the value was usable.

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

// setting is one key of a sink entry: how its value is read. A secret key is
// one the config file may not hold (it names the *_file key or flag to use
// instead) and is left out of the known keys a typo is shown.
type setting struct {
	set    func(d *decoder, n *yaml.Node, path string)
	secret bool
}

func strField(dst *string) setting {
	return setting{set: func(d *decoder, n *yaml.Node, path string) {
		if s, ok := d.str(n, path); ok {
			*dst = s
		}
	}}
}

func durField(dst *time.Duration) setting {
	return setting{set: func(d *decoder, n *yaml.Node, path string) {
		if v, ok := d.duration(n, path); ok {
			*dst = v
		}
	}}
}

func numField(dst *int) setting {
	return setting{set: func(d *decoder, n *yaml.Node, path string) {
		if v, ok := d.positive(n, path); ok {
			*dst = v
		}
	}}
}

// inlineSecret refuses a secret written in the config file.
func inlineSecret(fileKey, flag string) setting {
	return setting{secret: true, set: func(d *decoder, n *yaml.Node, path string) {
		// Said as steps to take: "name that with secret_file, or use a
		// file" left a newcomer asking what to name and which file.
		msg := fmt.Sprintf("secrets are not read from the config file; put the secret in a file and set %s to that file's path", fileKey)
		if flag != "" {
			msg += ", or give it with " + flag
		}
		d.errf(n, path, "%s", msg)
	}}
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

// onlyOne is the problem of giving both or neither of two ways.
func onlyOne(a, b bool, what string) []string {
	switch {
	case a && b:
		return []string{"give " + what + ", not both"}
	case !a && !b:
		return []string{"needs " + what}
	}
	return nil
}

// urlProblems checks an http(s) URL, showing it redacted when it is a
// secret (scheme and host only), and otherwise with its password, query
// values and fragment masked: an API URL may carry credentials in its
// userinfo (useBot scrubs them from errors), and one that does not parse
// (a '/' or '#' in its password) showed them.
func urlProblems(label, raw string, secret bool) []string {
	if raw == "" {
		return nil
	}
	if err := checkHTTPURL(raw); err != nil {
		shown := iredact.URL(raw)
		if secret {
			shown = redact(raw)
		}
		return []string{fmt.Sprintf("%s %s: %v", label, shown, err)}
	}
	return nil
}
