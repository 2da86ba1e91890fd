package pipeline

import (
	"context"
	"testing"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/rules"
)

// The built-in rules carry their own tests; they must all pass.
func TestBuiltinRuleTests(t *testing.T) {
	t.Parallel()
	demo, err := geo.Demo()
	if err != nil {
		t.Fatal(err)
	}
	results := TestRules(context.Background(), rules.Builtin(), nil, demo)
	if len(results) < 11 {
		t.Fatalf("built-in rules carry %d tests, want at least 6", len(results))
	}
	for _, r := range results {
		if r.Failed {
			t.Errorf("%s / %s: %s", r.Rule, r.Test.Name, r.Reason)
		}
	}
}
