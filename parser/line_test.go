package parser

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// The lines of openunison-logs.md, and the variations real DNs and
// addresses bring, each with every field it must yield.
func TestParseOpenUnisonLines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Event
	}{
		{
			name: "grace reuse (the documented line)",
			line: "[2022-12-24 00:34:56,424][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - Expired token used within grace period [10.1.67.56] - [f9b20cfb111e9d922865823e502ddb0585c7b1bb2]",
			want: Event{
				Time: time.Date(2022, 12, 24, 0, 34, 56, 424e6, time.UTC), Kind: KindGraceReuse, Level: "INFO",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-1", Tag: "ExpiredRefreshTokenUsed",
				URL: "https://k8sou.lab.tremolo.dev/auth/idp/k8sIdp/token", IdP: "k8sIdp",
				User: "uid=mmosley,ou=shadow,o=Tremolo", Message: "Expired token used within grace period",
				IP: mustAddr("10.1.67.56"), Session: "f9b20cfb111e9d922865823e502ddb0585c7b1bb2",
			},
		},
		{
			name: "refresh (AzSuccess on the token endpoint)",
			line: "[2024-01-16 03:18:22,254][XNIO-1 task-4] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f763bbd1a1c474929d91bfe89a2fd8e5f5b49a1d5]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 22, 254e6, time.UTC), Kind: KindTokenOK, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-4", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=mmosley,ou=shadow,o=Tremolo",
				Message: "NONE", IP: mustAddr("203.0.113.7"), Session: "f763bbd1a1c474929d91bfe89a2fd8e5f5b49a1d5",
			},
		},
		{
			name: "refused refresh (AzFail, anonymous)",
			line: "[2024-01-16 03:18:22,300][XNIO-1 task-5] INFO  AccessLog - [AzFail] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=Anonymous,o=Tremolo - NONE [192.0.2.66] - [f0000000000000000000000000000000000000001]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 22, 300e6, time.UTC), Kind: KindTokenFail, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-5", Tag: "AzFail", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=Anonymous,o=Tremolo",
				Message: "NONE", IP: mustAddr("192.0.2.66"), Session: "f0000000000000000000000000000000000000001",
			},
		},
		{
			name: "login (AuSuccess, LEVEL / CHAIN)",
			line: "[2024-01-16 03:18:20,000][XNIO-1 task-2] INFO  AccessLog - [AuSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/auth - uid=mmosley,ou=shadow,o=Tremolo - 1 / LoginService [203.0.113.7] - [f1111111111111111111111111111111111111111]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 20, 0, time.UTC), Kind: KindLogin, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-2", Tag: "AuSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/auth", IdP: "k8sIdp", User: "uid=mmosley,ou=shadow,o=Tremolo",
				Message: "1 / LoginService", IP: mustAddr("203.0.113.7"), Session: "f1111111111111111111111111111111111111111",
			},
		},
		{
			name: "failed login (AuFail) is other",
			line: "[2024-01-16 03:18:19,000][XNIO-1 task-2] INFO  AccessLog - [AuFail] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/auth - uid=Anonymous,o=Tremolo - 1 / LoginService [203.0.113.7] - [null]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 19, 0, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-2", Tag: "AuFail", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/auth", IdP: "k8sIdp", User: "uid=Anonymous,o=Tremolo",
				Message: "1 / LoginService", IP: mustAddr("203.0.113.7"), Session: "null",
			},
		},
		{
			name: "readiness probe (anonymous AzSuccess on discovery) is other",
			line: "[2024-01-16 03:18:30,011][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://127.0.0.1:8443/auth/idp/k8sIdp/.well-known/openid-configuration - uid=Anonymous,o=Tremolo - NONE [127.0.0.1] - [f2222222222222222222222222222222222222222]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 30, 11e6, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-1", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://127.0.0.1:8443/auth/idp/k8sIdp/.well-known/openid-configuration", IdP: "k8sIdp",
				User: "uid=Anonymous,o=Tremolo", Message: "NONE", IP: mustAddr("127.0.0.1"), Session: "f2222222222222222222222222222222222222222",
			},
		},
		{
			name: "anonymous AzSuccess on the token endpoint is not a user's refresh",
			line: "[2024-01-16 03:18:30,011][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=Anonymous,o=Tremolo - NONE [127.0.0.1] - [null]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 30, 11e6, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-1", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=Anonymous,o=Tremolo",
				Message: "NONE", IP: mustAddr("127.0.0.1"), Session: "null",
			},
		},
		{
			name: "NotFound with the UNKNOWN application",
			line: "[2024-01-16 03:18:31,000][XNIO-1 task-3] INFO  AccessLog - [NotFound] - UNKNOWN - https://ou.example.com/favicon.ico - uid=Anonymous,o=Tremolo - NONE [203.0.113.7] - [f3333333333333333333333333333333333333333]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 31, 0, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-3", Tag: "NotFound", App: "UNKNOWN",
				URL: "https://ou.example.com/favicon.ico", User: "uid=Anonymous,o=Tremolo", Message: "NONE",
				IP: mustAddr("203.0.113.7"), Session: "f3333333333333333333333333333333333333333",
			},
		},
		{
			name: "Error on an application",
			line: "[2024-01-16 03:18:32,000][XNIO-1 task-3] INFO  AccessLog - [Error] - k8s-api - https://ou.example.com/k8s-api/api/v1/pods - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f4444444444444444444444444444444444444444]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 32, 0, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-3", Tag: "Error", App: "k8s-api",
				URL: "https://ou.example.com/k8s-api/api/v1/pods", User: "uid=mmosley,ou=shadow,o=Tremolo", Message: "NONE",
				IP: mustAddr("203.0.113.7"), Session: "f4444444444444444444444444444444444444444",
			},
		},
		{
			name: "WARN: session does not exist",
			line: "[2024-01-16 03:18:33,000][XNIO-1 task-6] WARN  OpenIDConnectIdP - Session does not exist from refresh_token",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 33, 0, time.UTC), Kind: KindRefusal, Level: "WARN",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-6", Message: "Session does not exist from refresh_token",
			},
		},
		{
			name: "WARN: session expired",
			line: "[2024-01-16 03:18:33,000][XNIO-1 task-6] WARN  OpenIDConnectIdP - Session expired",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 33, 0, time.UTC), Kind: KindRefusal, Level: "WARN",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-6", Message: "Session expired",
			},
		},
		{
			name: "WARN: invalid client secret",
			line: "[2024-01-16 03:18:33,000][XNIO-1 task-6] WARN  OpenIDConnectIdP - Invalid client_secret",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 33, 0, time.UTC), Kind: KindOther, Level: "WARN",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-6", Message: "Invalid client_secret",
			},
		},
		{
			name: "MyVD LDAP access log shares the logger name",
			line: `[2024-01-16 03:18:34,000][Thread-14] INFO  AccessLog - BIND op=0 dn="cn=ouldap,ou=ServiceAccounts,o=Tremolo" method=128`,
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 34, 0, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "AccessLog", Thread: "Thread-14", Message: `BIND op=0 dn="cn=ouldap,ou=ServiceAccounts,o=Tremolo" method=128`,
			},
		},
		{
			name: "DEBUG pads to five with one space",
			line: "[2024-01-16 03:18:35,000][main] DEBUG ProxySys - Proxying to https://kubernetes.default.svc",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 35, 0, time.UTC), Kind: KindOther, Level: "DEBUG",
				Logger: "ProxySys", Thread: "main", Message: "Proxying to https://kubernetes.default.svc",
			},
		},
		{
			name: "DN with an escaped comma, spaces and a separator inside",
			line: `[2024-01-16 03:18:36,000][XNIO-1 task-7] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://ou.example.com/auth/idp/k8sIdp/token - cn=Smith\, Alice - Ops,ou=Platform Team,o=Tremolo - Expired token used within grace period [198.51.100.77] - [f5555555555555555555555555555555555555555]`,
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 36, 0, time.UTC), Kind: KindGraceReuse, Level: "INFO",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-7", Tag: "ExpiredRefreshTokenUsed",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp",
				User: `cn=Smith\, Alice - Ops,ou=Platform Team,o=Tremolo`, Message: "Expired token used within grace period",
				IP: mustAddr("198.51.100.77"), Session: "f5555555555555555555555555555555555555555",
			},
		},
		{
			name: "DN with brackets and session null",
			line: "[2024-01-16 03:18:37,000][XNIO-1 task-8] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=ops [oncall] - [x],ou=shadow,o=Tremolo - NONE [203.0.113.80] - [null]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 37, 0, time.UTC), Kind: KindTokenOK, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-8", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=ops [oncall] - [x],ou=shadow,o=Tremolo",
				Message: "NONE", IP: mustAddr("203.0.113.80"), Session: "null",
			},
		},
		{
			name: "IPv6 as Undertow prints it",
			line: "[2024-01-16 03:18:38,000][XNIO-1 task-9] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=v6,o=T - NONE [2001:db8:0:0:0:0:0:7334] - [f6666666666666666666666666666666666666666]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 38, 0, time.UTC), Kind: KindTokenOK, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-9", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=v6,o=T",
				Message: "NONE", IP: mustAddr("2001:db8::7334"), Session: "f6666666666666666666666666666666666666666",
			},
		},
		{
			name: "IPv4-mapped IPv6 is the IPv4 address",
			line: "[2024-01-16 03:18:39,000][XNIO-1 task-9] INFO  AccessLog - [AzFail] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - uid=Anonymous,o=Tremolo - NONE [::ffff:192.0.2.1] - [null]",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 39, 0, time.UTC), Kind: KindTokenFail, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-9", Tag: "AzFail", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=Anonymous,o=Tremolo",
				Message: "NONE", IP: mustAddr("192.0.2.1"), Session: "null",
			},
		},
		{
			// A quoted RDN value (RFC 4514 allows the old RFC 1779 form in
			// directories OpenUnison reads) and a name outside ASCII.
			name: "DN with a quoted value and non-ASCII names",
			line: `[2024-01-16 03:18:41,000][XNIO-1 task-9] INFO  AccessLog - [AzSuccess] - k8sidp - https://ou.example.com/auth/idp/k8sIdp/token - cn="Ünal, Zoë",ou=Équipe,o=Tremolo - NONE [203.0.113.81] - [f7777777777777777777777777777777777777777]`,
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 41, 0, time.UTC), Kind: KindTokenOK, Level: "INFO",
				Logger: "AccessLog", Thread: "XNIO-1 task-9", Tag: "AzSuccess", App: "k8sidp",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: `cn="Ünal, Zoë",ou=Équipe,o=Tremolo`,
				Message: "NONE", IP: mustAddr("203.0.113.81"), Session: "f7777777777777777777777777777777777777777",
			},
		},
		{
			name: "CRLF line end",
			line: "[2024-01-16 03:18:42,000][XNIO-1 task-1] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed] - https://ou.example.com/auth/idp/k8sIdp/token - uid=mmosley,o=Tremolo - Expired token used within grace period [0:0:0:0:0:0:0:1] - [f8888888888888888888888888888888888888888]\r",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 42, 0, time.UTC), Kind: KindGraceReuse, Level: "INFO",
				Logger: "OpenIDConnectIdP", Thread: "XNIO-1 task-1", Tag: "ExpiredRefreshTokenUsed",
				URL: "https://ou.example.com/auth/idp/k8sIdp/token", IdP: "k8sIdp", User: "uid=mmosley,o=Tremolo",
				Message: "Expired token used within grace period", IP: mustAddr("::1"), Session: "f8888888888888888888888888888888888888888",
			},
		},
		{
			name: "thread name with a bracket",
			line: "[2024-01-16 03:18:40,000][pool-1 [x]] INFO  Other - hello",
			want: Event{
				Time: time.Date(2024, 1, 16, 3, 18, 40, 0, time.UTC), Kind: KindOther, Level: "INFO",
				Logger: "Other", Thread: "pool-1 [x]", Message: "hello",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.line), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.Raw = tt.line
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
			if k := Classify([]byte(tt.line)); k != tt.want.Kind {
				t.Errorf("Classify = %s, want %s", k, tt.want.Kind)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, line string
		col        int
		msg        string
	}{
		{"not a record", "java.lang.IllegalStateException: boom", 1, "not a log4j2 record"},
		{"bad month", "[2024-13-16 03:18:22,254][XNIO-1 task-4] INFO  AccessLog - x", 2, "timestamp"},
		{"thread not closed", "[2024-01-16 03:18:22,254][XNIO-1 task-4 INFO  AccessLog - x", 26, "thread"},
		{"no logger separator", "[2024-01-16 03:18:22,254][t] INFO  AccessLog", 36, "logger"},
		// The line ends where its trailer should be: the grammar breaks there.
		{"missing trailer", "[2024-01-16 03:18:22,254][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k/token - uid=a - NONE", 112, "trailing"},
		{"bad IP", "[2024-01-16 03:18:22,254][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k/token - uid=a - NONE [999.1.1.1] - [null]", 114, "bad IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse([]byte(tt.line), nil)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one", tt.line)
			}
			se, ok := err.(*SyntaxError)
			if !ok {
				t.Fatalf("error %T %v, want *SyntaxError", err, err)
			}
			if se.Column != tt.col || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("error = column %d %q, want column %d containing %q", se.Column, se.Msg, tt.col, tt.msg)
			}
			if ev.Kind != KindOther || ev.Raw != tt.line {
				t.Errorf("a broken record must stay an other event with its raw text, got kind %s raw %q", ev.Kind, ev.Raw)
			}
		})
	}
}

func TestParseTimezone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	line := []byte("[2026-07-01 12:00:00,000][main] INFO  X - y")
	ev, err := Parse(line, berlin)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time in Europe/Berlin = %s, want %s", ev.Time.UTC(), want)
	}
}

func TestParseKeepsInvalidUTF8(t *testing.T) {
	line := "[2024-01-16 03:18:22,254][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k/token - uid=\xff\xfe,o=T - NONE [192.0.2.1] - [null]"
	ev, err := Parse([]byte(line), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.User != "uid=\xff\xfe,o=T" || ev.Kind != KindTokenOK {
		t.Errorf("user = %q kind %s: invalid UTF-8 must survive byte for byte", ev.User, ev.Kind)
	}
}

func TestKindText(t *testing.T) {
	for _, k := range Kinds() {
		var back Kind
		b, _ := k.MarshalText()
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("kind %s does not round-trip: %v", k, err)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("replay")); err == nil {
		t.Error("unknown kind name accepted")
	}
}
