// Package redact shows URLs and errors with their secrets masked: the
// password of the userinfo (or its user name when it has no password),
// query values (go-redis, proxies and some IdPs
// take credentials there) and the fragment. sinks redacts its own URLs more
// (the path of a webhook is its key); this is for URLs whose host and path
// the operator needs to see, such as an issuer or a Redis address.
package redact

import (
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Mask stands for a secret. It is what url.URL.Redacted writes, so that
// both read alike in one log.
const Mask = "xxxxx"

// URL returns raw with its password (a lone user name), fragment and query
// values masked.
// Only the values of the query keys in public are shown: a key nobody
// declared may be a credential (password=, token=, sig=), so it is masked
// rather than guessed at. A raw that does not parse is masked from its
// userinfo and from its query on, since its parts cannot be told apart.
func URL(raw string, public ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return unparsable(raw)
	}
	return mask(u, public).String()
}

func mask(u *url.URL, public []string) *url.URL {
	m := *u
	if p, ok := u.User.Password(); ok && p != "" {
		m.User = url.UserPassword(u.User.Username(), Mask)
	} else if !ok && u.User.Username() != "" {
		// A user name alone is as often a token (https://TOKEN@host,
		// redis-cli's redis://PASSWORD@host) as a name: masked too.
		m.User = url.User(Mask)
	}
	if u.Opaque != "" {
		// Without "//", "user:password@host" parses with the password in
		// Opaque, and so does "user:password" with "@host" forgotten too
		// (the user taken for the scheme): no URL this package shows is
		// opaque otherwise.
		m.Opaque = Mask
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			// No port: with "@host" forgotten (redis://default:PASSWORD),
			// an all-digit password parses as one.
			m.Host = strings.TrimSuffix(u.Host, p) + Mask
		}
	}
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		for i, pair := range pairs {
			k, v, hasValue := strings.Cut(pair, "=")
			if !hasValue {
				// A bare "?abc123" is a value without a key: a token, often.
				if pair != "" {
					pairs[i] = Mask
				}
				continue
			}
			if key, err := url.QueryUnescape(k); err == nil && slices.Contains(public, key) {
				continue
			}
			if v != "" {
				pairs[i] = k + "=" + Mask
			}
		}
		m.RawQuery = strings.Join(pairs, "&")
	}
	if u.Fragment != "" {
		m.Fragment, m.RawFragment = Mask, ""
	}
	return &m
}

// unparsable masks the userinfo and what follows "?" or "#" of a string
// url.Parse refused (a bad port or escape), which may still be a URL with
// a password; the scheme and host stay, to say which URL it was. The
// userinfo runs to the last '@' of the whole string, not only of what
// comes before a "/", "?" or "#": a password holding one of those
// unescaped ("redis://:pa#ss@host") is what made url.Parse fail, and cut
// at it first, the password was shown whole. When what lies before that
// '@' may as well be a host, a path and a query or fragment holding the
// '@' ("https://h/%zz?token=a@b": a '/' before the "?" or "#", or a '='
// or '&' after it), what follows the '@' may be the rest of a query value
// and is masked too: shown as a host, it showed the value's end.
func unparsable(raw string) string {
	s, head := raw, ""
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		start := 0
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			start = j + len("://")
		}
		if mayBeQuery(s[start:i]) {
			return s[:start] + Mask
		}
		head, s = s[:start]+Mask, s[i:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i+1] + Mask
	}
	return head + maskBadPort(s, head == "")
}

// mayBeQuery reports whether what lies between "://" and the last '@' of
// a string url.Parse refused may be a host and path followed by a query or
// fragment, rather than a userinfo whose password holds a '?' or '#'.
func mayBeQuery(s string) bool {
	q := strings.IndexAny(s, "?#")
	return q >= 0 && (strings.Contains(s[:q], "/") || strings.ContainsAny(s[q:], "=&"))
}

