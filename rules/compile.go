package rules

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

//go:embed builtin.yaml
var builtinYAML []byte

// BuiltinFile is the label problems and tests give the embedded rule set
// where they would name a file. It is not the embedded file's name,
// builtin.yaml, which a user's own rule file may have too: which of the two
// a failing test stands in could not be told. A file given by this very
// name is refused (loadWith), so no file of the user's shares it.
const BuiltinFile = "<built-in>"

// Rule is a compiled rule.
type Rule struct {
	Spec
	kinds kindSet // the event kinds "when" can be true for
	// needsGeo: "when" has a top-level conjunct "travel != nil" or
	// "geo != nil", so without GeoIP it is never true.
	needsGeo bool
	when     *vm.Program
	key      *vm.Program // nil: user and IP
	summary  *vm.Program // nil: built from the description
}

// Set is the effective rule set: the built-ins, then each file's rules
// adding to them, replacing them by name, or disabling them.
type Set struct {
	Rules []*Rule
}

// File is a rule file's name and bytes.
type File struct {
	Name string
	Data []byte
}

// Builtin returns the embedded rule set, compiled.
func Builtin() *Set {
	s, err := Load()
	if err != nil {
		panic(fmt.Sprintf("embedded rules do not compile: %v", err)) // caught by the package's tests
	}
	return s
}

// Load compiles the built-in rules and then files in order. Every problem in
// every file is reported, not only the first.
func Load(files ...File) (*Set, error) {
	return loadWith(builtinYAML, files)
}

// LoadForDetection is Load without the built-in rules' embedded tests,
// which only `rules test` runs: they are four fifths of the built-in file,
// and parsing them cost every scan and watch about a millisecond of its
// start (BenchmarkLoad). The rules, their order and every position a
// problem names are Load's; the files' own tests are still read.
func LoadForDetection(files ...File) (*Set, error) {
	return loadWith(withoutTests(builtinYAML), files)
}

func loadWith(builtin []byte, files []File) (*Set, error) {
	all := append([]File{{Name: BuiltinFile, Data: builtin}}, files...)
	var problems Problems
	set := &Set{}
	names := &nameBook{defined: map[string]Spec{}}
	for i, f := range all {
		if i > 0 && f.Name == BuiltinFile {
			problems = append(problems, Problem{File: f.Name, Pos: Pos{1, 1}, Msg: fmt.Sprintf(
				"a rule file may not be named %q, the built-in rules' label: give it as ./%s or rename it", BuiltinFile, BuiltinFile)})
			continue
		}
		specs, ps := ParseFile(f.Name, f.Data)
		problems = append(problems, ps...)
		for _, spec := range specs {
			spec.Builtin = i == 0
			named := names.check(spec)
			problems = append(problems, named...)
			// A rule refused for its name is still compiled, so that one
			// run reports its expressions' problems too.
			r, ps := compile(spec, f.Data)
			problems = append(problems, ps...)
			if len(ps) == 0 && len(named) == 0 {
				set.merge(r)
			}
		}
	}
	if err := problems.Err(); err != nil {
		sortProblems(problems)
		return nil, err
	}
	return set, nil
}

