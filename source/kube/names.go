package kube

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The checks of names and label selectors below accept and refuse what
// apimachinery's validation and labels packages do (the tests compare
// them), so that a request the API server would refuse is refused before
// it is sent; graceguard does not link apimachinery, for memory.

const (
	dns1123LabelMax     = 63
	dns1123SubdomainMax = 253
	labelPartMax        = 63

	dns1123LabelFmt     = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
	dns1123SubdomainFmt = dns1123LabelFmt + "(\\." + dns1123LabelFmt + ")*"
	labelKeyFmt         = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	labelValueFmt       = "(" + labelKeyFmt + ")?"
)

// CheckNamespace returns an error naming what is wrong with namespace as
// a Kubernetes namespace's name; nil for a good one.
func CheckNamespace(namespace string) error {
	if errs := dns1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	return nil
}

// dns1123Label checks a namespace or container name.
func dns1123Label(s string) []string {
	var errs []string
	if len(s) > dns1123LabelMax {
		errs = append(errs, maxLen(dns1123LabelMax, "characters"))
	}
	if !isDNSLabel(s) {
		if isDNSSubdomain(s) {
			errs = append(errs, "must not contain dots")
		} else {
			errs = append(errs, regexError("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character", dns1123LabelFmt, "my-name", "123-abc"))
		}
	}
	return errs
}

// dns1123Subdomain checks a pod name.
func dns1123Subdomain(s string) []string { return subdomainErrors(s, "characters") }

// checkPodName returns an error naming what is wrong with name as a pod's
// name; nil for a good one. Names the API server sends are checked with
// it before they go into a request's path (api.podURL).
func checkPodName(name string) error {
	if errs := dns1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("pod name %s: %s", quoted(name), strings.Join(errs, "; "))
	}
	return nil
}

// quoted is a name the API server sent, for a log line or an error:
// quoted in ASCII (no terminal escapes, newlines or right-to-left
// overrides reach a terminal or a log collector) and cut short, as
// nothing but the size of a pod list bounds it.
func quoted(name string) string {
	if utf8.RuneCountInString(name) > dns1123SubdomainMax {
		return fmt.Sprintf("%+.*q…", dns1123SubdomainMax, name)
	}
	return fmt.Sprintf("%+q", name)
}

// subdomainErrors checks a DNS subdomain: a pod name, whose length
// apimachinery counts in characters, or a label key's prefix, in bytes.
func subdomainErrors(s, unit string) []string {
	var errs []string
	if len(s) > dns1123SubdomainMax {
		errs = append(errs, maxLen(dns1123SubdomainMax, unit))
	}
	if !isDNSSubdomain(s) {
		errs = append(errs, regexError("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", dns1123SubdomainFmt, "example.com"))
	}
	return errs
}

// labelKey checks a label key: a name with an optional DNS subdomain
// prefix and '/'.
func labelKey(s string) []string {
	const msg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	var errs []string
	name := s
	switch parts := strings.Split(s, "/"); len(parts) {
	case 1:
	case 2:
		prefix := parts[0]
		name = parts[1]
		if prefix == "" {
			errs = append(errs, "prefix part must be non-empty")
		} else {
			for _, e := range subdomainErrors(prefix, "bytes") {
				errs = append(errs, "prefix part "+e)
			}
		}
	default:
		return []string{"a valid label key " + regexError(msg, labelKeyFmt, "MyName", "my.name", "123-abc") +
			" with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"}
	}
	if name == "" {
		errs = append(errs, "name part must be non-empty")
	} else if len(name) > labelPartMax {
		errs = append(errs, "name part "+maxLen(labelPartMax, "bytes"))
	}
	if !isLabelName(name) {
		errs = append(errs, "name part "+regexError(msg, labelKeyFmt, "MyName", "my.name", "123-abc"))
	}
	return errs
}

// labelValue checks a label value: empty, or a label key's name part.
func labelValue(s string) []string {
	var errs []string
	if len(s) > labelPartMax {
		errs = append(errs, maxLen(labelPartMax, "bytes"))
	}
	if s != "" && !isLabelName(s) {
		errs = append(errs, regexError("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", labelValueFmt, "MyValue", "my_value", "12345"))
	}
	return errs
}

// maxLen is the message for a name too long; apimachinery counts DNS names
// in characters and label parts in bytes (both are bytes).
func maxLen(n int, unit string) string { return fmt.Sprintf("must be no more than %d %s", n, unit) }

