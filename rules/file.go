package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/internal/yamlpos"

	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/parser"
)

// Pos is a place in a rule file, both counted from 1.
type Pos struct {
	Line, Column int
}

// Problem is one thing wrong with a rule file.
type Problem struct {
	File string
	Pos
	Msg string
}

func (p Problem) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
}

// Problems is every problem found in one or more files; it is an error when
// not empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Spec is one rule as written in a file.
type Spec struct {
	Name        string
	Description string
	Severity    alert.Severity
	When        string
	Throttle    time.Duration
	ThrottleKey string
	Summary     string
	Enabled     bool
	// Revoke, when set, overrides the severity gate of watch --revoke for
	// this rule's alerts: true ends the user's sessions whatever the
	// severity, false never does. nil leaves it to the gate.
	Revoke *bool
	Tests  []TestCase

	File string
	// Builtin: the rule is one of the embedded set's (File is then
	// BuiltinFile).
	Builtin  bool
	Pos      Pos                 // the rule's "name"
	exprPos  map[string]exprSite // where each expression stands, to place compile errors
	disables bool                // only says enabled: false
}

// TestCase is one of a rule's embedded tests: a log excerpt or events in,
// the alerts this rule should raise out.
type TestCase struct {
	Name   string
	Log    string
	Events []parser.Event
	Expect []Expectation
	Pos    Pos
}

// Expectation is one expected alert; empty fields match anything.
type Expectation struct {
	Severity alert.Severity
	User     string
	IP       string
	PrevIP   string // the alert's prev_ip, when the test names one
}

// exprSite is an expression's text and how to place an offset in it in the file.
type exprSite struct {
	node *yaml.Node
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

var ruleKeys = []string{"name", "description", "severity", "when", "throttle", "throttle_key", "summary", "enabled", "revoke", "tests"}

// ParseFile reads a rule file's YAML. It returns every problem it finds, each
// placed by line and column; expressions are checked later by Compile.
func ParseFile(name string, data []byte) ([]Spec, Problems) {
	p := &fileParser{file: name, src: data}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		pos, msg := yamlpos.Locate(data, err)
		return nil, Problems{{File: name, Pos: Pos{pos.Line, pos.Column}, Msg: "YAML: " + msg}}
	}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: name, Pos: Pos{1, 1}, Msg: "empty rule file: want a top-level \"rules:\" list"}}
	}
	if as := aliases(&doc); len(as) > 0 {
		// Read as values, aliases were "must be a single value" and worse.
		p.add(as[0], "YAML alias *%s: rule files take no anchors and aliases; write the value out%s", as[0].Value, more(len(as)))
		return nil, p.problems
	}
	specs := p.top(doc.Content[0])
	return specs, p.problems
}

// aliases returns the alias nodes (*name) of n's tree, in order, without
// following them.
func aliases(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		if n.Kind == yaml.AliasNode {
			out = append(out, n)
			continue
		}
		for i := len(n.Content) - 1; i >= 0; i-- {
			stack = append(stack, n.Content[i])
		}
	}
	return out
}

// more says how many aliases there are when there is more than the one named.
func more(n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" (%d aliases in the file)", n)
}

type fileParser struct {
	file     string
	src      []byte
	problems Problems
}

func (p *fileParser) add(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Pos: Pos{n.Line, n.Column}, Msg: fmt.Sprintf(format, args...)})
}

func (p *fileParser) top(n *yaml.Node) []Spec {
	if n.Kind != yaml.MappingNode {
		p.add(n, "want a mapping with a \"rules:\" list at the top")
		return nil
	}
	var specs []Spec
	seen := map[string]Pos{}
	found := false
	p.eachKey(n, []string{"rules"}, func(key string, k, v *yaml.Node) {
		found = true
		if v.Kind != yaml.SequenceNode {
			p.add(v, "\"rules\" must be a list")
			return
		}
		for _, r := range v.Content {
			s, ok := p.rule(r)
			if !ok {
				continue
			}
			if prev, dup := seen[s.Name]; dup {
				p.add(r, "rule %q is defined twice in this file (first at line %d)", s.Name, prev.Line)
				continue
			}
			seen[s.Name] = s.Pos
			specs = append(specs, s)
		}
	})
	if !found {
		p.add(n, "missing \"rules:\" list")
	}
	return specs
}

// eachKey walks a mapping, reporting unknown and repeated keys.
func (p *fileParser) eachKey(n *yaml.Node, known []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		switch {
		case !slices.Contains(known, key):
			p.add(k, "unknown key %q (known keys: %s)", key, strings.Join(known, ", "))
		case seen[key]:
			p.add(k, "key %q is repeated", key)
		default:
			seen[key] = true
			fn(key, k, v)
		}
	}
}

