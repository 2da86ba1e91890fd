package yamlpos

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

func TestLocate(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Pos
		msg  string // when set, the message
	}{
		{"key indented less than its siblings", "rules:\n  - name: a\n    when: x\n   severity: high\n", Pos{4, 4}, ""},
		{"unclosed quote", "rules:\n  - name: a\n    when: \"x\n    severity: high\n", Pos{3, 11}, ""},
		{"colon in a plain value", "rules:\n  - name: a\n    when: x: y\n", Pos{3, 11}, ""},
		{"tab indentation", "rules:\n  - name: a\n\twhen: x\n", Pos{3, 1}, ""},
		{"unclosed flow map", "a: 1\nb: 2\nc: {d\n", Pos{3, 5}, ""},
		// A Markdown file given for a YAML one: goccy names the reserved
		// character, which once left the message a lone "'".
		{"a backquote starting a value", "a: 1\n```sh\n", Pos{2, 1}, "a backquote is a reserved character"},
		{"an alias to no anchor", "a: 1\nb:\n  c: *nope\n", Pos{3, 6}, "unknown anchor 'nope' referenced"},
		{"the first alias to no anchor", "x: &ok 1\na: *ok\nb: [1, *nope]\nc: *nope\n", Pos{3, 8}, "unknown anchor 'nope' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.doc), &n)
			if err == nil {
				t.Fatal("yaml/v3 accepted the document")
			}
			got, msg := Locate([]byte(tt.doc), err)
			if got != tt.want {
				t.Errorf("Locate = %d:%d (%s), want %d:%d; yaml/v3 said %v", got.Line, got.Column, msg, tt.want.Line, tt.want.Column, err)
			}
			if msg == "" || tt.msg != "" && msg != tt.msg {
				t.Errorf("message %q, want %q", msg, tt.msg)
			}
		})
	}
}

func TestLocateNeverQuotesTheDocument(t *testing.T) {
	doc := "url: `hunter2`: x\n  bad: [\n"
	var n yaml.Node
	err := yaml.Unmarshal([]byte(doc), &n)
	if err == nil {
		t.Skip("accepted")
	}
	_, msg := Locate([]byte(doc), err)
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message quotes the document: %s", msg)
	}
}

func FuzzLocate(f *testing.F) {
	f.Add([]byte("a: [\n"))
	f.Add([]byte("rules:\n  - name: a\n    when: x\n   severity: high\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var n yaml.Node
		err := yaml.Unmarshal(data, &n)
		if err == nil {
			return
		}
		pos, msg := Locate(data, err)
		if pos.Line < 1 || pos.Column < 1 {
			t.Fatalf("position %+v", pos)
		}
		// yaml/v3 quotes values between backquotes; Locate drops them.
		if msg == "" || strings.Contains(msg, "`") {
			t.Fatalf("message %q of %q", msg, data)
		}
		// The place is in the file: a line of it (or just past its end, a
		// document cut short), a column of that line or just past it. YAML
		// also ends lines at a CR, NEL, LS or PS: those files are left out.
		if bytes.ContainsAny(data, "\r\u0085\u2028\u2029") {
			return
		}
		lines := strings.Split(string(data), "\n")
		if pos.Line > len(lines)+1 || pos.Line <= len(lines) && pos.Column > utf8.RuneCountInString(lines[pos.Line-1])+2 {
			t.Fatalf("position %d:%d outside %q", pos.Line, pos.Column, data)
		}
	})
}