// regexError is apimachinery's message, odd punctuation and all.
func regexError(msg, re string, examples ...string) string {
	msg += " (e.g. "
	for i, e := range examples {
		if i > 0 {
			msg += " or "
		}
		msg += "'" + e + "', "
	}
	return msg + "regex used for validation is '" + re + "')"
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || 'A' <= c && c <= 'Z' }

// isDNSLabel matches dns1123LabelFmt.
func isDNSLabel(s string) bool {
	return s != "" && isLower(s[0]) && isLower(s[len(s)-1]) &&
		strings.IndexFunc(s, func(r rune) bool { return r != '-' && (r > 0x7f || !isLower(byte(r))) }) < 0
}

// isDNSSubdomain matches dns1123SubdomainFmt.
func isDNSSubdomain(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// isLabelName matches labelKeyFmt.
func isLabelName(s string) bool {
	return s != "" && isAlnum(s[0]) && isAlnum(s[len(s)-1]) &&
		strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("-_.", r) && (r > 0x7f || !isAlnum(byte(r))) }) < 0
}

// checkSelector parses a label selector as apimachinery's labels.Parse
// does, and reports why it refuses one: a comma-separated list of
// requirements key, !key, key=v, key==v, key!=v, key in (v,...),
// key notin (v,...), key>n and key<n.
func checkSelector(s string) error {
	p := selectorParser{items: lexSelector(s)}
	return p.parse()
}

type selToken int

const (
	tokEnd selToken = iota + 1
	tokClosePar
	tokComma
	tokNot // "!", key does not exist
	tokDoubleEquals
	tokEquals
	tokGreater
	tokIdentifier
	tokIn
	tokLess
	tokNotEquals
	tokNotIn
	tokOpenPar
)

var selTokens = map[string]selToken{
	")": tokClosePar, ",": tokComma, "!": tokNot, "==": tokDoubleEquals, "=": tokEquals, ">": tokGreater,
	"in": tokIn, "<": tokLess, "!=": tokNotEquals, "notin": tokNotIn, "(": tokOpenPar,
}

type selItem struct {
	tok selToken
	lit string
}

func isSelectorSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
func isSelectorSymbol(c byte) bool { return strings.IndexByte("=!(),><", c) >= 0 }

// selectorLexer splits a selector into tokens as apimachinery's lexer
// does, down to its reading of a NUL byte as the end of the input.
type selectorLexer struct {
	s   string
	pos int
}

func (l *selectorLexer) read() byte {
	if l.pos < len(l.s) {
		l.pos++
		return l.s[l.pos-1]
	}
	return 0
}

func (l *selectorLexer) unread() { l.pos-- }

func (l *selectorLexer) lex() selItem {
	c := l.read()
	for isSelectorSpace(c) {
		c = l.read()
	}
	switch {
	case c == 0:
		return selItem{tok: tokEnd}
	case isSelectorSymbol(c):
		l.unread()
		return l.symbol()
	}
	l.unread()
	return l.word()
}

// word reads an identifier, or the keywords in and notin.
func (l *selectorLexer) word() selItem {
	var b []byte
	for c := l.read(); c != 0; c = l.read() {
		if isSelectorSymbol(c) || isSelectorSpace(c) {
			l.unread()
			break
		}
		b = append(b, c)
	}
	if tok, ok := selTokens[string(b)]; ok {
		return selItem{tok: tok, lit: string(b)}
	}
	return selItem{tok: tokIdentifier, lit: string(b)}
}

// symbol reads the longest run of symbols that is a token.
func (l *selectorLexer) symbol() selItem {
	var b []byte
	var last selItem
	for c := l.read(); c != 0; c = l.read() {
		if !isSelectorSymbol(c) {
			l.unread()
			break
		}
		b = append(b, c)
		if tok, ok := selTokens[string(b)]; ok {
			last = selItem{tok: tok, lit: string(b)}
		} else if last.tok != 0 {
			l.unread()
			break
		}
	}
	return last // every symbol alone is a token, so last is set
}

func lexSelector(s string) []selItem {
	l := &selectorLexer{s: s}
	var items []selItem
	for {
		it := l.lex()
		items = append(items, it)
		if it.tok == tokEnd {
			return items
		}
	}
}

type selectorParser struct {
	items []selItem
	pos   int
}

// peek and next read a token; where values are expected, in and notin are
// identifiers.
func (p *selectorParser) peek(values bool) (selToken, string) {
	it := p.items[p.pos]
	if values && (it.tok == tokIn || it.tok == tokNotIn) {
		return tokIdentifier, it.lit
	}
	return it.tok, it.lit
}

