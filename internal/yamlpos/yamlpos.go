// Package yamlpos locates YAML syntax errors. go.yaml.in/yaml/v3, which
// reads every YAML file graceguard takes, reports a syntax error at the
// line where the enclosing construct began (often line 1: "did not find
// expected '-' indicator"), without a column. goccy/go-yaml's parser
// reports the offending token's own line and column, so a file that yaml/v3
// refuses is parsed once more with it, only to place the error. It owns no
// decoding and must not quote the document: the message names the problem,
// never the text, which may be a credential.
package yamlpos

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"

	goccy "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Pos is where a syntax error is, from 1.
type Pos struct{ Line, Column int }

// v3Line and v3Anchor are compiled at the first error, not at every start
// of every command (97 allocations in the package's initialiser).
var (
	v3Line   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`) })
	v3Anchor = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^unknown anchor '(.*)' referenced$`) })
)

// Locate returns the position and message of the syntax error err that
// go.yaml.in/yaml/v3 returned for data. The column is 1 when only the
// line is known.
func Locate(data []byte, err error) (Pos, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := Pos{Line: 1, Column: 1}
	if m := v3Line().FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if p, m, ok := locateToken(data); ok {
		pos, msg = p, m
	} else if m := v3Anchor().FindStringSubmatch(msg); m != nil {
		// Anchors are resolved after parsing, where yaml/v3 no longer
		// says which line, and goccy's parser does not resolve them: the
		// first alias of that name is the one refused.
		if p, ok := locateAlias(data, m[1]); ok {
			pos = p
		}
	}
	return pos, dropQuoted(msg)
}

// locateAlias returns where the first alias *name in data is.
func locateAlias(data []byte, name string) (pos Pos, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	tokens := lexer.Tokenize(string(data))
	for i, tk := range tokens {
		if tk.Type == token.AliasType && i+1 < len(tokens) && tokens[i+1].Value == name && tk.Position != nil && tk.Position.Line >= 1 {
			return Pos{Line: tk.Position.Line, Column: max(tk.Position.Column, 1)}, true
		}
	}
	return pos, false
}

// locateToken asks goccy/go-yaml where the offending token is. A panic in
// that second opinion leaves yaml/v3's first one standing.
func locateToken(data []byte) (pos Pos, msg string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := parser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return pos, "", false
	}
	// A reserved character is named between single quotes; the backquote
	// would read as the start of a quoted value to dropQuoted, which then
	// left "'" of the whole message.
	msg = strings.NewReplacer("\t", `\t`, "\r", `\r`, "'`'", "a backquote").Replace(se.Message)
	return Pos{Line: se.Token.Position.Line, Column: max(se.Token.Position.Column, 1)}, msg, true
}

// dropQuoted removes what a message quotes of the document between
// backquotes, as yaml/v3 does for values.
func dropQuoted(msg string) string {
	if !strings.Contains(msg, "`") {
		return msg
	}
	var b strings.Builder
	for i, part := range strings.Split(msg, "`") {
		if i%2 == 0 {
			b.WriteString(part)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
