package parser

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Envoy writes header values into its text formats as they came, quotes
// and backslashes included (envoyproxy/envoy#4191: no escaping), so a
// client's User-Agent, X-Forwarded-For or X-Request-ID can hold `"`, `\`
// or a whole `" "` separator. Such a line is still the record of a
// request: it must not vanish (a thief's record missing is a reuse judged
// without its client), and no value a client wrote may be read as a field
// Envoy wrote (a forged tail naming another client or upstream).
func TestEnvoyHeadersWrittenRaw(t *testing.T) {
	const (
		envoyHead = `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 `
		istioHead = `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 `
		istioTail = ` outbound|8080||openunison-orchestra.openunison.svc.cluster.local 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 k8sou.apps.example.com -`
		// forged is what a client writes into a header to make the rest
		// of the line look like Envoy's fields naming another client.
		forgedEnvoy = `x" "r" "h" "10.9.9.9:8080" ",`
		forgedIstio = `x" "r" "h" "10.9.9.9:8080" c 10.1.67.12:1 10.1.67.12:8443 198.51.100.77:1234 s`
	)
	up := []netip.AddrPort{ap("10.1.80.10:8080")}
	tests := []struct {
		name    string
		line    string
		client  string // "" for none
		xff     string
		agent   string
		reqID   string
		ups     []netip.AddrPort
		upLocal string
	}{
		{
			name: "Envoy, a quote in the agent", client: "203.0.113.9", xff: "203.0.113.9", agent: `cu"rl`, reqID: "r1", ups: up,
			line: envoyHead + `"203.0.113.9" "cu"rl" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			name: "Envoy, an agent ending in a backslash", client: "203.0.113.9", xff: "203.0.113.9", agent: `curl\`, reqID: "r1", ups: up,
			line: envoyHead + `"203.0.113.9" "curl\" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			name: "Envoy, a backslash before a quote in the request id", client: "203.0.113.9", xff: "203.0.113.9", agent: "curl/8.5.0", reqID: `a\"b`, ups: up,
			line: envoyHead + `"203.0.113.9" "curl/8.5.0" "a\"b" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			// Which of the client's headers holds the `" "` cannot be told,
			// so neither can X-Forwarded-For's last entry.
			name: "Envoy, a separator in the agent", ups: up,
			line: envoyHead + `"203.0.113.9" "a" "b" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			name: "Envoy, a forged X-Forwarded-For the edge appended to", ups: up,
			line: envoyHead + `"198.51.100.77" "` + forgedEnvoy + `203.0.113.9" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			name: "Envoy, a forged tail in the agent", ups: up,
			line: envoyHead + `"203.0.113.9" "` + forgedEnvoy + `" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		},
		{
			name: "Istio, a quote in the agent", client: "203.0.113.9", xff: "203.0.113.9", agent: `cu"rl`, reqID: "r1", ups: up, upLocal: "10.1.67.12",
			line: istioHead + `"203.0.113.9" "cu"rl" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"` + istioTail,
		},
		{
			name: "Istio, an agent ending in a backslash", client: "203.0.113.9", xff: "203.0.113.9", agent: `curl\`, reqID: "r1", ups: up, upLocal: "10.1.67.12",
			line: istioHead + `"203.0.113.9" "curl\" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"` + istioTail,
		},
		{
			// The peer is Envoy's, after the headers: it is known even when
			// the headers' split is not.
			name: "Istio, a separator in the agent", client: "203.0.113.9", ups: up, upLocal: "10.1.67.12",
			line: istioHead + `"203.0.113.9" "a" "b" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"` + istioTail,
		},
		{
			name: "Istio, a forged tail in the agent",
			line: istioHead + `"203.0.113.9" "` + forgedIstio + `" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"` + istioTail,
		},
		{
			name: "Istio, a space in the server name", client: "203.0.113.9", xff: "203.0.113.9", agent: "curl/8.5.0", reqID: "r1", ups: up, upLocal: "10.1.67.12",
			line: istioHead + `"203.0.113.9" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080" outbound|8080||ou 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 a 198.51.100.77:1 b -`,
		},
		{
			name: "Istio, a forged tail in the server name",
			line: istioHead + `"203.0.113.9" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080" outbound|8080||ou 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 a" "10.9.9.9:8080" c 10.1.67.12:1 10.1.67.12:8443 198.51.100.77:1234 s -`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseProxyLine(t, tt.line)
			p := ev.Proxy
			var client, upLocal netip.Addr
			if tt.client != "" {
				client = mustAddr(tt.client)
			}
			if tt.upLocal != "" {
				upLocal = mustAddr(tt.upLocal)
			}
			if p.Client != client || ev.IP != client || p.XFF != tt.xff || p.Agent != tt.agent || p.RequestID != tt.reqID ||
				!slicesEqual(p.Upstreams, tt.ups) || p.UpstreamLocal != upLocal {
				t.Errorf("client %v xff %q agent %q request id %q upstreams %v local %v\nwant   %v xff %q agent %q request id %q upstreams %v local %v",
					p.Client, p.XFF, p.Agent, p.RequestID, p.Upstreams, p.UpstreamLocal, client, tt.xff, tt.agent, tt.reqID, tt.ups, upLocal)
			}
			if p.Path != "/auth/idp/k8sIdp/token" || p.Status != 200 || !strings.HasPrefix(p.Start.String(), "2026-11-26 09:00:01.216") {
				t.Errorf("path %q status %d start %v", p.Path, p.Status, p.Start)
			}
		})
	}
}

