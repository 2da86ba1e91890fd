package redact

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// URL reads whatever a flag or a config file holds: it never panics, and
// of a URL that parses with a password, what it shows parses to the same
// host with the password masked, and holds no query value but Mask. Error
// never shows that password either, whatever message quotes the URL.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"redis://u:hunter2@127.0.0.1:6379/0?password=secretpass",
		"http://u:p%40ss@[::1]:8080/auth/idp/k8sIdp?token=abc#frag",
		"rediss://:s3cr3t@host/1?dial_timeout=3s",
		"http://user@host/path@with@at",
		"u:pw@host",
		"http://[::1%zone]:x/",
		"%zz://a:b@c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		shown := URL(raw, "dial_timeout")
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		p, ok := u.User.Password()
		if !ok || len(p) < minScrub || strings.Contains(Mask, p) {
			return
		}
		m, err := url.Parse(shown)
		if err != nil {
			t.Fatalf("URL(%q) = %q, which does not parse: %v", raw, shown, err)
		}
		if got, _ := m.User.Password(); got != Mask || m.Host != u.Host {
			t.Errorf("URL(%q) = %q: password %q, host %q; want %q and %q", raw, shown, got, m.Host, Mask, u.Host)
		}
		// Where the password is found nowhere else in the URL (the user
		// name, which is shown, the host, the path), the message must not
		// hold it at all.
		elsewhere := strings.Contains(strings.Replace(raw, u.User.String()+"@", "@", 1), p) ||
			strings.Contains(strings.Replace(shown, m.User.String()+"@", "@", 1), p) ||
			strings.Contains(u.User.Username(), p) || strings.Contains("dial : refused"+Mask, p)
		if msg := Error(errors.New("dial "+raw+": refused"), raw).Error(); !elsewhere && strings.Contains(msg, p) {
			t.Errorf("Error shows the password %q: %s", p, msg)
		}
	})
}
