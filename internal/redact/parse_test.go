package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// secretForms are the ways a secret may show in a message: itself, escaped
// as a URL escapes it, and base64 as Basic auth sends it.
func secretForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(secret)), enc.EncodeToString([]byte("u:"+secret)))
	}
	return forms
}

// TestParseError feeds url.Parse the URLs an operator mistypes with a
// secret at each place a secret goes, and right at the byte that fails:
// the words must say what is wrong and hold no byte of the secret. Before,
// checkHTTPURL printed url.Parse's inner message, `invalid URL escape
// "%Ho"`, `invalid port ":Ho" after host`: the secret's first bytes.
func TestParseError(t *testing.T) {
	t.Parallel()
	const secret = "Ho0k5ecret"
	for _, tt := range []struct {
		name, raw, want string
	}{
		{"escape in the path", "https://hooks.example/services/T0/%" + secret, "an invalid %-escape"},
		{"escape after the secret", "https://hooks.example/services/T0/" + secret + "%zz", "an invalid %-escape"},
		{"escape in the password", "https://u:" + secret + "%zz@hooks.example/x", "an invalid %-escape"},
		{"escape in the host", "https://u:" + secret + "@ho%zzst/x", "an invalid %-escape"},
		{"escape in the fragment", "https://hooks.example/x#" + secret + "%zz", "an invalid %-escape"},
		{"port", "https://hooks.example:" + secret + "/x", "an invalid port"},
		{"password with a slash", "https://u:" + secret[:4] + "/" + secret[4:] + "@hooks.example/x", "an invalid port"},
		{"password with a hash", "redis://:" + secret + "#x@127.0.0.1:6379/0", "an invalid port"},
		{"password with a question mark", "redis://:" + secret + "?x@127.0.0.1:6379/0", "an invalid port"},
		{"host character", "https://ho^" + secret + "/x", "an invalid character in the host"},
		{"IP literal", "https://[" + secret + "]/x", "an invalid IP address"},
		{"open bracket", "https://[::1/" + secret, "an invalid IP address"},
		{"userinfo space", "https://u:pa ss" + secret + "@hooks.example/", "in the user name or password"},
		{"control character", "https://hooks.example/" + secret + "\n", "a control character"},
		{"no scheme", "://hooks.example/" + secret, "no scheme"},
		{"colon first", "1" + secret + ":x", "a colon in the first path segment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := url.Parse(tt.raw)
			if err == nil {
				t.Fatalf("url.Parse(%q) took it", tt.raw)
			}
			msg := ParseError(err).Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("ParseError = %q, want it to say %q", msg, tt.want)
			}
			for _, f := range append(secretForms(secret), secret[:2], secret[:3]) {
				if strings.Contains(msg, f) {
					t.Errorf("ParseError = %q holds %q of the secret", msg, f)
				}
			}
		})
	}
	if ParseError(nil) != nil {
		t.Error("ParseError(nil) is not nil")
	}
}

// TestURLUnparsablePassword: a password holding '#' or '?' unescaped makes
// url.Parse fail, and URL cut the string at that byte before looking for
// the userinfo's '@': "redis://:Ho0k5ecret#xxxxx" showed the password.
func TestURLUnparsablePassword(t *testing.T) {
	t.Parallel()
	const secret = "Ho0k5ecret"
	for _, tt := range []struct{ raw, want string }{
		{"redis://:" + secret + "#x@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"redis://:" + secret + "?x@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"https://u:" + secret + "#x@idp.example:bad/auth?token=" + secret, "https://xxxxx@idp.example:xxxxx/auth?xxxxx"},
		{"https://u:" + secret + "/x@idp.example/auth", "https://xxxxx@idp.example/auth"},
		// The "@host" forgotten: the password reads as a port.
		{"redis://default:" + secret, "redis://default:xxxxx"},
		// and a password holding a '/': its end reads as the path.
		{"redis://:" + secret + "/0", "redis://:xxxxx/xxxxx"},
		{"redis://default:pa/" + secret, "redis://default:xxxxx/xxxxx"},
		{"https://u:pa/" + secret, "https://u:xxxxx/xxxxx"},
		{"https://idp.example:" + secret + "/auth?x=1", "https://idp.example:xxxxx/xxxxx"},
		// The last '@' in a query value or fragment, not after a userinfo:
		// what follows it is the value's end.
		{"redis://127.0.0.1:63a9/0?password=pa@" + secret, "redis://xxxxx"},
		{"https://hook.example/%zz?token=abc@" + secret, "https://xxxxx"},
		{"https://hook.example:bad/x#frag@" + secret, "https://xxxxx"},
		{"https://hook.example:bad?token=x&sig=a@" + secret, "https://xxxxx"},
		{"https://[::1]:" + secret + "/auth", "https://[::1]:xxxxx/auth"},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got := URL(tt.raw)
			if got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			msg := Error(&url.Error{Op: "parse", URL: tt.raw, Err: url.EscapeError("%zz")}, tt.raw).Error()
			for _, f := range secretForms(secret) {
				if strings.Contains(got, f) || strings.Contains(msg, f) {
					t.Errorf("URL %q or Error %q holds %q", got, msg, f)
				}
			}
		})
	}
}

// FuzzParseError: whatever url.Parse refuses, the words ParseError gives
// are one of a fixed few, so they can hold no byte of the input.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example/services/T0/%Ho0k5ecret",
		"https://u:se/cret@host/x",
		"redis://:pa#ss@127.0.0.1:6379/0",
		"https://ho^st/x",
		"https://[::1%zz]/",
		"https://[1.2.3.4]/",
		"http://u:p\x7f@h/",
		":x",
	} {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, w := range []string{notURL, badEscape, badHostChar, badPort, badIPLiteral, noScheme, controlChar, badUserinfo, colonFirst, emptyURL, notRequestURI} {
		known[w] = true
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, parse := range []func(string) (*url.URL, error){url.Parse, url.ParseRequestURI} {
			_, err := parse(raw)
			if err == nil {
				continue
			}
			// A fixed vocabulary: the message of an input is the message of
			// its kind, whatever bytes it holds, so it holds none of them
			// (an input that is part of a phrase, "://)", is the phrase's).
			if msg := ParseError(err).Error(); !known[msg] {
				t.Errorf("ParseError(%v) = %q", err, msg)
			}
		}
	})
}

// FuzzUnparsableURL: of a URL url.Parse refuses, URL shows nothing of
// what lies between "://" and the last '@' (the userinfo, whatever '/',
// '?' or '#' it holds), nor a port that is no number.
func FuzzUnparsableURL(f *testing.F) {
	for _, s := range []string{
		"redis://:pa#ss@127.0.0.1:6379/0",
		"https://u:se/cret@idp.example/auth",
		"https://u:s%zz@h/",
		"redis://default:Ho0k5ecret",
		"https://[::1]:port/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.Parse(raw); err == nil {
			return
		}
		shown := URL(raw)
		start := strings.Index(raw, "://")
		at := strings.LastIndexByte(raw, '@')
		if start < 0 || at < start+len("://") {
			return
		}
		userinfo := raw[start+len("://") : at]
		rest := raw[:start+len("://")] + raw[at:]
		if len(userinfo) >= 4 && !strings.Contains(rest, userinfo) && !strings.Contains(Mask, userinfo) &&
			strings.Contains(shown, userinfo) {
			t.Errorf("URL(%q) = %q shows the userinfo %q", raw, shown, userinfo)
		}
	})
}
