package correlate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Refusal tells Redis's answers that will not change by themselves from
// failures to reach it, whatever wraps them; a network error whose text
// happens to hold Redis's words (a host named so) is still a network error.
func TestRefusal(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("redis 10.0.0.1:6379: load the history script: %w", err) }
	dial := func(host string, err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 6379}, Err: &net.DNSError{Err: err.Error(), Name: host}}
	}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"wrong password", wrap(replyError("WRONGPASS invalid username-password pair or user is disabled.")), "Redis refused the credentials"},
		{"no password", wrap(replyError("NOAUTH Authentication required.")), "Redis refused the credentials"},
		{"a password where none is set", wrap(replyError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")), "Redis refused the credentials"},
		{"ACL of a command", wrap(replyError("NOPERM this user has no permissions to run the 'evalsha' command")), "Redis refused a command (ACL)"},
		{"ACL in a script, Redis 7.0", wrap(replyError("ERR The user executing the script can't run this command or subcommand script: 104a, on @user_script:1.")), "Redis refused a command (ACL)"},
		{"ACL in a script, Redis 7.2", wrap(replyError("ERR ACL failure in script: User gg has no permissions to run the 'zadd' command script: 8a2f, on @user_script:4.")), "Redis refused a command (ACL)"},
		{"ACL found by Check", wrap(&aclError{command: "ZADD", key: "graceguard:h2:acl-check"}), "Redis refused a command (ACL)"},
		{"database", wrap(replyError("ERR DB index is out of range")), "Redis refused the database number"},
		{"certificate", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "the server's certificate is not trusted"},
		{"host name", wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "redis"}), "the server's certificate is not trusted"},
		{"TLS to a plain server", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "the server does not speak TLS"},

		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), ""},
		{"connection reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), ""},
		{"closed", wrap(io.EOF), ""},
		{"timeout", wrap(context.DeadlineExceeded), ""},
		{"no such host", wrap(dial("redis.invalid", errors.New("no such host"))), ""},
		{"a host named like a refusal", wrap(dial("noperm-unauthenticated.invalid", errors.New("NOPERM unauthenticated"))), ""},
		{"out of memory", wrap(replyError("OOM command not allowed when used memory > 'maxmemory'.")), ""},
		{"read-only replica", wrap(replyError("READONLY You can't write against a read only replica.")), ""},
		{"loading", wrap(replyError("LOADING Redis is loading the dataset in memory")), ""},
		{"nil", nil, ""},
	} {
		if got := Refusal(tt.err); got != tt.want {
			t.Errorf("%s: Refusal(%v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

// Check asks Redis about every command the store's scripts call: one
// missing from scriptCommands would pass an ACL without it at start and
// fail the first event that needs it.
func TestScriptCommandsAreChecked(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.lua")
	if err != nil {
		t.Fatal(err)
	}
	gos, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`redis\.p?call\(\s*['"]([A-Za-z]+)['"]`)
	seen := map[string]bool{}
	for _, f := range append(files, gos...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range calls.FindAllStringSubmatch(string(data), -1) {
			seen[strings.ToUpper(m[1])] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("found only %v in the scripts: the pattern no longer matches how they call Redis", seen)
	}
	for name := range seen {
		if _, ok := scriptCommands[name]; !ok {
			t.Errorf("the scripts call %s, which Check does not ask the ACL about (scriptCommands)", name)
		}
	}
}
