package rules

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// literalChecks names, for each function whose argument a rule can get
// wrong in a way only a run would show, how to check each argument when it
// is constant (by position; nil: not checked). At run time in_cidr and
// is_private take a malformed address or range for "no", which a rule
// negating them turns into "yes" for everyone (a critical alert on every
// benign race); duration fails the rule on every event. Regular
// expressions need no entry: expr compiles a constant "matches" pattern
// itself and reports it.
var literalChecks = map[string][]func(string) error{
	"in_cidr":    {checkAddr("in_cidr"), checkPrefix},
	"is_private": {checkAddr("is_private")},
	"duration":   {checkDuration},
}

// checkLiterals reports every constant argument in a compiled expression's
// tree that literalChecks refuses, each as a *file.Error bound to the
// expression's text, so that it is placed in the rule file as expr's own
// errors are. It reads the tree after expr's optimizer, so a constant
// it folded ("10.0.0." + "0/8") is checked too; an argument known only at
// run time is left to the run.
func checkLiterals(tree ast.Node, text string) []error {
	v := &literalVisitor{}
	ast.Walk(&tree, v)
	return bindAll(v.errs, text)
}

// bindAll binds a visitor's errors to the expression's text, so that
// each is placed in the rule file as expr's own errors are.
func bindAll(found []*file.Error, text string) []error {
	src := file.NewSource(text)
	errs := make([]error, len(found))
	for i, e := range found {
		errs[i] = e.Bind(src)
	}
	return errs
}

type literalVisitor struct {
	errs []*file.Error
}

func (v *literalVisitor) Visit(n *ast.Node) {
	var name string
	var args []ast.Node
	switch c := (*n).(type) {
	case *ast.CallNode:
		id, ok := c.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		name, args = id.Value, c.Arguments
	case *ast.BuiltinNode:
		name, args = c.Name, c.Arguments
	default:
		return
	}
	for i, check := range literalChecks[name] {
		if check == nil || i >= len(args) {
			continue
		}
		s, ok := args[i].(*ast.StringNode)
		if !ok {
			continue
		}
		if err := check(s.Value); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			v.errs = append(v.errs, &file.Error{Location: s.Location(), Message: err.Error(), Prev: err})
		}
	}
}

// The checks' messages name the value once: netip's and time's errors
// quote it already.

func checkPrefix(s string) error {
	if _, err := parsePrefix(s); err != nil {
		return fmt.Errorf("not an address range such as 10.0.0.0/8 (or a single address): %w", err)
	}
	return nil
}

func checkAddr(fn string) func(string) error {
	return func(s string) error {
		_, err := netip.ParseAddr(s)
		if err == nil {
			return nil
		}
		if _, perr := netip.ParsePrefix(s); perr == nil && fn == "in_cidr" {
			// A range where the address goes is the arguments swapped.
			return fmt.Errorf("not an IP address (the address comes first, then the range): %w", err)
		}
		return fmt.Errorf("not an IP address: %w", err)
	}
}

func checkDuration(s string) error {
	if _, err := time.ParseDuration(s); err != nil {
		return fmt.Errorf("not a duration such as 30s, 10m or 1h: %w", err)
	}
	return nil
}
