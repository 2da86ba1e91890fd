package rules

import (
	"strings"
	"testing"
)

// Where a rule or a test stands is named by file: the built-in set's label
// is one no rule file of the user's can have, so a file the user called
// builtin.yaml (the embedded file's own name, which the built-ins were
// labelled with) is never taken for the built-ins, nor they for it.
func TestTheBuiltinSetsLabelIsNoRuleFilesName(t *testing.T) {
	const own = "rules:\n" +
		"  - name: mine\n    severity: low\n    when: event.kind == \"login\"\n" +
		"    tests:\n      - name: t\n        events: [{kind: login, time: \"2026-11-23T10:00:00Z\"}]\n        expect: [{severity: low}]\n" +
		"  - name: reuse-burst\n    severity: high\n    when: event.kind == \"grace_reuse\"\n"
	for _, load := range []struct {
		name string
		fn   func(...File) (*Set, error)
	}{{"Load", Load}, {"LoadForDetection", LoadForDetection}} {
		t.Run(load.name, func(t *testing.T) {
			set, err := load.fn(File{Name: "builtin.yaml", Data: []byte(own)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range set.Rules {
				want := "builtin.yaml"
				if r.Builtin {
					want = "<built-in>"
				}
				if r.File != want {
					t.Errorf("rule %s (built-in: %t) is labelled %q, want %q", r.Name, r.Builtin, r.File, want)
				}
			}
			if r, _ := set.Lookup("reuse-burst"); r.Builtin {
				t.Error("the user's reuse-burst is taken for the built-in one")
			}
		})
	}

	// The problems of a user's builtin.yaml name it, not the built-ins.
	_, err := Load(File{Name: "builtin.yaml", Data: []byte("rules:\n  - name: x\n    severity: low\n    when: event.nope\n")})
	if err == nil || err.Error() != "builtin.yaml:4:17: when: event has no field nope" {
		t.Errorf("error %v, want the user's builtin.yaml named", err)
	}

	// A file given by the label itself would be the built-ins' double.
	for _, load := range []func(...File) (*Set, error){Load, LoadForDetection} {
		_, err = load(File{Name: BuiltinFile, Data: []byte(own)})
		if err == nil || !strings.Contains(err.Error(), `a rule file may not be named "<built-in>"`) {
			t.Errorf("a rule file named %q: error %v, want it refused", BuiltinFile, err)
		}
	}
}