func (p *fileParser) rule(n *yaml.Node) (Spec, bool) {
	s := Spec{Enabled: true, File: p.file, Pos: Pos{n.Line, n.Column}, exprPos: map[string]exprSite{}}
	if n.Kind != yaml.MappingNode {
		p.add(n, "each rule must be a mapping with name, severity and when")
		return s, false
	}
	before := len(p.problems)
	var nameNode, testsKey *yaml.Node
	hasSeverity, throttleBad := false, false
	p.eachKey(n, ruleKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			nameNode = v
			s.Name, s.Pos = p.str(v, key), Pos{v.Line, v.Column}
		case "description":
			s.Description = p.str(v, key)
		case "severity":
			hasSeverity = true
			if sev, err := alert.ParseSeverity(p.str(v, key)); err != nil {
				p.add(v, "%v", err)
			} else {
				s.Severity = sev
			}
		case "when", "throttle_key", "summary":
			p.expr(&s, key, v)
		case "throttle":
			before := len(p.problems)
			s.Throttle = p.duration(v, key)
			throttleBad = len(p.problems) > before
		case "enabled":
			s.Enabled = p.boolean(v, key)
		case "revoke":
			b := p.boolean(v, key)
			s.Revoke = &b
		case "tests":
			s.Tests = p.tests(v)
			testsKey = k
		}
	})
	p.checkRule(n, nameNode, &s, hasSeverity)
	if key := s.exprPos["throttle_key"].node; key != nil && s.Throttle == 0 && !throttleBad {
		// The key only names what a throttle counts by: alone it did nothing.
		p.add(key, "\"throttle_key\" has no effect without a \"throttle\" (a window such as 10m or 1h)")
	}
	if s.disables && testsKey != nil {
		// The entry takes the rule out of the set, and its tests with it:
		// they would pass without ever running.
		p.add(testsKey, "rule %q only switches a rule off (enabled: false, no when), so its tests would never run: "+
			"give it when and severity to define the rule, or drop the tests", s.Name)
	}
	return s, len(p.problems) == before
}

// expr reads one of a rule's expressions (when, throttle_key, summary).
func (p *fileParser) expr(s *Spec, key string, v *yaml.Node) {
	text := p.str(v, key)
	if strings.TrimSpace(text) == "" {
		p.add(v, "%q is empty", key)
	}
	s.exprPos[key] = exprSite{node: v}
	switch key {
	case "when":
		s.When = text
	case "throttle_key":
		s.ThrottleKey = text
	default:
		s.Summary = text
	}
}

// checkRule reports what a rule lacks once all its keys are read: a valid
// name, and (unless it only disables a rule) when and severity.
func (p *fileParser) checkRule(n, nameNode *yaml.Node, s *Spec, hasSeverity bool) {
	switch {
	case nameNode == nil:
		p.add(n, "rule has no \"name\"")
	case !nameRE.MatchString(s.Name):
		p.add(nameNode, "rule name %q: use lower-case letters, digits, '.', '_' and '-'", s.Name)
	}
	s.disables = !s.Enabled && s.When == ""
	if s.Enabled || s.When != "" {
		if s.When == "" && s.exprPos["when"].node == nil {
			p.add(n, "rule %q has no \"when\" expression", s.Name)
		}
		if !hasSeverity {
			p.add(n, "rule %q has no \"severity\" (info, low, medium, high or critical)", s.Name)
		}
	}
}

func (p *fileParser) str(v *yaml.Node, key string) string {
	if v.Kind != yaml.ScalarNode {
		p.add(v, "%q must be a single value", key)
		return ""
	}
	return v.Value
}

func (p *fileParser) duration(v *yaml.Node, key string) time.Duration {
	text := p.str(v, key)
	if text == "" || text == "0" {
		return 0
	}
	d, err := time.ParseDuration(text)
	if err != nil || d < 0 {
		p.add(v, "%q must be a duration such as 30s, 10m or 1h, not %q", key, text)
		return 0
	}
	return d
}

func (p *fileParser) boolean(v *yaml.Node, key string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		p.add(v, "%q must be true or false", key)
		return true
	}
	return b
}

