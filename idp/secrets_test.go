package idp

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// secretForms are the ways a secret can leak: as typed, URL-escaped, and as
// the base64 of the Basic auth net/http makes of a URL's userinfo.
func secretForms(secret string) []string {
	return []string{secret, url.QueryEscape(secret), url.PathEscape(secret),
		base64.StdEncoding.EncodeToString([]byte("u:" + secret)), base64.RawURLEncoding.EncodeToString([]byte("u:" + secret))}
}

// checkNoSecret fails when any form of a secret is in text.
func checkNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, f := range secretForms(s) {
			if strings.Contains(text, f) {
				t.Errorf("%s shows %q: %s", what, f, text)
			}
		}
	}
}

// An issuer or a token endpoint may carry a password or a query; whatever
// fails on the way (no parse, no answer, an answer that is not JSON), the
// error must name the IdP without them.
func TestClientErrorsHideURLSecrets(t *testing.T) {
	t.Parallel()
	discovery := func(body string, status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return strings.Replace(srv.URL, "http://", "http://u:hunter2@", 1) + "/auth?token=s3cr3tTok"
	}
	for _, tt := range []struct {
		name   string
		issuer func() string
		login  bool // fail at the token request, not at discovery
	}{
		{"unreachable", func() string { return "http://u:hunter2@127.0.0.1:1/auth?token=s3cr3tTok" }, false},
		{"unparsable", func() string { return "http://u:hunter2@127.0.0.1:bad/auth?token=s3cr3tTok" }, false},
		{"HTTP error", func() string { return discovery("", http.StatusNotFound) }, false},
		{"not JSON", func() string { return discovery("<html>", http.StatusOK) }, false},
		{"no token endpoint", func() string { return discovery("{}", http.StatusOK) }, false},
		{"token endpoint unreachable", func() string {
			return discovery(`{"token_endpoint":"http://u:hunter2@127.0.0.1:1/token?token=s3cr3tTok"}`, http.StatusOK)
		}, true},
		{"token endpoint unparsable", func() string {
			return discovery(`{"token_endpoint":"http://u:hunter2@127.0.0.1:bad/token?token=s3cr3tTok"}`, http.StatusOK)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, err := NewClient(ctx, tt.issuer(), ClientOptions{Timeout: 5 * time.Second})
			if tt.login {
				if err != nil {
					t.Fatalf("discovery: %v", err)
				}
				_, err = c.Login(ctx, netip.Addr{}, "mmosley", "start123")
			}
			if err == nil {
				t.Fatal("no error")
			}
			checkNoSecret(t, "error", fmt.Sprintf("%v %+v", err, err), "hunter2", "s3cr3tTok")
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error %q does not name the IdP", err)
			}
		})
	}
}

// The rest of the package's messages that quote a URL: bad configuration
// and the truth file's header.
func TestMessagesHideURLSecrets(t *testing.T) {
	t.Parallel()
	const pw, tok = "hunter2", "s3cr3tTok"
	toks := Tokens{IDToken: "a", RefreshToken: "b"}
	for _, tt := range []struct {
		name string
		run  func() string
	}{
		{"idp issuer with a query", func() string {
			_, err := New(Config{Issuer: "http://u:" + pw + "@x/auth?token=" + tok, SigningKey: testKey(), Diag: quietLogger()})
			return fmt.Sprint(err)
		}},
		{"idp issuer unparsable", func() string {
			_, err := New(Config{Issuer: "http://u:" + pw + "@x:bad/auth?token=" + tok, SigningKey: testKey(), Diag: quietLogger()})
			return fmt.Sprint(err)
		}},
		{"proxy upstream", func() string {
			_, err := NewProxy(ProxyConfig{Upstream: "ftp://u:" + pw + "@x/?token=" + tok})
			return fmt.Sprint(err)
		}},
		{"kubeconfig http server", func() string {
			_, err := WriteKubeconfig(KubeconfigOptions{Path: t.TempDir() + "/config", Issuer: "http://x/auth", Tokens: toks,
				Server: "http://u:" + pw + "@127.0.0.1:6443/?token=" + tok})
			return fmt.Sprint(err)
		}},
		{"kubeconfig unparsable issuer", func() string {
			_, err := WriteKubeconfig(KubeconfigOptions{Path: t.TempDir() + "/config", Issuer: "http://u:" + pw + "@x:bad/?token=" + tok, Tokens: toks})
			return fmt.Sprint(err)
		}},
		{"truth file", func() string {
			var b bytes.Buffer
			tw := newTruthWriter(&b)
			tw.begin(SimConfig{Issuer: "http://u:" + pw + "@127.0.0.1:1/auth?token=" + tok})
			if err := tw.finish(SimReport{}); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.run()
			if got == "" || got == "<nil>" {
				t.Fatal("nothing reported")
			}
			checkNoSecret(t, "message", got, pw, tok)
		})
	}
}