// maskBadPort masks a port that is no number in s, a URL's host and what
// follows, or "@" and them: "redis://default:PASSWORD" (the "@host"
// forgotten) reads as host default, port PASSWORD. A number is shown.
// With noUserinfo (no '@' came before: the "@host" may be what was
// forgotten), the path after such a port is masked too: a password
// holding a '/' ("redis://default:pa/ss") reads as port and path, and its
// end was shown as the path. A host in brackets is no user name.
func maskBadPort(s string, noUserinfo bool) string {
	prefix := ""
	if j := strings.Index(s, "://"); j >= 0 {
		prefix, s = s[:j+len("://")], s[j+len("://"):]
	}
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	host := s[:end]
	colon := strings.LastIndexByte(host, ':')
	if colon < 0 || colon < strings.LastIndexByte(host, ']') {
		return prefix + s
	}
	port := host[colon+1:]
	if strings.Trim(port, "0123456789") == "" {
		return prefix + s
	}
	if noUserinfo && end < len(s) && !strings.HasSuffix(host[:colon], "]") {
		return prefix + host[:colon+1] + Mask + s[end:end+1] + Mask
	}
	return prefix + host[:colon+1] + Mask + s[end:]
}

// minScrub is the shortest secret scrubbed from free text: a shorter one
// cannot be told from the words around it, and replacing every "ab" would
// garble the message. A URL's own secrets, whatever their length, are
// masked structurally where a *url.Error carries the URL.
const minScrub = 4

// Error returns err with the secrets of the URL raw masked in its message,
// raw being the URL err came from (its request, or the string that failed
// to parse). A *url.Error in the chain gets its URL masked too, because
// net/http and url.Parse quote the URL with %q and code reaching it with
// errors.As would print it again. The chain stays reachable through
// Unwrap, so errors.Is and errors.As still classify the failure.
func Error(err error, raw string, public ...string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		ue.URL = URL(ue.URL, public...)
	}
	return &redacted{msg: replacer(raw, public).Replace(err.Error()), err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// replacer replaces raw with its masked form and each of its secrets with
// Mask, as a message may hold them: decoded, escaped as in a URL, quoted by
// %q and, for the userinfo, as the base64 of the Basic auth net/http sends
// from it. Longer strings go first, so a secret is masked before a shorter
// one inside it would break it up.
func replacer(raw string, public []string) *strings.Replacer {
	shown := URL(raw, public...)
	pairs := [][2]string{{raw, shown}, {quoted(raw), quoted(shown)}, {url.QueryEscape(raw), Mask}}
	for _, s := range secrets(raw, public) {
		for _, f := range []string{s, url.QueryEscape(s), url.PathEscape(s), quoted(s)} {
			pairs = append(pairs, [2]string{f, Mask})
		}
	}
	pairs = slices.DeleteFunc(pairs, func(p [2]string) bool { return len(p[0]) < minScrub || p[0] == p[1] })
	slices.SortStableFunc(pairs, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...)
}

// quoted is s as %q writes it inside the quotes.
func quoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// secrets are the parts of raw that URL masks, with the Basic auth
// credentials of its userinfo.
func secrets(raw string, public []string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		// Without a parse, what lies between "://" and the last "@" is the
		// userinfo, and what follows "?" is the query.
		var out []string
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			userinfo := raw[:i]
			if j := strings.Index(userinfo, "://"); j >= 0 {
				userinfo = userinfo[j+len("://"):]
			}
			// The password, or a user name alone (often a token: URL masks
			// the whole userinfo alike).
			name, p, hasPassword := strings.Cut(userinfo, ":")
			if !hasPassword {
				p = name
			}
			out = append(out, p)
		}
		if _, q, ok := strings.Cut(raw, "?"); ok {
			out = append(out, q)
		}
		for _, s := range out {
			if plain, err := url.PathUnescape(s); err == nil && plain != s {
				out = append(out, plain)
			}
		}
		return out
	}
	var out []string
	if p, ok := u.User.Password(); ok || u.User.Username() != "" {
		// net/http sends a lone user name as Basic auth with an empty
		// password: "name:" encoded.
		basic := u.User.Username() + ":" + p
		if ok {
			out = append(out, p)
		} else {
			out = append(out, u.User.Username())
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			out = append(out, enc.EncodeToString([]byte(basic)))
		}
	}
	for _, pair := range strings.Split(u.RawQuery, "&") {
		k, v, hasValue := strings.Cut(pair, "=")
		if !hasValue {
			v = k
		} else if key, err := url.QueryUnescape(k); err == nil && slices.Contains(public, key) {
			continue
		}
		if plain, err := url.QueryUnescape(v); err == nil {
			out = append(out, plain)
		}
		out = append(out, v)
	}
	if strings.Contains(u.Opaque, "@") {
		out = append(out, u.Opaque)
	}
	return append(out, u.Fragment)
}