func slicesEqual(a, b []netip.AddrPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Whatever a client writes into the headers Envoy logs raw (and into its
// TLS server name), the line is read as a token request, and the client
// and upstream it names are Envoy's or none: never ones the client wrote.
// Headers that hold no separator are read back as written.
func FuzzEnvoyHeaders(f *testing.F) {
	f.Add(false, "203.0.113.9", "curl/8.5.0", "r1", "k8sou.apps.example.com", "k8sou.apps.example.com")
	f.Add(true, "203.0.113.9", `cu"rl\`, `a\"b`, "h", "-")
	f.Add(false, `198.51.100.77" "x" "r" "h" "10.9.9.9:8080" ",203.0.113.9`, "a", "b", "c", "-")
	f.Add(true, "203.0.113.9", `x" "r" "h" "10.9.9.9:8080" c 10.1.67.12:1 10.1.67.12:8443 198.51.100.77:1234 s`, "r", "h", "s")
	f.Add(true, "203.0.113.9", "a", "b", "c", `a" "10.9.9.9:8080" c 10.1.67.12:1 10.1.67.12:8443 198.51.100.77:1234 s`)
	f.Fuzz(func(t *testing.T, istio bool, xff, agent, reqID, authority, sni string) {
		for _, s := range []string{xff, agent, reqID, authority, sni} {
			// Envoy refuses these in a header; an empty one is logged "-".
			if s == "" || strings.ContainsAny(s, "\x00\r\n") {
				return
			}
		}
		const (
			envoyHead = `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 `
			istioHead = `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 `
		)
		headers := `"` + xff + `" "` + agent + `" "` + reqID + `" "` + authority + `" "10.1.80.10:8080"`
		line := envoyHead + headers
		if istio {
			line = istioHead + headers + ` outbound|8080||ou 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 ` + sni + ` -`
		}
		ev, err := Parse([]byte(line), nil)
		if err != nil || ev.Kind != KindProxy || ClassifyLine([]byte(line)) != KindProxy {
			t.Fatalf("%q: %s, %v", line, ev.Kind, err)
		}
		envoyReadersAgree(t, []byte(line))
		p := ev.Proxy
		if len(p.Upstreams) > 0 && (len(p.Upstreams) != 1 || p.Upstreams[0] != ap("10.1.80.10:8080")) {
			t.Fatalf("%q: upstreams %v", line, p.Upstreams)
		}
		if istio {
			if p.Client.IsValid() && p.Client != mustAddr("203.0.113.9") || p.UpstreamLocal.IsValid() && p.UpstreamLocal != mustAddr("10.1.67.12") {
				t.Fatalf("%q: client %v, upstream local %v", line, p.Client, p.UpstreamLocal)
			}
		} else if p.Client.IsValid() && p.Client != lastForwardedEnvoy(xff) {
			t.Fatalf("%q: client %v, X-Forwarded-For %q", line, p.Client, xff)
		}
		clean := true
		for _, s := range []string{xff, agent, reqID, authority} {
			// A value's own quotes make a separator with the ones around it.
			clean = clean && !strings.Contains(s, `" "`) && !strings.HasPrefix(s, ` "`) && !strings.HasSuffix(s, `" `) && s != " "
		}
		if istio && strings.Contains(sni, `" "`) {
			clean = false // a server name may forge a place of its own
		}
		if clean && (p.XFF != dash(xff) || p.Agent != dash(agent) || p.RequestID != dash(reqID) || len(p.Upstreams) != 1) {
			t.Fatalf("%q: xff %q agent %q request id %q upstreams %v", line, p.XFF, p.Agent, p.RequestID, p.Upstreams)
		}
		if clean && istio && p.Client != mustAddr("203.0.113.9") {
			t.Fatalf("%q: client %v", line, p.Client)
		}
	})
}

// Traefik's CLF quotes the Referer and User-Agent as they came (toLogEntry
// wraps them in quotes and nothing else), so the same holds for it: the
// line stays a record, and its router, service URL and duration are
// Traefik's, not a tail the client wrote.
func TestTraefikHeadersWrittenRaw(t *testing.T) {
	const head = `203.0.113.9 - - [26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 `
	const tail = ` 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`
	up := []netip.AddrPort{ap("10.1.80.10:8443")}
	tests := []struct {
		name, line, agent string
		ups               []netip.AddrPort
	}{
		{name: "plain", line: head + `"-" "kubectl/v1.32.0"` + tail, agent: "kubectl/v1.32.0", ups: up},
		{name: "a quote in the agent", line: head + `"-" "cu"rl"` + tail, agent: `cu"rl`, ups: up},
		{name: "an agent ending in a backslash", line: head + `"-" "curl\"` + tail, agent: `curl\`, ups: up},
		{name: "an escaped quote in the agent", line: head + `"-" "cu\"rl"` + tail, agent: `cu\"rl`, ups: up},
		{name: "a separator in the referer", line: head + `"a" "b" "kubectl/v1.32.0"` + tail, ups: up},
		{name: "a forged tail in the agent", line: head + `"-" "x" 1 "r" "https://10.9.9.9:8443" 1ms z"` + tail, ups: up},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseProxyLine(t, tt.line)
			p := ev.Proxy
			if p.Format != ProxyTraefik || p.Client != mustAddr("203.0.113.9") || p.Agent != tt.agent || !slicesEqual(p.Upstreams, tt.ups) ||
				p.Duration != 15*time.Millisecond {
				t.Errorf("format %s client %v agent %q upstreams %v duration %v", p.Format, p.Client, p.Agent, p.Upstreams, p.Duration)
			}
		})
	}
}

// Whatever a client writes into the Referer and User-Agent Traefik's CLF
// quotes raw, the line is a token request from its client to its service,
// and an agent that makes no separator with its quotes is read back whole.
func FuzzTraefikHeaders(f *testing.F) {
	f.Add("-", "kubectl/v1.32.0")
	f.Add("-", `x" 1 "r" "https://10.9.9.9:8443" 1ms z`)
	f.Add(`a" "b`, `cu"rl\`)
	f.Add("-", `a [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "b`)
	f.Fuzz(func(t *testing.T, referer, agent string) {
		if referer == "" || agent == "" || strings.ContainsAny(referer+agent, "\r\n") {
			return
		}
		line := `203.0.113.9 - - [26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 "` + referer + `" "` + agent +
			`" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`
		ev, err := Parse([]byte(line), nil)
		if err != nil || ev.Kind != KindProxy || ClassifyLine([]byte(line)) != KindProxy {
			t.Fatalf("%q: %s, %v", line, ev.Kind, err)
		}
		p := ev.Proxy
		// A header holding a time and request of its own makes the line
		// name no client: which reading is Traefik's cannot be told.
		if p.Format != ProxyTraefik || p.Client.IsValid() && p.Client != mustAddr("203.0.113.9") ||
			!slicesEqual(p.Upstreams, []netip.AddrPort{ap("10.1.80.10:8443")}) || p.Duration != 15*time.Millisecond ||
			!p.Client.IsValid() && !strings.Contains(`"`+referer+`" "`+agent+`"`, `] "`) {
			t.Fatalf("%q: %+v", line, *p)
		}
		clean := true
		for _, s := range []string{referer, agent} {
			clean = clean && !strings.Contains(s, `" "`) && !strings.HasPrefix(s, ` "`) && !strings.HasSuffix(s, `" `) && s != " " &&
				!strings.Contains(`"`+s+`"`, `] "`)
		}
		if clean && p.Agent != dash(agent) {
			t.Fatalf("%q: agent %q", line, p.Agent)
		}
	})
}

// envoyReadersAgree holds the one-pass reading of an Envoy or Istio line
// whose headers hold no quote to the general one: where both read a
// field, they read the same bytes (the general one may read less: a
// header that is one space looks like a separator to it).
func envoyReadersAgree(t *testing.T, line []byte) {
	t.Helper()
	var f proxyFields
	c := cursor{b: line}
	if len(line) == 0 || line[0] != '[' || !scanTimeRequestStatus(&c, &f) || !scanEnvoyCounts(&c, &f) {
		return
	}
	rest := line[c.i:]
	fast, slow := f, f
	if bytes.Count(rest, quoteSep) != 2*(numEnvoyHeaders+1) || !scanEnvoyPlain(rest, &fast) {
		return // scanEnvoy reads no other rest in one pass
	}
	ok := scanIstioEnd(rest, &slow)
	if f.format == ProxyEnvoy {
		ok = scanEnvoyEnd(rest, &slow)
	}
	if !ok {
		t.Fatalf("%q: read in one pass, not by the general reader", line)
	}
	for _, p := range [][2][]byte{{fast.xff, slow.xff}, {fast.agent, slow.agent}, {fast.requestID, slow.requestID},
		{fast.upstream, slow.upstream}, {fast.upLocal, slow.upLocal}, {fast.client, slow.client}} {
		if p[1] != nil && !bytes.Equal(p[0], p[1]) {
			t.Fatalf("%q: one pass read %q, the general reader %q", line, p[0], p[1])
		}
	}
}

// scanEnvoyPlain is given only rests of ten quotes, but refuses, never
// fails on, one that ends inside a field (FuzzProxyLine found it did).
func TestScanEnvoyPlainUnclosedField(t *testing.T) {
	for _, rest := range []string{`"`, `"a" "`, `"a" "b" "c" "d" "e`, `"a" "b" "c" "d" "e" x`} {
		for _, format := range []ProxyFormat{ProxyEnvoy, ProxyIstio} {
			f := proxyFields{format: format}
			if scanEnvoyPlain([]byte(rest), &f) {
				t.Errorf("%s: read %q", format, rest)
			}
		}
	}
}

// A line whose Traefik end has too little before it to hold a referer and
// an agent is no Traefik line, and reading it fails nothing.
func TestTraefikEndWithoutHeaders(t *testing.T) {
	const head = `203.0.113.9 - - [26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 `
	for _, tail := range []string{
		`" 4711 "R" "https://10.1.80.10:8443" 15ms`,
		`"" 4711 "R" "https://10.1.80.10:8443" 15ms`,
		`"" "" 4711 "R" "https://10.1.80.10:8443" 15ms`,
		` 4711 "R" "https://10.1.80.10:8443" 15ms`,
		`"R" "https://10.1.80.10:8443" 15ms`,
		`" "" 15ms`,
	} {
		line := []byte(head + tail)
		k := ClassifyLine(line)
		ev, err := Parse(line, nil)
		if k == KindProxy && (err != nil || ev.Proxy.Format != ProxyTraefik || ev.Proxy.Agent != "") {
			t.Errorf("%q: %s, %v", tail, k, err)
		}
	}
}

// parseProxyLine classifies and parses line, which must be a proxy's
// record of a token request.
func parseProxyLine(t *testing.T, line string) Event {
	t.Helper()
	if k := ClassifyLine([]byte(line)); k != KindProxy {
		t.Fatalf("ClassifyLine says %s", k)
	}
	ev, err := Parse([]byte(line), nil)
	if err != nil || ev.Proxy == nil {
		t.Fatalf("Parse: %s, %v", ev.Kind, err)
	}
	return ev
}
