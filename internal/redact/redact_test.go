package redact

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		raw    string
		public []string
		want   string
	}{
		{"http://127.0.0.1:8443/auth/idp/k8sIdp", nil, "http://127.0.0.1:8443/auth/idp/k8sIdp"},
		{"http://u:hunter2@127.0.0.1:1/auth", nil, "http://u:xxxxx@127.0.0.1:1/auth"},
		{"http://ghp_t0k3n@127.0.0.1:1/auth", nil, "http://xxxxx@127.0.0.1:1/auth"},
		{"http://u:@127.0.0.1:1/auth", nil, "http://u:@127.0.0.1:1/auth"},
		{"redis://127.0.0.1:1/0?password=secretpass", nil, "redis://127.0.0.1:1/0?password=xxxxx"},
		{"redis://127.0.0.1:1/0?dial_timeout=3&password=secretpass", []string{"dial_timeout"}, "redis://127.0.0.1:1/0?dial_timeout=3&password=xxxxx"},
		{"redis://127.0.0.1:1/0?db=2&tok%65n=s3cr3t", []string{"db"}, "redis://127.0.0.1:1/0?db=2&tok%65n=xxxxx"},
		{"http://h/p?abc123secret", nil, "http://h/p?xxxxx"},
		{"http://h/p?a=&b", []string{"b"}, "http://h/p?a=&xxxxx"},
		{"http://h/p#access_token=s3cr3t", nil, "http://h/p#xxxxx"},
		{"redis:hunter2@127.0.0.1", nil, "redis:xxxxx"},
		// With "//" and "@host" both forgotten, what follows the scheme
		// (or a user name taken for it) is the password: url.Parse calls
		// it opaque, and an opaque part is masked whole.
		{"default:hunter2", nil, "default:xxxxx"},
		{"redis:hunter2", nil, "redis:xxxxx"},
		// "@host" forgotten, an all-digit password parses as a port: one
		// no port can be is masked (a password that could be one cannot
		// be told from it).
		{"redis://default:1234567/0", nil, "redis://default:xxxxx/0"},
		{"redis://default:6379/0", nil, "redis://default:6379/0"},
		// url.Parse refuses these; the password and query must still go,
		// and a port that is no number, which may be a password whose
		// "@host" was forgotten (redis://default:PASSWORD).
		{"http://u:hunter2@127.0.0.1:bad/auth", nil, "http://xxxxx@127.0.0.1:xxxxx/auth"},
		// With no '@', the host and port may be a user and a password
		// holding a '/': what follows is masked too.
		{"http://127.0.0.1:bad/auth?token=s3cr3t", nil, "http://127.0.0.1:xxxxx/xxxxx"},
		{"%zz?token=s3cr3t", nil, "%zz?xxxxx"},
		{"", nil, ""},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			if got := URL(tt.raw, tt.public...); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

// TestError checks the errors net/http and url.Parse return for a URL with
// secrets, and wrapped ones whose message was formatted before Error saw
// them: no form of a secret may survive, and the chain must still classify.
func TestError(t *testing.T) {
	t.Parallel()
	httpErr := func(raw string) func() error {
		return func() error {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, raw, nil)
			if err != nil {
				return err
			}
			_, err = (&http.Client{}).Do(req)
			return err
		}
	}
	for _, tt := range []struct {
		name    string
		raw     string
		secrets []string
		err     func() error
		is      error
	}{
		{"dial with userinfo and query", "http://u:hunter2@127.0.0.1:1/auth?token=s3cr3tTok", []string{"hunter2", "s3cr3tTok"},
			httpErr("http://u:hunter2@127.0.0.1:1/auth?token=s3cr3tTok"), syscall.ECONNREFUSED},
		{"escaped query value", "http://127.0.0.1:1/auth?token=a%2Fb%20c%22d", []string{"a/b c\"d", "a%2Fb%20c%22d", `a/b c\"d`},
			httpErr("http://127.0.0.1:1/auth?token=a%2Fb%20c%22d"), syscall.ECONNREFUSED},
		{"unparsable with password", "http://u:hunter2@127.0.0.1:bad/auth", []string{"hunter2"},
			httpErr("http://u:hunter2@127.0.0.1:bad/auth"), nil},
		{"unparsable with a lone user name, quoted apart", "http://ghp_t0k3n@127.0.0.1:bad/auth", []string{"ghp_t0k3n"},
			func() error {
				return fmt.Errorf("redis at %q: %w", "ghp_t0k3n@127.0.0.1:bad", parseErr("http://ghp_t0k3n@127.0.0.1:bad/auth"))
			}, nil},
		{"dial with a lone user name", "http://ghp_t0k3n@127.0.0.1:1/auth", []string{"ghp_t0k3n", base64.StdEncoding.EncodeToString([]byte("ghp_t0k3n:"))},
			func() error {
				return fmt.Errorf("basic %s: %w", base64.StdEncoding.EncodeToString([]byte("ghp_t0k3n:")), httpErr("http://ghp_t0k3n@127.0.0.1:1/auth")())
			}, syscall.ECONNREFUSED},
		{"wrapped before redaction", "http://u:hunter2@127.0.0.1:1/auth", []string{"hunter2", base64.StdEncoding.EncodeToString([]byte("u:hunter2"))},
			func() error {
				return fmt.Errorf("discover %s: basic %s: %w", "http://u:hunter2@127.0.0.1:1/auth",
					base64.StdEncoding.EncodeToString([]byte("u:hunter2")), httpErr("http://u:hunter2@127.0.0.1:1/auth")())
			}, syscall.ECONNREFUSED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Error(tt.err(), tt.raw)
			if err == nil {
				t.Fatal("Error returned nil for an error")
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Fatalf("%v: the *url.Error is no longer in the chain", err)
			}
			for _, shown := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), ue.Error(), ue.URL} {
				for _, s := range tt.secrets {
					if strings.Contains(shown, s) || strings.Contains(shown, url.QueryEscape(s)) {
						t.Errorf("%q shows secret %q", shown, s)
					}
				}
			}
			if !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("%v: the host is gone too; the operator needs it", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v: errors.Is(%v) = false", err, tt.is)
			}
		})
	}
	if Error(nil, "http://u:p@h/") != nil {
		t.Error("Error(nil) is not nil")
	}
}

// parseErr is url.Parse's error for raw, a URL it refuses on purpose.
func parseErr(raw string) error {
	_, err := url.Parse(raw)
	return err
}