func (p *selectorParser) next(values bool) (selToken, string) {
	tok, lit := p.peek(values)
	p.pos++
	return tok, lit
}

func (p *selectorParser) parse() error {
	for {
		switch tok, lit := p.peek(true); tok {
		case tokIdentifier, tokNot:
			if err := p.requirement(); err != nil {
				return fmt.Errorf("unable to parse requirement: %w", err)
			}
			switch t, l := p.next(true); t {
			case tokEnd:
				return nil
			case tokComma:
				if t2, l2 := p.peek(true); t2 != tokIdentifier && t2 != tokNot {
					return fmt.Errorf("found '%s', expected: identifier after ','", l2)
				}
			default:
				return fmt.Errorf("found '%s', expected: ',' or 'end of string'", l)
			}
		case tokEnd:
			return nil
		default:
			return fmt.Errorf("found '%s', expected: !, identifier, or 'end of string'", lit)
		}
	}
}

// requirement parses one requirement and checks its key and values.
func (p *selectorParser) requirement() error {
	notExists := false
	tok, key := p.next(true)
	if tok == tokNot {
		notExists = true
		tok, key = p.next(true)
	}
	if tok != tokIdentifier {
		return fmt.Errorf("found '%s', expected: identifier", key)
	}
	if errs := labelKey(key); len(errs) > 0 {
		return fmt.Errorf("key %q: %s", key, strings.Join(errs, "; "))
	}
	if t, _ := p.peek(true); notExists || t == tokEnd || t == tokComma {
		return nil // exists, or does not
	}
	op, lit := p.next(false)
	var values []string
	var err error
	switch op {
	case tokIn, tokNotIn:
		values, err = p.valueList()
	case tokEquals, tokDoubleEquals, tokNotEquals, tokGreater, tokLess:
		values, err = p.exactValue()
	default:
		return fmt.Errorf("found '%s', expected: in, notin, =, ==, !=, gt, lt", lit)
	}
	if err != nil {
		return err
	}
	return checkValues(key, op, values)
}

func checkValues(key string, op selToken, values []string) error {
	var errs []error
	for _, v := range values {
		if op == tokGreater || op == tokLess {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				errs = append(errs, fmt.Errorf("key %q: value %q: for 'Gt', 'Lt' operators, the value must be an integer", key, v))
			}
		}
		if e := labelValue(v); len(e) > 0 {
			errs = append(errs, fmt.Errorf("key %q: value %q: %s", key, v, strings.Join(e, "; ")))
		}
	}
	return errors.Join(errs...)
}

// valueList parses "(v1,v2,...)", where empty values are allowed.
func (p *selectorParser) valueList() ([]string, error) {
	if tok, lit := p.next(true); tok != tokOpenPar {
		return nil, fmt.Errorf("found '%s' expected: '('", lit)
	}
	switch tok, lit := p.peek(true); tok {
	case tokIdentifier, tokComma:
		values, err := p.identifiers()
		if err != nil {
			return nil, err
		}
		if tok, _ := p.next(true); tok != tokClosePar {
			return nil, fmt.Errorf("found '%s', expected: ')'", lit)
		}
		return values, nil
	case tokClosePar:
		p.next(true)
		return []string{""}, nil
	default:
		return nil, fmt.Errorf("found '%s', expected: ',', ')' or identifier", lit)
	}
}

// identifiers parses the values of a list up to its ')': "a,b", ",a",
// "a,,b" and "a," (the empty value).
func (p *selectorParser) identifiers() ([]string, error) {
	var values []string
	for {
		switch tok, lit := p.next(true); tok {
		case tokIdentifier:
			values = append(values, lit)
			switch t2, l2 := p.peek(true); t2 {
			case tokComma:
				continue
			case tokClosePar:
				return values, nil
			default:
				return nil, fmt.Errorf("found '%s', expected: ',' or ')'", l2)
			}
		case tokComma:
			values = append(values, "")
			if t2, _ := p.peek(true); t2 == tokClosePar {
				return values, nil
			}
		default:
			return nil, fmt.Errorf("found '%s', expected: ',', or identifier", lit)
		}
	}
}

// exactValue parses the one value after =, ==, !=, > or <; none is the
// empty value.
func (p *selectorParser) exactValue() ([]string, error) {
	if tok, _ := p.peek(true); tok == tokEnd || tok == tokComma {
		return []string{""}, nil
	}
	tok, lit := p.next(true)
	if tok != tokIdentifier {
		return nil, fmt.Errorf("found '%s', expected: identifier", lit)
	}
	return []string{lit}, nil
}
