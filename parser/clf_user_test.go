package parser

import (
	"net/netip"
	"strings"
	"testing"
)

// ingress-nginx writes $remote_user, the name in any Basic Authorization
// header a client sends, escaping only its quotes; Traefik writes the
// user name of an absolute request target's userinfo decoded and not
// escaped at all. A client choosing it must not name another client, nor
// hide its token request behind a time and request of its own.
func TestCLFUserNameWrittenByTheClient(t *testing.T) {
	const (
		nginxTail   = ` 200 1893 "-" "curl/8" 412 0.015 [openunison-openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.015 200 2f3a4b5c6d7e8f901a2b3c4d5e6f7a8b`
		traefikTail = ` 200 1893 "-" "curl" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`
		token       = `[26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0"`
	)
	tests := []struct {
		name, line string
		client     string // "" for none
		path       string
	}{
		{
			name:   "ingress-nginx, a user name reading as the older variant's client",
			line:   `203.0.113.9 - [198.51.100.77] - x ` + token + nginxTail,
			client: "", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "ingress-nginx, a user name naming the client's own address",
			line:   `203.0.113.9 - [203.0.113.9] - x ` + token + nginxTail,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "ingress-nginx, a unix socket's peer and a bracketed user name",
			line:   `unix: - [198.51.100.77] - x ` + token + nginxTail,
			client: "", path: "/auth/idp/k8sIdp/token",
		},
		{
			// "][" where OpenUnison's timestamp ends and its thread begins.
			name:   "ingress-nginx, a user name with OpenUnison's shape",
			line:   `203.0.113.9 - 0000000000][ ` + token + nginxTail,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, a user name with OpenUnison's shape",
			line:   `203.0.113.9 - 0000000000][ ` + token + traefikTail,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "ingress-nginx before 2019, still read",
			line:   `k8sou.apps.example.com - [198.51.100.23] - - ` + token + nginxTail,
			client: "198.51.100.23", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, a user name reading as the older variant's client",
			line:   `203.0.113.9 - [198.51.100.77] - x ` + token + traefikTail,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, a user name holding a time and request of its own",
			line:   `203.0.113.9 - a [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "b ` + token + traefikTail,
			client: "", path: "/auth/idp/k8sIdp/token",
		},
		{
			// Traefik writes "-" for no user name: a reading with none
			// before its time is the user name's own.
			name:   "Traefik, a user name that is a time and request of its own",
			line:   `203.0.113.9 - [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "b ` + token + traefikTail,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, a user name forging a token request before another",
			line:   `203.0.113.9 - a ` + token + ` 200 1 "b [26/Nov/2026:09:00:01 +0000] "GET /x HTTP/2.0"` + traefikTail,
			client: "", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, an agent holding a time and request of its own",
			line:   `203.0.113.9 - - ` + token + ` 200 1893 "-" "a [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "b" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`,
			client: "", path: "/auth/idp/k8sIdp/token",
		},
		{
			name:   "Traefik, an agent holding the same time and request",
			line:   `203.0.113.9 - - ` + token + ` 200 1893 "-" "a ` + token + ` 200 1 "-" "b" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`,
			client: "203.0.113.9", path: "/auth/idp/k8sIdp/token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := []byte(tt.line)
			if k := ClassifyLine(line); k != KindProxy {
				t.Fatalf("ClassifyLine says %s", k)
			}
			ev, err := Parse(line, nil)
			if err != nil || ev.Proxy == nil {
				t.Fatalf("Parse: %s, %v", ev.Kind, err)
			}
			var want netip.Addr
			if tt.client != "" {
				want = netip.MustParseAddr(tt.client)
			}
			if p := ev.Proxy; p.Client != want || ev.IP != want || p.Path != tt.path || p.Start.Year() != 2026 {
				t.Errorf("client %v (event %v), path %q, start %v; want %v, %q", p.Client, ev.IP, p.Path, p.Start, want, tt.path)
			}
		})
	}
}

// Whatever user name a client gives, a token request's line is read as
// one, naming its client or none: never another.
func FuzzCLFUserName(f *testing.F) {
	f.Add(false, "[198.51.100.77] - x")
	f.Add(true, `a [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "b`)
	f.Add(true, `[01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "b`)
	f.Fuzz(func(t *testing.T, traefik bool, user string) {
		if user == "" || strings.ContainsAny(user, "\r\n") {
			return
		}
		tail := ` 200 1893 "-" "curl/8" 412 0.015 [openunison-openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.015 200 2f3a4b5c6d7e8f901a2b3c4d5e6f7a8b`
		if traefik {
			tail = ` 200 1893 "-" "curl" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`
		} else {
			// nginx escapes a quote and a backslash (as \x22, \x5C).
			user = strings.NewReplacer(`"`, `\x22`, `\`, `\x5C`).Replace(user)
		}
		line := `203.0.113.9 - ` + user + ` [26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0"` + tail
		ev, err := Parse([]byte(line), nil)
		if err != nil || ev.Proxy == nil || ClassifyLine([]byte(line)) != KindProxy {
			t.Fatalf("%q: %s, %v", line, ev.Kind, err)
		}
		if p := ev.Proxy; p.Client.IsValid() && p.Client != netip.MustParseAddr("203.0.113.9") || p.Path != "/auth/idp/k8sIdp/token" {
			t.Fatalf("%q: client %v path %q", line, p.Client, p.Path)
		}
	})
}
