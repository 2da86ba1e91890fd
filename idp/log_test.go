package idp

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The lines of openunison-logs.md, verbatim.
const (
	docExpiredLine   = "[2022-12-24 00:34:56,424][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - Expired token used within grace period [10.1.67.56] - [f9b20cfb111e9d922865823e502ddb0585c7b1bb2]\n"
	docAzSuccessLine = "[2024-01-16 03:18:22,254][XNIO-1 task-4] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f763bbd1a1c474929d91bfe89a2fd8e5f5b49a1d5]\n"
)

func TestLoggerWritesDocumentedLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		at     time.Time
		thread string
		line   func() logLine
		want   string
	}{
		{
			name:   "ExpiredRefreshTokenUsed",
			at:     time.Date(2022, 12, 24, 0, 34, 56, 424_000_000, time.UTC),
			thread: "XNIO-1 task-1",
			line: func() logLine {
				return logLine{level: levelInfo, logger: loggerOIDC, msg: expiredMessage(
					"https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token", "uid=mmosley,ou=shadow,o=Tremolo",
					netip.MustParseAddr("10.1.67.56"), "f9b20cfb111e9d922865823e502ddb0585c7b1bb2")}
			},
			want: docExpiredLine,
		},
		{
			name:   "AzSuccess",
			at:     time.Date(2024, 1, 16, 3, 18, 22, 254_999_999, time.UTC), // log4j2 truncates to ms
			thread: "XNIO-1 task-4",
			line: func() logLine {
				return logLine{level: levelInfo, logger: loggerAccess, msg: accessMessage(eventAzSuccess, "k8sidp",
					"https://ou.example.com/auth/idp/k8sIdp/token", "uid=mmosley,ou=shadow,o=Tremolo", "NONE",
					netip.MustParseAddr("203.0.113.7"), "f763bbd1a1c474929d91bfe89a2fd8e5f5b49a1d5")}
			},
			want: docAzSuccessLine,
		},
		{
			name:   "WARN pads to five",
			at:     time.Date(2024, 1, 16, 3, 18, 22, 5_000_000, time.FixedZone("CET", 3600)),
			thread: "XNIO-1 task-12",
			line: func() logLine {
				return logLine{level: levelWarn, logger: loggerOIDC, msg: "Session expired"}
			},
			want: "[2024-01-16 02:18:22,005][XNIO-1 task-12] WARN  OpenIDConnectIdP - Session expired\n",
		},
		{
			name:   "ERROR fills five, stack trace follows",
			at:     time.Date(2024, 1, 16, 3, 18, 22, 0, time.UTC),
			thread: "XNIO-1 task-2",
			line: func() logLine {
				return logLine{level: levelError, logger: loggerOIDC, msg: "Could not refresh token", trace: "java.lang.Exception: x\n\tat a.b(C.java:1)\n"}
			},
			want: "[2024-01-16 03:18:22,000][XNIO-1 task-2] ERROR OpenIDConnectIdP - Could not refresh token\njava.lang.Exception: x\n\tat a.b(C.java:1)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := newLogger(&buf, func() time.Time { return tt.at }, nil)
			l.write(tt.thread, tt.line())
			if got := buf.String(); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestProviderWritesDocumentedGraceLine drives a real grace reuse through the
// provider and compares its ExpiredRefreshTokenUsed line with the one in
// openunison-logs.md; only the random bracketed id differs.
func TestProviderWritesDocumentedGraceLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Grace = 5 * time.Second; c.Workers = 1 })
	h.clock.Set(time.Date(2022, 12, 24, 0, 34, 52, 0, time.UTC))
	old := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
	h.refresh(old, http.StatusOK)
	h.clock.Set(time.Date(2022, 12, 24, 0, 34, 56, 424_000_000, time.UTC))
	h.log.Reset()
	h.refresh(old, http.StatusOK)

	lines := strings.SplitAfter(h.log.String(), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("want two lines, got %q", h.log.String())
	}
	id := regexp.MustCompile(`\[(f[0-9a-f]{40})\]\n$`).FindStringSubmatch(lines[1])
	if id == nil {
		t.Fatalf("no f+40-hex session id in %q", lines[1])
	}
	if got, want := lines[1], strings.Replace(docExpiredLine, "f9b20cfb111e9d922865823e502ddb0585c7b1bb2", id[1], 1); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if !strings.HasSuffix(lines[0], "["+id[1]+"]\n") || !strings.HasPrefix(lines[0], "[2022-12-24 00:34:56,424][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - ") {
		t.Errorf("AzSuccess line does not pair with the grace line: %q", lines[0])
	}
}

func TestJavaAddr(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"10.1.67.56", "10.1.67.56"},
		{"::1", "0:0:0:0:0:0:0:1"},
		{"2001:db8::8a2e:370:7334", "2001:db8:0:0:0:8a2e:370:7334"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"fe80::1%eth0", "fe80:0:0:0:0:0:0:1%eth0"},
	}
	for _, tt := range tests {
		if got := javaAddr(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("javaAddr(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := javaAddr(netip.Addr{}); got != "null" {
		t.Errorf("javaAddr(invalid) = %s, want null", got)
	}
}

func TestSanitizeKeepsOneLine(t *testing.T) {
	t.Parallel()
	if got := sanitize("a\nb\rc\x00d\x7f"); got != "a_b_c_d_" {
		t.Errorf("sanitize = %q", got)
	}
	if s := "https://h/p"; sanitize(s) != s {
		t.Errorf("sanitize changed a clean string")
	}
}

// A log that cannot be written (a full disk: /dev/full) is said at its
// first failed write, once, while the server goes on serving; not only
// when it stops.
func TestFailingLogIsSaidAtOnce(t *testing.T) {
	t.Parallel()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	defer full.Close()
	for _, tt := range []struct {
		name  string
		write func(diag *slog.Logger) error // writes records, returns the log's Err
		log   string
	}{
		{"OpenUnison's log", func(diag *slog.Logger) error {
			h := newHarness(t, func(c *Config) { c.Log = full; c.Diag = diag })
			rt := h.login("mmosley", DemoPassword, http.StatusOK).RefreshToken
			h.refresh(rt, http.StatusOK)
			return h.p.LogErr()
		}, "the OpenUnison log"},
		{"the proxy's access log", func(diag *slog.Logger) error {
			l := newAccessLog(full, diag)
			l.write([]byte("one\n"))
			l.write([]byte("two\n"))
			return l.Err()
		}, "the proxy's access log"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var said bytes.Buffer
			err := tt.write(slog.New(slog.NewTextHandler(&said, nil)))
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Err() = %v, want ENOSPC", err)
			}
			if n := strings.Count(said.String(), "writing the log failed"); n != 1 || !strings.Contains(said.String(), `log="`+tt.log+`"`) {
				t.Errorf("said %d times, want once naming %q:\n%s", n, tt.log, said.String())
			}
		})
	}
}
