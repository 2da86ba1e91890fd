package rules

import (
	"bytes"
	"testing"
)

func TestWithoutTests(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no tests", "rules:\n  - name: a\n    when: x\n", "rules:\n  - name: a\n    when: x\n"},
		{
			"a block between two keys",
			"rules:\n  - name: a\n    tests:\n      - name: t\n        log: |\n          line\n\n          more\n    when: x\n",
			"rules:\n  - name: a\n\n\n\n\n\n\n    when: x\n",
		},
		{
			"a comment at the margin inside the block",
			"  - name: a\n    tests:\n      - name: t\n# aside\n        expect: []\n  - name: b\n",
			"  - name: a\n\n\n\n\n  - name: b\n",
		},
		{"the last line without a break", "    tests:\n      - name: t", "\n"},
		{"a flow list is left to the parser", "    tests: []\n", "    tests: []\n"},
		{"a key that only starts with tests", "    tests_x:\n      a: b\n", "    tests_x:\n      a: b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(withoutTests([]byte(tc.in)))
			if got != tc.want {
				t.Errorf("withoutTests(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if bytes.Count([]byte(got), []byte("\n")) != bytes.Count([]byte(tc.in), []byte("\n")) {
				t.Errorf("line count changed: %q", got)
			}
		})
	}
}

// The built-in file without its tests must parse to the same rules, at the
// same places, as the whole file: LoadForDetection depends on it.
func TestWithoutTestsKeepsTheBuiltinRules(t *testing.T) {
	whole, ps := ParseFile(BuiltinFile, builtinYAML)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	stripped, ps := ParseFile(BuiltinFile, withoutTests(builtinYAML))
	if len(ps) > 0 {
		t.Fatalf("the built-in file without its tests does not parse: %v", ps)
	}
	if len(stripped) != len(whole) {
		t.Fatalf("%d rules without the tests, %d with", len(stripped), len(whole))
	}
	tests := 0
	for i, w := range whole {
		s := stripped[i]
		tests += len(w.Tests)
		if len(s.Tests) != 0 {
			t.Errorf("rule %s kept %d tests", s.Name, len(s.Tests))
		}
		if s.Name != w.Name || s.Description != w.Description || s.Severity != w.Severity || s.When != w.When ||
			s.Throttle != w.Throttle || s.ThrottleKey != w.ThrottleKey || s.Summary != w.Summary ||
			s.Enabled != w.Enabled || (s.Revoke == nil) != (w.Revoke == nil) || s.Pos != w.Pos {
			t.Errorf("rule %d differs:\nwithout tests %+v\n         whole %+v", i, s, w)
		}
		for key, site := range w.exprPos {
			got, ok := s.exprPos[key]
			if !ok || got.node.Line != site.node.Line || got.node.Column != site.node.Column {
				t.Errorf("rule %s: %s at %v, want line %d column %d", w.Name, key, got.node, site.node.Line, site.node.Column)
			}
		}
	}
	if tests == 0 {
		t.Fatal("the built-in file has no tests: nothing was stripped")
	}
}

func TestLoadForDetectionIsLoadWithoutBuiltinTests(t *testing.T) {
	own := File{Name: "own.yaml", Data: []byte(`rules:
  - name: own
    severity: low
    description: own rule
    when: event.kind == "login"
    tests:
      - name: a login
        events:
          - {kind: login, time: "2026-11-23T10:00:00Z", user: "uid=a,o=T", ip: 203.0.113.9}
        expect:
          - {severity: low}
`)}
	full, err := Load(own)
	if err != nil {
		t.Fatal(err)
	}
	lean, err := LoadForDetection(own)
	if err != nil {
		t.Fatal(err)
	}
	if len(lean.Rules) != len(full.Rules) {
		t.Fatalf("%d rules, want %d", len(lean.Rules), len(full.Rules))
	}
	for i, r := range lean.Rules {
		if r.Name != full.Rules[i].Name {
			t.Errorf("rule %d is %s, want %s", i, r.Name, full.Rules[i].Name)
		}
		wantTests := 0
		if r.File == own.Name {
			wantTests = len(full.Rules[i].Tests)
		}
		if len(r.Tests) != wantTests {
			t.Errorf("rule %s (%s) has %d tests, want %d", r.Name, r.File, len(r.Tests), wantTests)
		}
	}
	if _, err := LoadForDetection(File{Name: "bad.yaml", Data: []byte("rules:\n  - name: x\n    when: (\n")}); err == nil {
		t.Error("a broken file loaded")
	}
}

// What a scan's start pays for the rules: go test ./rules -bench Load
func BenchmarkLoad(b *testing.B) {
	for _, bc := range []struct {
		name string
		load func(...File) (*Set, error)
	}{{"with-builtin-tests", Load}, {"for-detection", LoadForDetection}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.load(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