// sortProblems orders each file's problems by place, keeping files in the
// order they were loaded.
func sortProblems(ps Problems) {
	order := map[string]int{}
	for _, p := range ps {
		if _, ok := order[p.File]; !ok {
			order[p.File] = len(order)
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(order[a.File], order[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// merge adds r, replacing a rule of the same name in place (its position in
// evaluation order stays) or removing it when r only disables it.
func (s *Set) merge(r *Rule) {
	for i, old := range s.Rules {
		if old.Name == r.Name {
			if r.disables {
				s.Rules = append(s.Rules[:i], s.Rules[i+1:]...)
			} else {
				s.Rules[i] = r
			}
			return
		}
	}
	if !r.disables {
		s.Rules = append(s.Rules, r)
	}
}

// Enabled returns the rules that run.
func (s *Set) Enabled() []*Rule {
	out := make([]*Rule, 0, len(s.Rules))
	for _, r := range s.Rules {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out
}

// Lookup returns the rule named name, enabled or not.
func (s *Set) Lookup(name string) (*Rule, bool) {
	for _, r := range s.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

func compile(spec Spec, src []byte) (*Rule, Problems) {
	r := &Rule{Spec: spec}
	var problems Problems
	prog := func(key, text string, kind reflect.Kind) *vm.Program {
		if text == "" {
			return nil
		}
		enums := &enumVisitor{}
		p, err := expr.Compile(text, exprOptions(kind, expr.Patch(enums))...)
		if err != nil {
			problems = append(problems, exprProblem(spec, key, err, src))
			return nil
		}
		if errs := append(checkLiterals(p.Node(), text), bindAll(enums.errs, text)...); len(errs) > 0 {
			for _, err := range errs {
				problems = append(problems, exprProblem(spec, key, err, src))
			}
			return nil
		}
		return p
	}
	r.when = prog("when", spec.When, reflect.Bool)
	r.kinds, r.needsGeo = whenShape(r.when)
	if r.when != nil && r.kinds&judgedKinds == 0 {
		// A kind no rule sees was named and refused above (enumVisitor);
		// what is left asks for two kinds at once.
		problems = append(problems, Problem{File: spec.File, Pos: spec.exprPos["when"].place(1, 1, src),
			Msg: "when: can never be true: no event kind satisfies its event.kind comparisons (rules judge " + judgedKindNames + ")"})
	}
	r.key = prog("throttle_key", spec.ThrottleKey, reflect.String)
	r.summary = prog("summary", spec.Summary, reflect.String)
	return r, problems
}

// exprOptions are what every rule expression compiles with, for a result
// of kind, then more.
func exprOptions(kind reflect.Kind, more ...expr.Option) []expr.Option {
	opts := append([]expr.Option{expr.Env(Env{})}, helpers...)
	if kind == reflect.Bool {
		opts = append(opts, expr.AsBool())
	} else {
		opts = append(opts, expr.AsKind(kind))
	}
	return append(opts, more...)
}

func exprProblem(spec Spec, key string, err error, src []byte) Problem {
	p := Problem{File: spec.File, Pos: spec.Pos, Msg: fmt.Sprintf("%s: %v", key, err)}
	var fe *file.Error
	if errors.As(err, &fe) {
		p.Msg = fmt.Sprintf("%s: %s", key, envNames.Replace(fe.Message))
		if e, ok := spec.exprPos[key]; ok && e.node != nil {
			p.Pos = e.place(fe.Line, fe.Column+1, src)
		}
	}
	return p
}

// envNames turns the Go types expr names in its messages into the names a
// rule author wrote.
var envNames = strings.NewReplacer(
	"type rules.EventEnv", "event", "type rules.UserEnv", "user", "type rules.SessionEnv", "session",
	"type *rules.PrevEnv", "prev", "type *rules.GeoEnv", "geo", "type *rules.TravelEnv", "travel",
	"type rules.PrevEnv", "prev", "type rules.GeoEnv", "geo", "type rules.TravelEnv", "travel",
	"rules.EventEnv", "event", "rules.UserEnv", "user", "rules.SessionEnv", "session",
	"*rules.PrevEnv", "prev", "*rules.GeoEnv", "geo", "*rules.TravelEnv", "travel", "rules.Env", "the environment",
)

// helpers are the functions rules can call besides expr's built-ins.
var helpers = []expr.Option{
	expr.Function("in_cidr", func(args ...any) (any, error) {
		return inCIDR(args[0].(string), args[1].(string)), nil
	}, new(func(string, string) bool)),
	expr.Function("is_private", func(args ...any) (any, error) {
		return isPrivate(args[0].(string)), nil
	}, new(func(string) bool)),
}
