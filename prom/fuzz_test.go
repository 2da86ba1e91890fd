package prom

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLabelValueEscaping: whatever bytes a label value or a help text
// holds, the exposition keeps to its lines (HELP, TYPE, one a sample) and
// reads back to what was given, a label value's invalid UTF-8 as U+FFFD.
func FuzzLabelValueEscaping(f *testing.F) {
	for _, s := range []string{"", "plain", `"`, `\`, "\n", `\n`, `\"`, "a\"b\\c\nd", "\r\t\x00", "\xff\xfe", "}", `="x",y="`, "日本"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, value, help string) {
		r := NewRegistry()
		v := NewGaugeVec(Opts{Name: "g", Help: help}, []string{"a", "b"})
		v.WithLabelValues(value, "\"\\\n").Set(1)
		v.WithLabelValues("", value).Set(2)
		r.MustRegister(v)
		out := exposition(t, r)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("%d lines, want 4:\n%q", len(lines), out)
		}
		gotHelp, ok := strings.CutPrefix(lines[0], "# HELP g ")
		if !ok || unescape(t, gotHelp, false) != help {
			t.Errorf("HELP line %q does not read back to %q", lines[0], help)
		}
		if lines[1] != "# TYPE g gauge" {
			t.Errorf("TYPE line %q", lines[1])
		}
		samples := map[[2]string]string{}
		for _, l := range lines[2:] {
			a, b, val := parseSample(t, l)
			if !utf8.ValidString(a) || !utf8.ValidString(b) {
				t.Errorf("sample %q: a label value is not UTF-8", l)
			}
			samples[[2]string{a, b}] = val
		}
		valid := strings.ToValidUTF8(value, "\uFFFD")
		if samples[[2]string{valid, "\"\\\n"}] != "1" || samples[[2]string{"", valid}] != "2" {
			t.Errorf("samples %q do not read back to the label values %q", lines[2:], value)
		}
	})
}

// parseSample reads g{a="…",b="…"} value.
func parseSample(t *testing.T, line string) (a, b, value string) {
	t.Helper()
	rest, ok := strings.CutPrefix(line, `g{a="`)
	if !ok {
		t.Fatalf("sample %q", line)
	}
	a, rest = quoted(t, rest)
	rest, ok = strings.CutPrefix(rest, `,b="`)
	if !ok {
		t.Fatalf("sample %q", line)
	}
	b, rest = quoted(t, rest)
	value, ok = strings.CutPrefix(rest, "} ")
	if !ok {
		t.Fatalf("sample %q", line)
	}
	return a, b, value
}

// quoted reads an escaped label value up to its closing quote.
func quoted(t *testing.T, s string) (value, rest string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return unescape(t, s[:i], true), s[i+1:]
		}
	}
	t.Fatalf("no closing quote in %q", s)
	return "", ""
}

func unescape(t *testing.T, s string, quoted bool) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' || quoted && c == '"' {
			t.Fatalf("unescaped %q in %q", c, s)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i++; i == len(s) {
			t.Fatalf("%q ends in a lone backslash", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quoted {
				t.Fatalf("escaped quote in help %q", s)
			}
			b.WriteByte('"')
		default:
			t.Fatalf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String()
}
