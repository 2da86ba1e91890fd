package sinks

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Secret is a credential a sink holds: a webhook URL (whose path is the
// key), a bot token, an HMAC key. Every way of printing it (%v, %+v, %#v,
// slog, JSON, YAML) shows a redacted form, so dumping an options struct or
// logging a config cannot leak it; Reveal is the one way to the value.
type Secret string

// Reveal returns the secret itself, for the request that needs it.
func (s Secret) Reveal() string { return string(s) }

// String shows the secret redacted: scheme and host of a URL, the type
// prefix of a Slack token, "…" otherwise.
func (s Secret) String() string { return redact(string(s)) }

// GoString keeps %#v redacted too.
func (s Secret) GoString() string { return `sinks.Secret("` + s.String() + `")` }

// LogValue keeps slog redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps encoders (JSON, YAML) redacted.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

const ellipsis = "…"

// redact shows enough of a secret to tell which one is meant, never its
// key part: "https://hooks.slack.com/…", "xoxb-…".
func redact(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Scheme + "://" + u.Hostname() + portSuffix(u) + "/" + ellipsis
	}
	if strings.HasPrefix(s, "xox") {
		if i := strings.IndexByte(s, '-'); i > 0 && i <= 5 {
			return s[:i+1] + ellipsis
		}
	}
	return ellipsis
}

func portSuffix(u *url.URL) string {
	if p := u.Port(); p != "" {
		return ":" + p
	}
	return ""
}

// scrubber removes known secrets from text. A URL secret also contributes
// its parts (path, query, password, long path segments), because servers
// and libraries quote them separately: a 404 body naming the path, a
// parse error quoting the query.
type scrubber struct {
	secrets []string // longest first, so a URL goes before its path
}

func newScrubber(secrets ...string) *scrubber {
	s := &scrubber{}
	for _, v := range secrets {
		s.add(v)
	}
	return s
}

func (s *scrubber) add(secret string) {
	if secret == "" {
		return
	}
	parts := []string{secret, url.QueryEscape(secret), strings.TrimSpace(secret)}
	if u, err := url.Parse(secret); err == nil && u.Host != "" {
		parts = append(parts, u.Path, u.EscapedPath(), u.RawQuery, u.Fragment)
		if u.User != nil {
			// net/http sends userinfo as Basic auth, base64 of "user:password"
			// (or "user:"), which a receiver may echo in its error.
			p, _ := u.User.Password()
			parts = append(parts, credentialForms(u.User.Username(), p)...)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= 8 {
				parts = append(parts, seg)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 4 {
					parts = append(parts, v)
				}
			}
		}
	}
	parts = append(parts, authHeaderForms(secret)...)
	for _, p := range parts {
		if len(p) >= 4 && p != "/" {
			s.secrets = append(s.secrets, p)
		}
	}
	// Longest first: replacing a path before the URL holding it would leave
	// the URL unrecognisable and its host-less remainder in the text.
	slices.SortFunc(s.secrets, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	s.secrets = slices.Compact(s.secrets)
}

// credentialForms are a user name and password as they may be echoed: each
// alone, "user:password", and the base64 of each of those in every variant a
// receiver may print (padded or not, standard or URL-safe).
func credentialForms(user, password string) []string {
	plain := []string{user, password, user + ":" + password, user + ":"}
	out := slices.Clone(plain)
	for _, p := range plain {
		if p == "" || p == ":" {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString([]byte(p)))
		}
	}
	return out
}

// authHeaderForms are the parts of an Authorization header value a
// receiver may quote: a bearer token without its scheme, and Basic
// credentials decoded.
func authHeaderForms(v string) []string {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil
	}
	cred = strings.TrimSpace(cred)
	out := []string{cred}
	if strings.EqualFold(scheme, "basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			user, password, _ := strings.Cut(string(raw), ":")
			out = append(out, credentialForms(user, password)...)
		}
	}
	return out
}

func (s *scrubber) scrub(text string) string {
	if s == nil {
		return text
	}
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, redact(v))
		}
	}
	return text
}

// wrap returns err with every secret scrubbed from its message. The chain
// stays reachable through Unwrap so retry classification (errors.As on
// status and network errors) still works; anything that prints the error
// prints the scrubbed message.
func (s *scrubber) wrap(err error) error {
	if err == nil || s == nil || len(s.secrets) == 0 {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		// url.Error quotes its URL with %q, which may escape characters and
		// so hide the secret from a plain string match.
		ue.URL = s.scrub(ue.URL)
	}
	return &scrubbedError{msg: s.scrub(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
