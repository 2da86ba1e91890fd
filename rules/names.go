package rules

import "fmt"

// nameBook follows, across the files of one load, which rule names are
// defined and where, to refuse what the README's merge semantics make
// silent: disabling a name nothing defines (a typo leaves the rule meant
// running), and one name defined in two of the user's files (the later
// would replace the earlier whole, its tests included, so they would never
// run). Replacing a built-in rule by name stays the documented way to
// change one.
type nameBook struct {
	defined map[string]Spec // the latest definition of each name (a disabling entry defines nothing)
	order   []string        // defined's names in the order they first came, for a deterministic hint
}

// check records spec and returns the problem with its name, if any.
func (b *nameBook) check(spec Spec) Problems {
	last, known := b.defined[spec.Name]
	switch {
	case spec.disables && !known:
		msg := fmt.Sprintf("rule %q is disabled, but neither the built-in rules nor an earlier file define it", spec.Name)
		if near := b.nearest(spec.Name); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return Problems{{File: spec.File, Pos: spec.Pos, Msg: msg}}
	case spec.disables:
		return nil
	case known && !last.Builtin && last.File != spec.File:
		// The same path named twice is the same definition again.
		return Problems{{File: spec.File, Pos: spec.Pos, Msg: fmt.Sprintf(
			"rule %q is already defined at %s:%d:%d: a name may be defined in one of your rule files only (only a built-in rule may be replaced by name)",
			spec.Name, last.File, last.Pos.Line, last.Pos.Column)}}
	case !known:
		b.order = append(b.order, spec.Name)
	}
	b.defined[spec.Name] = spec
	return nil
}

// nearest returns the defined name closest to name within an edit distance
// of 2 (the earliest defined on a tie), or "" when none is that close.
func (b *nameBook) nearest(name string) string {
	best, bestD := "", 3
	for _, n := range b.order {
		if d := editDistance(name, n, bestD); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, or limit when it
// is limit or more (rule names are short, so the plain table is enough).
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
