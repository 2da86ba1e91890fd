package redact

import (
	"errors"
	"net/url"
	"strings"
)

// ParseError says in words what url.Parse (or url.ParseRequestURI) refused
// in a URL, quoting no byte of it: net/url's messages quote the URL whole
// (*url.Error) and, inside, the bytes at fault: `invalid URL escape "%zz"`
// holds the two bytes after the '%', `invalid port ":abc" after host` what
// followed a colon, which is a password's start when the password holds an
// unescaped '/', '?' or '#' (https://user:pa/ss@host parses "pa" as the
// port), and `invalid character "^" in host name` a byte of the host. For a
// secret URL (a webhook, a Redis URL with its password) any of those is
// part of the secret.
//
// The result does not wrap err, deliberately: unwrapped, a *url.Error
// prints its URL again, and the inner errors print the bytes at fault, to
// whoever logs what errors.As or errors.Unwrap hands them. Nothing needs to
// classify a parse error beyond what the words say. ParseError(nil) is nil.
func ParseError(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return parseProblem{problem(err)}
}

type parseProblem struct{ msg string }

func (p parseProblem) Error() string { return p.msg }

// The words ParseError gives, one for each kind of failure.
const (
	notURL        = "not a URL"
	badEscape     = notURL + ": an invalid %-escape ('%' must be followed by two hex digits; write a literal '%' as %25)"
	badHostChar   = notURL + ": an invalid character in the host"
	badPort       = notURL + ": an invalid port after the host (a '/', '?' or '#' in a password must be %-escaped)"
	badIPLiteral  = notURL + ": an invalid IP address in brackets as the host"
	noScheme      = notURL + ": no scheme (such as https://)"
	controlChar   = notURL + ": a control character (a newline, a tab, …)"
	badUserinfo   = notURL + ": an invalid character in the user name or password (escape it with %XX)"
	colonFirst    = notURL + ": no scheme, and a colon in the first path segment"
	emptyURL      = notURL + ": empty"
	notRequestURI = notURL + ": want an absolute URL or path"
)

// problem names what is wrong, from the type or the fixed part of net/url's
// message; a message it does not know becomes "not a URL", never itself.
func problem(err error) string {
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return badEscape
	}
	var host url.InvalidHostError
	if errors.As(err, &host) {
		return badHostChar
	}
	if err == nil {
		return notURL
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "invalid port "):
		return badPort
	case strings.HasPrefix(msg, "invalid host: "), msg == "invalid IP-literal", msg == "missing ']' in host":
		return badIPLiteral
	}
	switch msg {
	case "missing protocol scheme":
		return noScheme
	case "net/url: invalid control character in URL":
		return controlChar
	case "net/url: invalid userinfo":
		return badUserinfo
	case "first path segment in URL cannot contain colon":
		return colonFirst
	case "empty url":
		return emptyURL
	case "invalid URI for request":
		return notRequestURI
	}
	return notURL
}