func (p *fileParser) tests(v *yaml.Node) []TestCase {
	if v.Kind != yaml.SequenceNode {
		p.add(v, "\"tests\" must be a list")
		return nil
	}
	var out []TestCase
	for _, t := range v.Content {
		if t.Kind != yaml.MappingNode {
			p.add(t, "each test must be a mapping with name, log or events, and expect")
			continue
		}
		tc := TestCase{Pos: Pos{t.Line, t.Column}}
		var hasLog, hasEvents, hasExpect bool
		var input *yaml.Node // the log or events, whichever is given
		p.eachKey(t, []string{"name", "log", "events", "expect"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "name":
				tc.Name = p.str(v, key)
			case "log":
				tc.Log, hasLog, input = p.str(v, key), true, v
			case "events":
				tc.Events, hasEvents, input = p.events(v), true, v
			case "expect":
				tc.Expect, hasExpect = p.expect(v), true
			}
		})
		if tc.Name == "" {
			p.add(t, "test has no \"name\"")
		}
		label := "test"
		if tc.Name != "" {
			label = fmt.Sprintf("test %q", tc.Name)
		}
		if hasLog == hasEvents {
			p.add(t, "%s needs exactly one of \"log\" (an OpenUnison log excerpt) or \"events\"", label)
		}
		if !hasExpect {
			p.add(t, "%s has no \"expect\" (use [] for no alerts)", label)
		}
		if hasLog != hasEvents && input.Kind != yaml.AliasNode {
			p.checkTestInput(label, tc, input)
		}
		out = append(out, tc)
	}
	return out
}

// checkTestInput reports a test with nothing to judge (which would pass
// expecting no alerts without testing anything) and a log excerpt record
// the parser refuses, placed in the file, so that rules check finds what
// rules test would only have failed on.
func (p *fileParser) checkTestInput(label string, tc TestCase, input *yaml.Node) {
	if input.Kind == yaml.SequenceNode && len(input.Content) == 0 {
		p.add(input, "%s has no events: it would pass without judging anything", label)
		return
	}
	if input.Kind != yaml.ScalarNode {
		return // reported already
	}
	sc := parser.NewScanner(strings.NewReader(tc.Log))
	records := 0
	for sc.Scan() {
		records++
		rec := sc.Record()
		if _, err := parser.Parse(rec.Text, time.UTC); err != nil {
			col, msg := 1, err.Error()
			var se *parser.SyntaxError
			if errors.As(err, &se) {
				col, msg = se.Column, se.Msg
			}
			pos := exprSite{node: input}.place(int(rec.Line), col, p.src)
			p.problems = append(p.problems, Problem{File: p.file, Pos: pos, Msg: fmt.Sprintf("%s: log: %s", label, msg)})
			return
		}
	}
	if records == 0 {
		p.add(input, "%s has an empty log: it would pass without judging anything", label)
	}
}

func (p *fileParser) expect(v *yaml.Node) []Expectation {
	if v.Kind != yaml.SequenceNode {
		p.add(v, "\"expect\" must be a list of alerts (or [] for none)")
		return nil
	}
	out := []Expectation{}
	for _, e := range v.Content {
		if e.Kind != yaml.MappingNode {
			p.add(e, "each expected alert must be a mapping (severity, user, ip)")
			continue
		}
		var x Expectation
		p.eachKey(e, []string{"severity", "user", "ip", "prev_ip"}, func(key string, _, v *yaml.Node) {
			switch key {
			case "severity":
				sev, err := alert.ParseSeverity(p.str(v, key))
				if err != nil {
					p.add(v, "%v", err)
				}
				x.Severity = sev
			case "user":
				x.User = p.str(v, key)
			case "ip":
				x.IP = p.str(v, key)
			case "prev_ip":
				x.PrevIP = p.str(v, key)
			}
		})
		out = append(out, x)
	}
	return out
}

var eventKeys = []string{"kind", "time", "user", "ip", "session", "idp", "url", "source", "thread", "peer", "agent", "via", "attribution", "candidates", "distinct_from_prev"}

func (p *fileParser) events(v *yaml.Node) []parser.Event {
	if v.Kind != yaml.SequenceNode {
		p.add(v, "\"events\" must be a list")
		return nil
	}
	var out []parser.Event
	for i, e := range v.Content {
		if e.Kind != yaml.MappingNode {
			p.add(e, "each event must be a mapping (%s)", strings.Join(eventKeys, ", "))
			continue
		}
		ev := parser.Event{Source: "test", Offset: int64(i), Thread: fmt.Sprintf("test-%d", i), IdP: "k8sIdp"}
		hasKind, hasTime := false, false
		p.eachKey(e, eventKeys, func(key string, _, v *yaml.Node) {
			hasKind, hasTime = hasKind || key == "kind", hasTime || key == "time"
			switch key {
			case "candidates":
				ev.Candidates = p.addrs(v, key)
				return
			case "distinct_from_prev":
				ev.DistinctFromPrev = p.boolean(v, key)
				return
			}
			p.eventKey(&ev, key, p.str(v, key), v)
		})
		if !hasKind || !hasTime {
			p.add(e, "each event needs \"kind\" and \"time\"")
		}
		if ev.Session == "" {
			ev.Session = fmt.Sprintf("test-session-%d", i)
		}
		out = append(out, ev)
	}
	return out
}

