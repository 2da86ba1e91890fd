package rules

import (
	"fmt"
	"strings"
	"testing"
)

// Entries that only disable must name a rule that exists, and one name may
// be defined in only one of the user's files: either mistake used to leave
// a rule running (or its tests unrun) without a word.
func TestRuleNamesAcrossFiles(t *testing.T) {
	define := func(name string) string {
		return fmt.Sprintf("  - name: %s\n    severity: low\n    when: event.kind == \"login\"\n", name)
	}
	disable := func(name string) string { return fmt.Sprintf("  - name: %s\n    enabled: false\n", name) }
	tests := []struct {
		name  string
		files []string // each file's rules, named a.yaml, b.yaml, … in order
		want  string   // the problems' prefix; "" for none
	}{
		{"disabling a built-in", []string{disable("reuse-burst")}, ""},
		{"a misspelt built-in", []string{disable("reuse-brust")},
			`a.yaml:2:11: rule "reuse-brust" is disabled, but neither the built-in rules nor an earlier file define it (did you mean "reuse-burst"?)`},
		{"nothing near", []string{disable("no-such-rule")},
			"a.yaml:2:11: rule \"no-such-rule\" is disabled, but neither the built-in rules nor an earlier file define it\n"},
		{"the nearest of several", []string{define("my-rule-a") + define("my-rul"), disable("my-rulx")},
			`b.yaml:2:11: rule "my-rulx" is disabled, but neither the built-in rules nor an earlier file define it (did you mean "my-rul"?)`},
		{"disabling an earlier file's rule", []string{define("mine"), disable("mine")}, ""},
		{"disabling what an earlier file disabled", []string{disable("reuse-burst"), disable("reuse-burst")}, ""},
		{"disabling before the defining file", []string{disable("mine"), define("mine")},
			"a.yaml:2:11: rule \"mine\" is disabled, but neither the built-in rules nor an earlier file define it\n"},
		{"one name in two files", []string{define("my-rule"), "  - name: other\n    severity: low\n    when: \"true\"\n" + define("my-rule")},
			`b.yaml:5:11: rule "my-rule" is already defined at a.yaml:2:11: a name may be defined in one of your rule files only`},
		{"a built-in replaced in two files", []string{define("reuse-burst"), define("reuse-burst")},
			`b.yaml:2:11: rule "reuse-burst" is already defined at a.yaml:2:11`},
		{"a disabled definition counts", []string{define("mine") + "    enabled: false\n", define("mine")},
			`b.yaml:2:11: rule "mine" is already defined at a.yaml:2:11`},
		{"a refused definition's expressions are still checked", []string{define("mine"), "  - name: mine\n    severity: low\n    when: event.nope\n"},
			"b.yaml:2:11: rule \"mine\" is already defined at a.yaml:2:11: a name may be defined in one of your rule files only (only a built-in rule may be replaced by name)\n" +
				"b.yaml:4:17: when: event has no field nope\n"},
		{"a built-in replaced once", []string{define("reuse-burst"), disable("reuse-burst")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []File
			for i, f := range tt.files {
				files = append(files, File{Name: string(rune('a'+i)) + ".yaml", Data: []byte("rules:\n" + f)})
			}
			for _, load := range []func(...File) (*Set, error){Load, LoadForDetection} {
				_, err := load(files...)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("error %v, want none", err)
					}
					continue
				}
				if err == nil || !strings.HasPrefix(err.Error()+"\n", tt.want) {
					t.Errorf("error\n%v\nwant prefix\n%s", err, tt.want)
				}
			}
		})
	}
}
