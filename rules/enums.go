package rules

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"

	"github.com/graceguard/graceguard/parser"
)

// judgedKinds are the kinds of event the rules are asked about: the
// correlator judges refreshes, grace reuses, refused refreshes and logins;
// a refusal's WARN is only the reason of the token_fail on its thread, and
// proxy records and other lines are never judged.
const judgedKinds = kindSet(1<<parser.KindGraceReuse | 1<<parser.KindTokenOK | 1<<parser.KindTokenFail | 1<<parser.KindLogin)

const judgedKindNames = "grace_reuse, token_ok, token_fail or login"

// enumFields are the members whose values are a closed set, with what
// each may be. A string a rule compares one of them with that is not in
// its set (a typo, "tokn_ok"; a kind no rule ever sees, "refusal") makes
// the comparison constant, wherever it stands: a rule that silently never
// fires, or, negated, fires on everything.
var enumFields = map[[2]string]func(string) error{
	{"event", "kind"}:        checkJudgedKind,
	{"event", "attribution"}: checkAttribution,
	{"prev", "attribution"}:  checkAttribution,
}

func checkJudgedKind(s string) error {
	var k parser.Kind
	if k.UnmarshalText([]byte(s)) != nil {
		return fmt.Errorf("%q is no event kind (rules judge %s)", s, judgedKindNames)
	}
	switch {
	case k == parser.KindRefusal:
		return fmt.Errorf("refusals are never judged by rules: a refusal's WARN is the event.reason of the token_fail on its thread (rules judge %s)", judgedKindNames)
	case !judgedKinds.has(k):
		return fmt.Errorf("%q events are never judged by rules (rules judge %s)", s, judgedKindNames)
	}
	return nil
}

func checkAttribution(s string) error {
	var a parser.Attribution
	if a.UnmarshalText([]byte(s)) != nil {
		return fmt.Errorf("%q is no attribution (want \"\", direct, joined, ambiguous or unattributed)", s)
	}
	return nil
}

// enumVisitor finds every string an expression compares (==, !=, in a
// list) with a member of enumFields that the member can never hold, each
// as a *file.Error bound to nothing yet (bindAll binds them to the text).
// It runs as an expr.Patch on the tree expr.Compile parses, changing
// nothing: that tree is read before expr's optimizer turns a list into a
// set and loses where its items stand, as the compiled program's tree
// (Program.Node) has, and without a parse of its own, which was a seventh
// of a load (BenchmarkLoad); expr type-checks the tree once more before a
// patch runs, which costs less than half a parse.
type enumVisitor struct {
	errs []*file.Error
}

func (v *enumVisitor) Visit(n *ast.Node) {
	b, ok := (*n).(*ast.BinaryNode)
	if !ok || !slices.Contains([]string{"==", "!=", "in"}, b.Operator) {
		return
	}
	name, check := enumField(b.Left)
	other := b.Right
	if check == nil && b.Operator != "in" {
		name, check = enumField(b.Right)
		other = b.Left
	}
	if check == nil {
		return
	}
	var values []*ast.StringNode
	switch x := other.(type) {
	case *ast.StringNode:
		if b.Operator != "in" {
			values = append(values, x)
		}
	case *ast.ArrayNode:
		if b.Operator == "in" {
			for _, el := range x.Nodes {
				if s, ok := el.(*ast.StringNode); ok {
					values = append(values, s)
				}
			}
		}
	}
	for _, s := range values {
		reason := check(s.Value)
		if reason == nil {
			continue
		}
		var err error
		switch b.Operator {
		case "==":
			err = fmt.Errorf("%s == %q can never be true: %w", name, s.Value, reason)
		case "!=":
			err = fmt.Errorf("%s != %q is always true: %w", name, s.Value, reason)
		default:
			err = fmt.Errorf("%s in [… %q …]: the item can never match: %w", name, s.Value, reason)
		}
		v.errs = append(v.errs, &file.Error{Location: s.Location(), Message: err.Error(), Prev: err})
	}
}

// enumField names the member n reads (event.kind, prev?.attribution), and
// the check of its values, when it is one of enumFields.
func enumField(n ast.Node) (string, func(string) error) {
	if c, ok := n.(*ast.ChainNode); ok {
		n = c.Node
	}
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return "", nil
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	if !ok || !ok2 {
		return "", nil
	}
	check := enumFields[[2]string{id.Value, prop.Value}]
	return id.Value + "." + prop.Value, check
}
