package rules

import (
	"strings"
	"testing"
)

// A string compared with a member that can never hold it makes the
// comparison constant wherever it stands (inside ||, a list, a negation):
// the rule silently never fires, or fires on everything. It is refused
// where the string stands, as a misspelt field is.
func TestEnumComparisonsAreCheckedAtCompile(t *testing.T) {
	const head = "rules:\n  - name: r\n    severity: low\n"
	tests := []struct {
		name, when string
		want       string // the problem's prefix; "" for none
	}{
		{"kind misspelt in a list", `event.kind in ["grace_reuse", "tokn_ok"]`,
			`r.yaml:4:42: when: event.kind in [… "tokn_ok" …]: the item can never match: "tokn_ok" is no event kind`},
		{"kind misspelt beside ||", `event.kind == "grace_reuse" || event.kind == "tokn_ok"`,
			`r.yaml:4:57: when: event.kind == "tokn_ok" can never be true: "tokn_ok" is no event kind`},
		{"kind misspelt, negated", `event.kind != "grace_reus" && prev != nil`,
			`r.yaml:4:26: when: event.kind != "grace_reus" is always true`},
		{"kind on the left", `"login" == event.kind || "tokn_fail" == event.kind`,
			`r.yaml:4:37: when: event.kind == "tokn_fail" can never be true`},
		// Refusals, proxy records and other lines exist as kinds (a rule
		// test's events take them) but never reach a rule.
		{"refusal is never judged", `event.kind == "refusal"`,
			`r.yaml:4:26: when: event.kind == "refusal" can never be true: refusals are never judged by rules`},
		{"other is never judged", `event.kind in ["login", "other"]`,
			`r.yaml:4:36: when: event.kind in [… "other" …]: the item can never match: "other" events are never judged by rules`},
		{"proxy through ?.", `event?.kind == "proxy"`,
			`r.yaml:4:27: when: event.kind == "proxy" can never be true`},
		{"attribution misspelt", `event.kind == "grace_reuse" && event.attribution == "joinde"`,
			`r.yaml:4:64: when: event.attribution == "joinde" can never be true: "joinde" is no attribution`},
		{"prev attribution misspelt in a list", `event.kind == "grace_reuse" && prev?.attribution not in ["Unattributed"]`,
			`r.yaml:4:69: when: prev.attribution in [… "Unattributed" …]`},
		{"two kinds at once", `event.kind == "grace_reuse" && event.kind == "login"`,
			`r.yaml:4:12: when: can never be true: no event kind satisfies its event.kind comparisons`},
		{"valid", `event.kind in ["grace_reuse", "token_ok"] && event.attribution != "" && prev?.attribution in ["direct", "joined"] || event.kind == "token_fail" && event.reason != "x"`, ""},
		{"other members are free", `event.kind == "login" && event.tag == "AuSuccess" && geo?.country == "XX"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(File{Name: "r.yaml", Data: []byte(head + "    when: '" + tt.when + "'\n")})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant prefix\n%s", err, tt.want)
			}
			// Each is said once: the checks walk the tree expr compiles
			// (an expr.Patch), which expr would walk again for a patch
			// that asked it to.
			if ps, ok := err.(Problems); !ok || len(ps) != 1 {
				t.Errorf("error\n%v\nwant one problem", err)
			}
		})
	}
}
