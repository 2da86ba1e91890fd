package sinks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
)

// The secrets of the tests below: none may appear in an error, a log line
// or the dead-letter file.
var secretParts = []string{
	"Hook5ecretHook5ecretHook", // a Slack webhook URL's key
	"SeCrEtToKeN",              // in a bot token
	"w3bh00kk3y",               // a webhook URL's query
	"hmac-5hared-key",          // an HMAC key
	"B3arerT0ken",              // an Authorization header
	"pa55w0rd",                 // a password in an API URL
	"hookuser:h00kPassw0rd",    // a webhook URL's userinfo, sent as Basic auth
	"h00kPassw0rd",             // its password alone
	"hookuser-named",           // a user name alone
}

// checkNoSecret looks for each secret as it is and in every encoding the
// sinks themselves produce: base64 (Basic auth) with and without padding,
// URL-safe, and query-escaped.
func checkNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range secretParts {
		for _, enc := range secretEncodings(s) {
			if strings.Contains(text, enc) {
				t.Errorf("%s shows secret %q as %q:\n%s", where, s, enc, text)
			}
		}
	}
}

func secretEncodings(s string) []string {
	return []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)), base64.URLEncoding.EncodeToString([]byte(s))}
}

// echoServer answers every request with 500 and everything it was sent:
// the URL, the headers and the body, as careless servers and proxies do.
func echoServer(t *testing.T, delay time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "cannot %s %s %v %s", r.Method, r.URL, r.Header, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// decodingEchoServer answers 401 quoting the Basic credentials it was
// sent, decoded, as some authentication proxies do.
func decodingEchoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "header %s: unknown user %s (password %s)", r.Header.Get("Authorization"), u, p)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSecretsNeverShown runs every sink against a server that echoes what
// it gets, one that is down and one that is too slow, directly and through
// a Dispatcher that logs and dead-letters, and looks for the secrets in
// every error, log line and dead letter.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	echo, slow := echoServer(t, 0), echoServer(t, 300*time.Millisecond)
	decoding := decodingEchoServer(t)
	down := "http://" + closedAddr(t)
	// Made here, not in the makers: the subtests run in parallel, after
	// this function has returned.
	unwritable, syslogDown := t.TempDir(), closedAddr(t)
	hook := func(base string) Secret { return Secret(base + "/services/T0001/B0001/Hook5ecretHook5ecretHook") }
	webhook := func(base string) WebhookOptions {
		return WebhookOptions{URL: Secret(base + "/ingest?key=w3bh00kk3y"), Secret: "hmac-5hared-key",
			Headers: map[string]string{"Authorization": "Bearer B3arerT0ken"}, Timeout: 100 * time.Millisecond}
	}
	bot := func(base string) SlackOptions {
		u := strings.Replace(base, "http://", "http://graceguard:pa55w0rd@", 1)
		return SlackOptions{Token: testToken, Channel: "C1", APIURL: u + "/api/", Timeout: 100 * time.Millisecond, Interval: time.Millisecond}
	}
	makers := []struct {
		name string
		make func() (Sink, error)
	}{
		{"slack webhook, echoing 500", func() (Sink, error) {
			return newSlack(SlackOptions{WebhookURL: hook(echo.URL), Interval: time.Millisecond})
		}},
		{"slack webhook, down", func() (Sink, error) {
			return newSlack(SlackOptions{WebhookURL: hook(down), Interval: time.Millisecond})
		}},
		{"slack webhook, timeout", func() (Sink, error) {
			return newSlack(SlackOptions{WebhookURL: hook(slow.URL), Timeout: 100 * time.Millisecond, Interval: time.Millisecond})
		}},
		{"slack webhook, bad URL", func() (Sink, error) {
			return newSlack(SlackOptions{WebhookURL: "https://hooks.slack.com/services/T0001/B0001/Hook5ecretHook5ecretHook\x7f"})
		}},
		{"slack bot, echoing 500", func() (Sink, error) { return newSlack(bot(echo.URL)) }},
		{"slack bot, down", func() (Sink, error) { return newSlack(bot(down)) }},
		{"slack bot, timeout", func() (Sink, error) { return newSlack(bot(slow.URL)) }},
		{"webhook, echoing 500", func() (Sink, error) { return newWebhook(webhook(echo.URL)) }},
		{"webhook with user:password, echoing 500", func() (Sink, error) {
			o := webhook(strings.Replace(decoding.URL, "http://", "http://hookuser:h00kPassw0rd@", 1))
			o.Headers = nil // net/http sends the userinfo as Basic auth
			return newWebhook(o)
		}},
		{"webhook with a user alone, echoing 500", func() (Sink, error) {
			o := webhook(strings.Replace(decoding.URL, "http://", "http://hookuser-named@", 1))
			o.Headers = nil // net/http sends the userinfo as Basic auth
			return newWebhook(o)
		}},
		{"webhook with a Basic header, echoing decoded", func() (Sink, error) {
			o := webhook(decoding.URL)
			o.Headers = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("hookuser:h00kPassw0rd"))}
			return newWebhook(o)
		}},
		{"webhook, down", func() (Sink, error) { return newWebhook(webhook(down)) }},
		{"webhook, timeout", func() (Sink, error) { return newWebhook(webhook(slow.URL)) }},
		{"webhook, bad URL", func() (Sink, error) {
			o := webhook(echo.URL)
			o.URL = "::/ingest?key=w3bh00kk3y"
			return newWebhook(o)
		}},
		// File and syslog hold no secrets; they are here so a secret
		// added to them later meets this test.
		{"file, unwritable", func() (Sink, error) {
			os.WriteFile(filepath.Join(unwritable, "a-file"), nil, 0o600) // where a directory should be
			return newFile(FileOptions{Path: filepath.Join(unwritable, "a-file", "alerts.jsonl")})
		}},
		{"syslog, down", func() (Sink, error) { return newSyslog(SyslogOptions{Network: "tcp", Address: syslogDown}) }},
	}
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			s, err := m.make()
			if err != nil {
				checkNoSecret(t, "constructor error", err.Error())
				checkNoSecret(t, "constructor error %+v", fmt.Sprintf("%+v %#v", err, err))
				return
			}
			err = s.Send(context.Background(), replayGroup())
			if err == nil {
				t.Fatal("the send should fail")
			}
			checkNoSecret(t, "error", err.Error())
			checkNoSecret(t, "error %+v", fmt.Sprintf("%+v %v", err, err))
			checkNoSecret(t, "sink name", fmt.Sprint(s))

			// Through a Dispatcher: its warning log and, once max age
			// passes, the dead letter with the last error.
			dir := t.TempDir()
			log, logs := newTestLogger()
			d, err := newDispatcher(DispatcherOptions{StateDir: dir, Logger: log},
				Route{Name: "s", Sink: s, Delivery: Delivery{BackoffMin: 10 * time.Millisecond, BackoffMax: 10 * time.Millisecond, MaxAge: 200 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			d.Send(context.Background(), []alert.Alert{replay()})
			testsync.WaitFor(t, "the dead letter", func() bool { return d.Stats()[0].DeadLettered == 1 })
			closeNow(t, d)
			if !strings.Contains(logs.String(), "will retry") {
				t.Errorf("no retry logged:\n%s", logs)
			}
			checkNoSecret(t, "log", logs.String())
			dead, _ := os.ReadFile(filepath.Join(dir, DeadLetterFile))
			if !strings.Contains(string(dead), `"error":"`) {
				t.Errorf("dead letter without its error: %s", dead)
			}
			checkNoSecret(t, "dead letter", string(dead))
			journal, _ := os.ReadFile(filepath.Join(dir, JournalFile))
			checkNoSecret(t, "journal", string(journal))
		})
	}
}

func TestConfigErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "hook")
	os.WriteFile(bad, []byte("hooks.slack.com/services/T0001/B0001/Hook5ecretHook5ecretHook\n"), 0o600)
	cfgs, err := parseConfig("c.yaml", []byte("sinks:\n  - type: slack\n    webhook_url_file: "+bad+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(cfgs, DispatcherOptions{})
	if err == nil {
		t.Fatal("a webhook URL without a scheme was accepted")
	}
	checkNoSecret(t, "Build error", err.Error())
	_, err = parseFlags(t, "--slack-webhook-url", "hooks.slack.com/services/T0001/B0001/Hook5ecretHook5ecretHook", "--slack-token", testToken).Configs(alert.Info)
	checkNoSecret(t, "flags error", err.Error())
	_, err = parseFlags(t, "--slack-webhook-url", "hooks.slack.com/services/T0001/B0001/Hook5ecretHook5ecretHook").Configs(alert.Info)
	checkNoSecret(t, "flags error", err.Error())
	slack := &SlackConfig{Token: testToken, WebhookURL: "https://hooks.slack.com/services/T0001/B0001/Hook5ecretHook5ecretHook"}
	checkNoSecret(t, "config", fmt.Sprintf("%+v %+v %#v", Config{Sink: slack}, *slack, *slack))
}

// Every *_file key reads its file by the rules of internal/secretfile:
// white space around the value dropped, an empty file or one past the cap
// refused with the key and the path named, the content never shown.
func TestSecretFileKeysRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := write("huge", "hmac-5hared-key"+strings.Repeat("k", 64<<10)+"hmac-5hared-key")
	blank := write("blank", " \r\n\t\n")
	for _, tt := range []struct {
		name string
		sink SinkConfig
		want string // the error after the origin
	}{
		{"secret_file past the cap", &WebhookConfig{URL: "https://x.example/", SecretFile: huge},
			"secret_file: " + huge + ": file is larger than 64 KiB, the most a secret file may hold"},
		{"header_files past the cap", &WebhookConfig{URL: "https://x.example/", HeaderFiles: map[string]string{"Authorization": huge}},
			"header_files.Authorization: " + huge + ": file is larger than 64 KiB, the most a secret file may hold"},
		{"token_file only white space", &SlackConfig{TokenFile: blank, Channel: "C1"}, "token_file: " + blank + ": file is empty"},
		{"webhook_url_file a directory", &SlackConfig{WebhookURLFile: dir}, "webhook_url_file: " + dir + ": not a regular file (a directory)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			typ := TypeWebhook
			if _, ok := tt.sink.(*SlackConfig); ok {
				typ = TypeSlack
			}
			_, err := Build([]Config{{Type: typ, Name: "s", Sink: tt.sink, Origin: "c.yaml:2:5: sinks[0]"}}, DispatcherOptions{})
			var ce *ConfigError
			if want := "c.yaml:2:5: sinks[0]: " + tt.want; !errors.As(err, &ce) || err.Error() != want {
				t.Fatalf("Build: %v; want the config error %q", err, want)
			}
			checkNoSecret(t, "Build error", err.Error())
		})
	}

	// Spaces and tabs around a token are dropped, as the newline is.
	srv := newSlackServer(t)
	token := write("token", " \t"+testToken+" \r\n")
	d, err := Build([]Config{{Type: TypeSlack, Name: "s", Sink: &SlackConfig{TokenFile: token, Channel: "C1", APIURL: srv.URL + "/api/"}, Origin: "o"}},
		DispatcherOptions{StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	sendReplayAndClose(t, d)
	if p := srv.list(); len(p) != 1 || p[0].Token != testToken {
		t.Errorf("posts %+v", p)
	}
}
