package rules

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/graceguard/graceguard/parser"
)

// kindSet is a set of event kinds, one bit each.
type kindSet uint8

const allKinds = kindSet(1<<parser.KindGraceReuse | 1<<parser.KindTokenOK | 1<<parser.KindTokenFail | 1<<parser.KindLogin | 1<<parser.KindRefusal | 1<<parser.KindProxy | 1<<parser.KindOther)

func (s kindSet) has(k parser.Kind) bool { return s&(1<<k) != 0 }

// whenShape reads, from the tree of a compiled "when" expression (nil: it
// did not compile):
//   - kinds: which event kinds it can be true for, from a top-level
//     conjunct such as event.kind == "grace_reuse" or event.kind in
//     ["token_ok", "login"]; anything it cannot read means every kind;
//   - geo: whether it has a top-level conjunct "travel != nil", "geo != nil"
//     or "prev.geo != nil": without GeoIP the rule is never true, and the
//     engine need not ask for its kinds (for a rule on token_ok, that is
//     every refresh's facts, a round trip each to a shared Redis history);
//     anything it cannot read means no.
//
// The analysis only ever skips work, it never changes a verdict. It reads
// the compiled tree rather than parsing the text again (a tenth of a load,
// BenchmarkLoad); the optimizer keeps the meaning of every conjunct, so
// one it has rewritten is at worst read as every kind or no.
func whenShape(when *vm.Program) (kinds kindSet, geo bool) {
	if when == nil {
		return allKinds, false
	}
	n := when.Node()
	return conjunctKinds(n), conjunctNeedsGeo(n)
}

func conjunctKinds(n ast.Node) kindSet {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return allKinds
	}
	switch b.Operator {
	case "&&", "and":
		return conjunctKinds(b.Left) & conjunctKinds(b.Right)
	case "==":
		if isEventKind(b.Left) {
			return kindsNamed(b.Right)
		}
		if isEventKind(b.Right) {
			return kindsNamed(b.Left)
		}
	case "in":
		if !isEventKind(b.Left) {
			break
		}
		var s kindSet
		switch list := b.Right.(type) {
		case *ast.ArrayNode: // as written
			for _, el := range list.Nodes {
				s |= kindsNamed(el)
			}
			return s
		case *ast.ConstantNode: // a list of strings, made a set by expr's optimizer
			set, ok := list.Value.(map[string]struct{})
			if !ok {
				break
			}
			for k := range set {
				s |= kindsNamed(&ast.StringNode{Value: k})
			}
			return s
		}
	}
	return allKinds
}

func isEventKind(n ast.Node) bool {
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	prop, ok2 := m.Property.(*ast.StringNode)
	return ok && ok2 && id.Value == "event" && prop.Value == "kind"
}

// kindsNamed is the kind a string literal names; a literal naming no kind
// matches none, anything else could be any kind.
func kindsNamed(n ast.Node) kindSet {
	str, ok := n.(*ast.StringNode)
	if !ok {
		return allKinds
	}
	var k parser.Kind
	if k.UnmarshalText([]byte(str.Value)) != nil {
		return 0
	}
	return 1 << k
}

func conjunctNeedsGeo(n ast.Node) bool {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return false
	}
	switch b.Operator {
	case "&&", "and":
		return conjunctNeedsGeo(b.Left) || conjunctNeedsGeo(b.Right)
	case "!=":
		_, isNil := b.Right.(*ast.NilNode)
		return isNil && isGeoFact(b.Left)
	}
	return false
}

func isGeoFact(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value == "travel" || x.Value == "geo"
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		prop, ok2 := x.Property.(*ast.StringNode)
		return ok && ok2 && id.Value == "prev" && prop.Value == "geo"
	}
	return false
}