// addrs reads a list of IP addresses.
func (p *fileParser) addrs(v *yaml.Node, key string) []netip.Addr {
	if v.Kind != yaml.SequenceNode {
		p.add(v, "%q must be a list of IP addresses", key)
		return nil
	}
	var out []netip.Addr
	for _, n := range v.Content {
		a, err := netip.ParseAddr(p.str(n, key))
		if err != nil {
			p.add(n, "%s: %q is not an IP address", key, n.Value)
			continue
		}
		out = append(out, a)
	}
	return out
}

// eventKey sets one key of a rule test's event.
func (p *fileParser) eventKey(ev *parser.Event, key, text string, v *yaml.Node) {
	switch key {
	case "kind":
		if err := ev.Kind.UnmarshalText([]byte(text)); err != nil {
			p.add(v, "%v", err)
		}
	case "time":
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			p.add(v, "time %q is not RFC 3339 (2026-11-23T10:00:00.000Z)", text)
		}
		ev.Time = t
	case "ip", "peer":
		a, err := netip.ParseAddr(text)
		if err != nil {
			p.add(v, "%s %q is not an IP address", key, text)
		}
		if key == "ip" {
			ev.IP = a
		} else {
			ev.Peer = a
		}
	case "agent":
		ev.Agent = text
	case "via":
		ev.Via = text
	case "attribution":
		if err := ev.Attribution.UnmarshalText([]byte(text)); err != nil {
			p.add(v, "%v", err)
		}
	case "user":
		ev.User = text
	case "session":
		ev.Session = text
	case "idp":
		ev.IdP = text
	case "url":
		ev.URL = text
	case "source":
		ev.Source = text
	case "thread":
		ev.Thread = text
	}
}

// place turns an offset in an expression (line and column from 1 within the
// expression's text) into a position in the file.
func (p exprSite) place(line, col int, src []byte) Pos {
	n := p.node
	switch n.Style {
	case yaml.LiteralStyle:
		// The text starts on the line after the indicator, every line
		// stripped of the first line's indentation.
		return Pos{n.Line + line, indentOf(src, n.Line+1) + col}
	case yaml.FoldedStyle:
		if pos, ok := placeFolded(n.Value, line, col, src, Pos{n.Line + 1, 1}); ok {
			return pos
		}
		return Pos{n.Line + line, indentOf(src, n.Line+1) + col}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return Pos{n.Line, n.Column + col}
		}
	default:
		if pos, ok := placeFolded(n.Value, line, col, src, Pos{n.Line, n.Column}); ok {
			return pos
		}
		if line == 1 {
			return Pos{n.Line, n.Column + col - 1}
		}
	}
	return Pos{n.Line + line - 1, col}
}

// placeFolded places an offset in a scalar YAML folded (">" or a plain
// value over several lines): its line breaks and indentation became single
// spaces, so the text's lines and columns are not the file's. Folding only
// ever changes white space, so the k-th other character of the text is the
// k-th of the file from where the scalar's text starts; an offset in white
// space stays as far after the character before it. ok is false when the
// file holds fewer such characters than the text (src is not the text's
// file).
func placeFolded(text string, line, col int, src []byte, from Pos) (Pos, bool) {
	runes := []rune(text)
	at := 0 // the offset, in runes
	for l := 1; l < line && at < len(runes); at++ {
		if runes[at] == '\n' {
			l++
		}
	}
	at = min(at+col-1, len(runes))
	last, ordinal := -1, 0 // the last non-space rune at or before at, and how many there are
	for i := 0; i < len(runes) && i <= at; i++ {
		if !isSpace(runes[i]) {
			last, ordinal = i, ordinal+1
		}
	}
	if last < 0 {
		return from, true
	}
	lines := strings.Split(string(src), "\n")
	seen := 0
	for l := from.Line; l <= len(lines); l++ {
		c := 1
		if l == from.Line {
			c = from.Column
		}
		lr := []rune(lines[l-1])
		for ; c <= len(lr); c++ {
			if isSpace(lr[c-1]) {
				continue
			}
			if seen++; seen == ordinal {
				return Pos{l, c + at - last}, true
			}
		}
	}
	return Pos{}, false
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func indentOf(src []byte, line int) int {
	lines := strings.SplitN(string(src), "\n", line+1)
	if line-1 >= len(lines) || line < 1 {
		return 0
	}
	l := lines[line-1]
	return len(l) - len(strings.TrimLeft(l, " "))
}
