package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// urlSecret stands for a webhook key or a password. Its first two bytes
// are looked for too: url.Parse quotes the two bytes after a bad '%', and
// what follows a colon up to a '/', '?' or '#'.
const urlSecret = "Zq9xK7wVp3"

func checkNoURLSecret(t *testing.T, where, text string) {
	t.Helper()
	forms := []string{urlSecret, urlSecret[:2], url.QueryEscape(urlSecret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(urlSecret)), enc.EncodeToString([]byte("u:"+urlSecret)))
	}
	for _, f := range forms {
		if strings.Contains(text, f) {
			t.Errorf("%s shows %q of the secret:\n%s", where, f, text)
		}
	}
}

// Every flag that takes a secret-bearing URL, given one url.Parse refuses
// with the secret in its key, password or query, or right at the byte at
// fault: the command exits 2 naming the flag (or the config key's
// FILE:LINE:COLUMN) and what is wrong, and shows no byte of the secret.
// Before, --slack-webhook-url https://hooks.slack.com/services/T0/B0/%XXX
// said `not a URL: invalid URL escape "%XX"`, and an --issuer or --state
// whose password held a '#' showed the password whole.
func TestURLFlagParseErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	const (
		escape = "an invalid %-escape"
		port   = "an invalid port after the host"
		host   = "an invalid character in the host"
	)
	urls := []struct{ name, raw, want string }{
		{"escape in the key", "https://hooks.slack.com/services/T0/B0/%" + urlSecret, escape},
		{"escape after the key", "https://hooks.slack.com/services/T0/B0/" + urlSecret + "%zz", escape},
		{"escape in the password", "https://u:" + urlSecret + "%zz@hooks.example/x", escape},
		{"escape after the query", "https://hooks.example/x?key=" + urlSecret + "#%zz", escape},
		{"password with a slash", "https://u:" + urlSecret[:5] + "/" + urlSecret[5:] + "@hooks.example/x", port},
		{"password with a hash", "https://u:" + urlSecret + "#@hooks.example/x?token=" + urlSecret, port},
		{"password with a question mark", "https://u:" + urlSecret + "?@hooks.example:443/x", port},
		{"port", "https://u:" + urlSecret + "@hooks.example:" + urlSecret + "x/y", port},
		{"host", "https://u:" + urlSecret + "@ho^st/x?token=" + urlSecret, host},
	}
	// The commands; URL is replaced by the URL under test, the want by
	// what the error starts with.
	commands := []struct {
		name  string
		args  []string
		start string
		// path-shown: the flag's URL is shown redacted with its path (an
		// issuer, a Redis address), whose bytes are no secret; skip the
		// cases whose secret is only in the path.
		pathShown bool
	}{
		{"watch slack", []string{"watch", "--state-dir", "", "--slack-webhook-url", "URL", "-"}, "graceguard: --slack-webhook-url: ", false},
		{"watch webhook", []string{"watch", "--state-dir", "", "--webhook-url", "URL", "-"}, "graceguard: --webhook-url: ", false},
		{"demo slack", []string{"demo", "--slack-webhook-url", "URL"}, "graceguard: --slack-webhook-url", false},
		{"watch state", []string{"watch", "--state-dir", "", "--state", "REDIS", "-"}, "graceguard: --state redis://", true},
		{"idp serve", []string{"idp", "serve", "--addr", "127.0.0.1:0", "--issuer", "URL"}, `graceguard: --issuer "https://`, true},
		{"idp login issuer", []string{"idp", "login", "--user", "a", "--password", "x", "--issuer", "URL"}, `graceguard: --issuer "https://`, true},
		{"idp login server", []string{"idp", "login", "--user", "a", "--password", "x", "--kubeconfig", "KUBECONFIG", "--server", "URL"}, `graceguard: --server "https://`, true},
		{"simulate", []string{"simulate", "--issuer", "URL"}, `graceguard: --issuer "https://`, true},
	}
	for _, c := range commands {
		for _, u := range urls {
			if c.pathShown && strings.HasPrefix(u.name, "escape in the key") || c.pathShown && u.name == "escape after the key" {
				continue
			}
			t.Run(c.name+"/"+u.name, func(t *testing.T) {
				t.Parallel()
				args := make([]string, len(c.args))
				for i, a := range c.args {
					a = strings.ReplaceAll(a, "KUBECONFIG", filepath.Join(t.TempDir(), "kubeconfig"))
					a = strings.ReplaceAll(a, "REDIS", strings.Replace(u.raw, "https://", "redis://", 1))
					args[i] = strings.ReplaceAll(a, "URL", u.raw)
				}
				stdout, stderr, code := run(t, nil, args...)
				if code != exitUsage || !strings.HasPrefix(stderr, c.start) || !strings.Contains(stderr, "not a URL: "+u.want) {
					t.Errorf("exit %d, stderr %q; want %d, %q and %q", code, stderr, exitUsage, c.start, u.want)
				}
				checkNoURLSecret(t, "stderr", stderr)
				checkNoURLSecret(t, "stdout", stdout)
			})
		}
	}
}

// The same URLs from the config file: the error names the file, line and
// column of the key, and no byte of the secret.
func TestURLConfigParseErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, key string
		args      []string
		raw, want string
	}{
		{"issuer", "issuer", []string{"simulate"}, "https://u:" + urlSecret + "#x@idp.example/auth", "an invalid port after the host"},
		{"issuer escape", "issuer", []string{"idp", "login", "--user", "a", "--password", "x"}, "https://u:" + urlSecret + "%zz@idp.example/auth", "an invalid %-escape"},
		{"state", "state", []string{"watch", "--state-dir", "", "-"}, "redis://:" + urlSecret[:4] + "/" + urlSecret[4:] + "@127.0.0.1:6379/0", "an invalid port after the host"},
		{"webhook", "webhook-url", []string{"watch", "--state-dir", "", "-"}, "https://siem.example/hooks/%" + urlSecret, "an invalid %-escape"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "graceguard.yaml")
			if err := os.WriteFile(path, []byte("# settings\n"+tt.key+": '"+tt.raw+"'\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{tt.args[0], "--config", path}, tt.args[1:]...)
			_, stderr, code := run(t, nil, args...)
			// The value's line and column: "KEY: '" before it.
			start := fmt.Sprintf("graceguard: %s:2:%d: %s", path, len(tt.key)+3, tt.key)
			if code != exitUsage || !strings.HasPrefix(stderr, start) || !strings.Contains(stderr, "not a URL: "+tt.want) {
				t.Errorf("exit %d, stderr %q; want %d, %q and %q", code, stderr, exitUsage, start, tt.want)
			}
			checkNoURLSecret(t, "stderr", stderr)
		})
	}
}
