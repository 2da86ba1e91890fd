package sinks

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
)

// urlSecret stands for a webhook key or password. Its first two bytes are
// checked too: url.Parse quotes the two bytes after a bad '%' and the
// bytes between a colon and the next '/'.
const urlSecret = "Zq9xK7wVp3"

// badSecretURLs are webhook URLs url.Parse refuses, with the secret in
// each place a secret goes and right at the byte at fault, and what the
// error must say instead of quoting it.
var badSecretURLs = []struct{ name, raw, want string }{
	{"escape in the key", "https://hooks.slack.com/services/T0/B0/%" + urlSecret, "an invalid %-escape"},
	{"escape after the key", "https://hooks.slack.com/services/T0/B0/" + urlSecret + "%zz", "an invalid %-escape"},
	{"escape in the password", "https://hook:" + urlSecret + "%zz@siem.example/in", "an invalid %-escape"},
	{"escape in the fragment", "https://siem.example/in?key=" + urlSecret + "#%zz", "an invalid %-escape"},
	{"port", "https://hook:" + urlSecret + "@siem.example:" + urlSecret + "/in", "an invalid port"},
	{"password with a slash", "https://hook:" + urlSecret[:5] + "/" + urlSecret[5:] + "@siem.example/in", "an invalid port"},
	{"password with a hash", "https://hook:" + urlSecret + "#@siem.example/in?key=" + urlSecret, "an invalid port"},
	{"host", "https://siem^" + urlSecret + ".example/in", "an invalid character in the host"},
}

func checkNoURLSecret(t *testing.T, where, text string) {
	t.Helper()
	forms := []string{urlSecret, urlSecret[:2], url.QueryEscape(urlSecret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(urlSecret)), enc.EncodeToString([]byte("hook:"+urlSecret)))
	}
	for _, f := range forms {
		if strings.Contains(text, f) {
			t.Errorf("%s shows %q of the secret: %s", where, f, text)
		}
	}
}

// TestURLParseErrorsHideSecrets: a webhook URL url.Parse refuses was
// refused with url.Parse's inner message, `not a URL: invalid URL escape
// "%Zq"`, `invalid port ":Zq9xK" after host`: bytes of the key or
// password. Every way a webhook URL comes in (the sinks' options, a
// sinks: entry's url: or url_file, the flags) must say what is wrong and
// where without them.
func TestURLParseErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	for _, tt := range badSecretURLs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := url.Parse(tt.raw); err == nil {
				t.Fatalf("url.Parse took %q", tt.raw)
			}
			check := func(where string, err error, place string) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: accepted", where)
				}
				msg := err.Error()
				if !strings.Contains(msg, "not a URL: "+tt.want) || !strings.Contains(msg, place) {
					t.Errorf("%s: %q, want %q at %q", where, msg, tt.want, place)
				}
				checkNoURLSecret(t, where, msg)
			}
			_, err := newSlack(SlackOptions{WebhookURL: Secret(tt.raw)})
			check("newSlack", err, "slack: webhook URL")
			_, err = newWebhook(WebhookOptions{URL: Secret(tt.raw)})
			check("newWebhook", err, "webhook: URL")

			_, err = parseConfig("c.yaml", []byte("sinks:\n  - type: webhook\n    url: '"+tt.raw+"'\n"))
			check("url:", err, "c.yaml:2:5: sinks[0]: url …: ")

			file := filepath.Join(t.TempDir(), "hook")
			if err := os.WriteFile(file, []byte(tt.raw+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"slack\n    webhook_url_file: ", "webhook\n    url_file: "} {
				cfgs, err := parseConfig("c.yaml", []byte("sinks:\n  - type: "+typ+file+"\n"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = Build(cfgs, DispatcherOptions{})
				check("file", err, "c.yaml:2:5: sinks[0]")
			}

			for _, flag := range []string{"--webhook-url", "--slack-webhook-url"} {
				cfgs, err := parseFlags(t, flag, tt.raw).Configs(alert.Info)
				if err == nil {
					_, err = Build(cfgs, DispatcherOptions{})
				}
				check(flag, err, flag+": ")
			}
		})
	}
}
