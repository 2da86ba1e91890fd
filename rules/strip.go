package rules

import "bytes"

// withoutTests blanks every "tests:" block of a block-style rule file: the
// key's line and each line after it that is blank, a comment, or indented
// deeper than the key. Lines are blanked, not removed, so every line and
// column the parse reports stays where it was. It reads lines, not YAML:
// it is meant for the built-in file, whose parse with and without its
// tests TestWithoutTestsKeepsTheBuiltinRules holds the same.
func withoutTests(src []byte) []byte {
	out := make([]byte, 0, len(src))
	block := -1 // the indentation of the "tests:" key whose block this is, or -1
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i+1], src[i+1:]
		} else {
			src = nil
		}
		text := bytes.TrimSpace(line)
		indent := len(line) - len(bytes.TrimLeft(line, " "))
		if block >= 0 && (len(text) == 0 || text[0] == '#' || indent > block) {
			out = blank(out, line)
			continue
		}
		block = -1
		if string(text) == "tests:" {
			block = indent
			out = blank(out, line)
			continue
		}
		out = append(out, line...)
	}
	return out
}

// blank appends line's line break, if it has one, and nothing else.
func blank(out, line []byte) []byte {
	if bytes.HasSuffix(line, []byte("\n")) {
		return append(out, '\n')
	}
	return out
}
