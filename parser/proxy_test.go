package parser

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Real-looking lines of every format and variant proxies.md names, each with
// the record it must yield.
var proxyLines = []struct {
	name string
	line string
	want ProxyRecord
}{
	{
		name: "ingress-nginx upstreaminfo",
		line: `203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 "-" "Go-http-client/2.0" 412 0.015 [openunison-openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.014 200 7f3c9a1be2d04f5a8c6e1d2b3a4f5e6d`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("203.0.113.9"), Agent: "Go-http-client/2.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")},
			RequestID: "7f3c9a1be2d04f5a8c6e1d2b3a4f5e6d", Start: at("2026-11-26T09:00:03.985Z"), End: at("2026-11-26T09:00:04Z"),
			Duration: 15 * time.Millisecond, Precision: time.Second},
	},
	{
		name: "ingress-nginx, IPv6 client, query, retried upstreams after a redirect, no agent",
		line: `2001:db8:85a3::8a2e:370:7334 - - [26/Nov/2026:09:00:04 +0100] "POST /auth/idp/k8sIdp/token?x=1 HTTP/1.1" 200 1893 "-" "-" 412 1.250 [openunison-openunison-orchestra-443] [] 10.1.80.11:8443, 10.1.80.10:8443 : 10.1.80.12:8443 0, 0 : 1893 0.001, 0.002 : 1.240 502, 502 : 200 abc`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("2001:db8:85a3::8a2e:370:7334"), Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200,
			Upstreams: []netip.AddrPort{ap("10.1.80.11:8443"), ap("10.1.80.10:8443"), ap("10.1.80.12:8443")},
			RequestID: "abc", Start: at("2026-11-26T08:00:02.750Z"), End: at("2026-11-26T08:00:04Z"),
			Duration: 1250 * time.Millisecond, Precision: time.Second},
	},
	{
		name: "ingress-nginx before 2019 (%v - [$the_real_ip] - …), no alternative upstream, no request id",
		line: `k8sou.apps.example.com - [198.51.100.23] - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 401 12 "-" "curl/8.5.0" 300 0.003 [openunison-openunison-orchestra-443] 10.1.80.10:8443 12 0.003 401`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("198.51.100.23"), Agent: "curl/8.5.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 401, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")},
			Start: at("2026-11-26T09:00:03.997Z"), End: at("2026-11-26T09:00:04Z"), Duration: 3 * time.Millisecond, Precision: time.Second},
	},
	{
		// nginx on a unix socket: $remote_addr is "unix:".
		name: "ingress-nginx, a peer on a unix socket",
		line: `unix: - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 1893 "-" "kubectl/v1.32.0" 412 0.015 [openunison-openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.014 200 r2`,
		want: ProxyRecord{Format: ProxyNginx, Agent: "kubectl/v1.32.0", Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200,
			Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, RequestID: "r2", Start: at("2026-11-26T09:00:03.985Z"),
			End: at("2026-11-26T09:00:04Z"), Duration: 15 * time.Millisecond, Precision: time.Second},
	},
	{
		name: "ingress-nginx, agent with an escaped quote, user name",
		line: `192.0.2.7 - alice [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 5 "-" "evil \x22agent\x22" 1 0.000 [u] [] 10.1.80.10:8443 5 0.000 200 r1`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("192.0.2.7"), Agent: `evil \x22agent\x22`, Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, RequestID: "r1",
			Start: at("2026-11-26T09:00:04Z"), End: at("2026-11-26T09:00:04Z"), Precision: time.Second},
	},
	{
		// $remote_user is any Basic user name a client sends, escaped only
		// for quotes, backslashes and bytes outside ASCII's printable ones.
		name: "ingress-nginx, a user name holding brackets, spaces and a time",
		line: `192.0.2.7 - a [b] [01/Jan/2020:00:00:00 +0000] \x22x\x22 [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 5 "-" "kubectl/v1.32.0" 1 0.000 [u] [] 10.1.80.10:8443 5 0.000 200 r1`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("192.0.2.7"), Agent: "kubectl/v1.32.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, RequestID: "r1",
			Start: at("2026-11-26T09:00:04Z"), End: at("2026-11-26T09:00:04Z"), Precision: time.Second},
	},
	{
		// log-format-escape-json on the default format: \" in a user name.
		name: "ingress-nginx with escape=json, a user name holding a quote",
		line: `192.0.2.7 - a\" [b\\ [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 5 "-" "kubectl/v1.32.0" 1 0.000 [u] [] 10.1.80.10:8443 5 0.000 200 r1`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("192.0.2.7"), Agent: "kubectl/v1.32.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, RequestID: "r1",
			Start: at("2026-11-26T09:00:04Z"), End: at("2026-11-26T09:00:04Z"), Precision: time.Second},
	},
	{
		name: "ingress-nginx before 2019, a user name holding brackets",
		line: `k8sou.apps.example.com - [198.51.100.23] - a [b [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 401 12 "-" "curl/8.5.0" 300 0.003 [openunison-openunison-orchestra-443] 10.1.80.10:8443 12 0.003 401`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("198.51.100.23"), Agent: "curl/8.5.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 401, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")},
			Start: at("2026-11-26T09:00:03.997Z"), End: at("2026-11-26T09:00:04Z"), Duration: 3 * time.Millisecond, Precision: time.Second},
	},
	{
		// nginx escapes a URI's bytes outside printable ASCII as \xHH; a URI
		// too long for its buffers still ends up whole in $request.
		name: "ingress-nginx, a binary, over-long query, no upstream",
		line: `203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token?x=\xC3\xA9\x00` + strings.Repeat("a", 9000) + ` HTTP/1.1" 400 150 "-" "\x5C\x22" 9100 0.000 [ou-443] [] - - - - 0c1d`,
		want: ProxyRecord{Format: ProxyNginx, Client: mustAddr("203.0.113.9"), Agent: `\x5C\x22`, Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 400, RequestID: "0c1d",
			Start: at("2026-11-26T09:00:04Z"), End: at("2026-11-26T09:00:04Z"), Precision: time.Second},
	},
	{
		name: "ingress-nginx JSON with $msec and escaped values",
		line: `{"msec":"1795683604.123","remote_addr":"203.0.113.9","request":"POST /auth/idp/k8sIdp/token HTTP/2.0","status":"200","request_time":"0.020","upstream_addr":"10.1.80.10:8443","http_user_agent":"Go-http-client\/2.0","request_id":"r-\u0041","x_forwarded_for":"203.0.113.9"}`,
		want: ProxyRecord{Format: ProxyNginxJSON, Client: mustAddr("203.0.113.9"), XFF: "203.0.113.9", Agent: "Go-http-client/2.0",
			Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")},
			RequestID: "r-A", Start: time.Unix(1795683604, 103e6).UTC(), End: time.Unix(1795683604, 123e6).UTC(),
			Duration: 20 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		name: "ingress-nginx JSON, camelCase keys, time_iso8601, numbers, IPv6",
		line: `{"time": "2026-11-26T09:00:04+00:00", "remoteAddr": "2001:db8::7", "method": "POST", "uri": "/auth/idp/k8sIdp/token", "status": 400, "requestTime": 0.005, "upstreamAddr": "[fd00::10]:8443", "userAgent": "python-requests/2.31.0", "requestID": "x", "nested": {"a": [1, "}"]}}`,
		want: ProxyRecord{Format: ProxyNginxJSON, Client: mustAddr("2001:db8::7"), Agent: "python-requests/2.31.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 400, Upstreams: []netip.AddrPort{ap("[fd00::10]:8443")}, RequestID: "x",
			Start: at("2026-11-26T09:00:03.995Z"), End: at("2026-11-26T09:00:04Z"), Duration: 5 * time.Millisecond, Precision: time.Second},
	},
	{
		name: "Envoy default",
		line: `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 "203.0.113.9" "Go-http-client/2.0" "5c4e1f0a-8d4b-4c2e-9f6a-1b2c3d4e5f60" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		want: ProxyRecord{Format: ProxyEnvoy, Client: mustAddr("203.0.113.9"), XFF: "203.0.113.9", Agent: "Go-http-client/2.0",
			Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8080")},
			RequestID: "5c4e1f0a-8d4b-4c2e-9f6a-1b2c3d4e5f60", Start: at("2026-11-26T09:00:01.216Z"), End: at("2026-11-26T09:00:01.231Z"),
			Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		// X-Forwarded-For is the client's to write when nothing in front of
		// Envoy appends to it: a last entry that is no address is a record
		// naming no client, not a line of another format.
		name: "Envoy default, X-Forwarded-For ending in no address",
		line: `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 200 - 412 1893 15 14 "203.0.113.9, unknown" "curl/8.5.0" "r1" "k8sou.apps.example.com" "10.1.80.10:8080"`,
		want: ProxyRecord{Format: ProxyEnvoy, XFF: "203.0.113.9, unknown", Agent: "curl/8.5.0",
			Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8080")},
			RequestID: "r1", Start: at("2026-11-26T09:00:01.216Z"), End: at("2026-11-26T09:00:01.231Z"),
			Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		// Envoy Gateway logs X-Forwarded-For when it logs no downstream
		// address; its last entry is read as Envoy's text format's is.
		name: "Envoy Gateway JSON without the downstream address, X-Forwarded-For ending in no address",
		line: `{"start_time":"2026-11-26T09:00:01.216Z","method":"POST","x-envoy-origin-path":"/auth/idp/k8sIdp/token","response_code":200,"duration":15,"upstream_host":"10.1.80.10:80","downstream_remote_address":null,"x-forwarded-for":"203.0.113.9, unknown"}`,
		want: ProxyRecord{Format: ProxyEnvoyGateway, XFF: "203.0.113.9, unknown", Method: "POST", Path: "/auth/idp/k8sIdp/token",
			Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:80")}, Start: at("2026-11-26T09:00:01.216Z"),
			End: at("2026-11-26T09:00:01.231Z"), Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		name: "Istio gateway",
		line: `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 "198.51.100.4,203.0.113.9" "curl/8.5.0" "5c4e1f0a" "k8sou.apps.example.com" "10.1.80.10:8080" outbound|8080||openunison-orchestra.openunison.svc.cluster.local 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 k8sou.apps.example.com -`,
		want: ProxyRecord{Format: ProxyIstio, Client: mustAddr("203.0.113.9"), XFF: "198.51.100.4,203.0.113.9", Agent: "curl/8.5.0",
			Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8080")},
			UpstreamLocal: mustAddr("10.1.67.12"), RequestID: "5c4e1f0a", Start: at("2026-11-26T09:00:01.216Z"),
			End: at("2026-11-26T09:00:01.231Z"), Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		name: "Istio, no healthy upstream: absent fields are -, an IPv6 peer",
		line: `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/2" 503 UH no_healthy_upstream - "-" 412 19 0 - "-" "kubectl/v1.32.0" "5c4e1f0a" "k8sou.apps.example.com" "-" outbound|8080||ou - 10.1.67.12:8443 [2001:db8::9]:51234 - -`,
		want: ProxyRecord{Format: ProxyIstio, Client: mustAddr("2001:db8::9"), Agent: "kubectl/v1.32.0", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 503, RequestID: "5c4e1f0a", Start: at("2026-11-26T09:00:01.216Z"),
			End: at("2026-11-26T09:00:01.216Z"), Precision: time.Millisecond},
	},
	{
		// meshConfig.accessLogEncoding: JSON, Istio's EnvoyJSONLogFormatIstio
		// as Envoy writes it (keys sorted, numbers unquoted, empty values null).
		name: "Istio JSON",
		line: `{"authority":"k8sou.apps.example.com","bytes_received":412,"bytes_sent":1893,"connection_termination_details":null,"downstream_local_address":"10.1.67.12:8443","downstream_remote_address":"203.0.113.9:51234","duration":15,"method":"POST","path":"/auth/idp/k8sIdp/token?x=1","protocol":"HTTP/1.1","request_id":"5c4e1f0a","requested_server_name":"k8sou.apps.example.com","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2026-11-26T09:00:01.216Z","upstream_cluster":"outbound|8080||openunison-orchestra.openunison.svc.cluster.local","upstream_host":"10.1.80.10:8080","upstream_local_address":"10.1.67.12:45678","upstream_service_time":"14","upstream_transport_failure_reason":null,"user_agent":"kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9","x_forwarded_for":"198.51.100.4,203.0.113.9"}`,
		want: ProxyRecord{Format: ProxyIstio, Client: mustAddr("203.0.113.9"), XFF: "198.51.100.4,203.0.113.9",
			Agent: "kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", Method: "POST", Path: "/auth/idp/k8sIdp/token", Status: 200,
			Upstreams: []netip.AddrPort{ap("10.1.80.10:8080")}, UpstreamLocal: mustAddr("10.1.67.12"), RequestID: "5c4e1f0a",
			Start: at("2026-11-26T09:00:01.216Z"), End: at("2026-11-26T09:00:01.231Z"), Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		name: "Envoy Gateway JSON",
		line: `{":authority":"k8sou.apps.example.com","bytes_received":412,"bytes_sent":1893,"connection_termination_details":null,"downstream_local_address":"10.1.67.20:10443","downstream_remote_address":"[2001:db8::9]:51234","duration":15,"method":"POST","protocol":"HTTP/2","requested_server_name":"k8sou.apps.example.com","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"httproute/openunison/ou/rule/0/match/0/*","start_time":"2026-11-26T09:00:01.216Z","upstream_cluster":"httproute/openunison/ou/rule/0","upstream_host":"10.1.80.10:80","upstream_local_address":"10.1.67.20:38712","upstream_transport_failure_reason":null,"user-agent":null,"x-envoy-origin-path":"/auth/idp/k8sIdp/token","x-envoy-upstream-service-time":"14","x-forwarded-for":"2001:db8::9","x-request-id":"r"}`,
		want: ProxyRecord{Format: ProxyEnvoyGateway, Client: mustAddr("2001:db8::9"), XFF: "2001:db8::9", Method: "POST",
			Path: "/auth/idp/k8sIdp/token", Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:80")},
			UpstreamLocal: mustAddr("10.1.67.20"), RequestID: "r", Start: at("2026-11-26T09:00:01.216Z"),
			End: at("2026-11-26T09:00:01.231Z"), Duration: 15 * time.Millisecond, Precision: time.Millisecond},
	},
	{
		name: "Traefik CLF",
		line: `203.0.113.9 - - [26/Nov/2026:09:00:01 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 "-" "-" 4711 "openunison-ou@kubernetes" "https://10.1.80.10:8443" 15ms`,
		want: ProxyRecord{Format: ProxyTraefik, Client: mustAddr("203.0.113.9"), Method: "POST", Path: "/auth/idp/k8sIdp/token",
			Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, Start: at("2026-11-26T09:00:01Z"),
			End: at("2026-11-26T09:00:01.015Z"), Duration: 15 * time.Millisecond, Precision: time.Second},
	},
	{
		name: "Traefik JSON",
		line: `{"ClientAddr":"203.0.113.9:51234","ClientHost":"203.0.113.9","ClientPort":"51234","ClientUsername":"-","DownstreamContentSize":1893,"DownstreamStatus":200,"Duration":15123456,"RequestAddr":"k8sou.apps.example.com","RequestContentSize":412,"RequestCount":4711,"RequestHost":"k8sou.apps.example.com","RequestMethod":"POST","RequestPath":"/auth/idp/k8sIdp/token","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":"openunison-ou@kubernetes","ServiceAddr":"10.1.80.10:8443","ServiceName":"openunison-ou@kubernetes","ServiceURL":"https://10.1.80.10:8443","StartLocal":"2026-11-26T09:00:01.216181234Z","StartUTC":"2026-11-26T09:00:01.216181234Z","entryPointName":"websecure","level":"info","msg":"","time":"2026-11-26T09:00:01Z"}`,
		want: ProxyRecord{Format: ProxyTraefikJSON, Client: mustAddr("203.0.113.9"), Method: "POST", Path: "/auth/idp/k8sIdp/token",
			Status: 200, Upstreams: []netip.AddrPort{ap("10.1.80.10:8443")}, Start: at("2026-11-26T09:00:01.216181234Z"),
			End: at("2026-11-26T09:00:01.231304690Z"), Duration: 15123456, Precision: time.Nanosecond},
	},
}

func TestParseProxyLines(t *testing.T) {
	t.Parallel()
	for _, tt := range proxyLines {
		t.Run(tt.name, func(t *testing.T) {
			line := []byte(tt.line)
			if k := ClassifyLine(line); k != KindProxy {
				t.Fatalf("ClassifyLine says %s", k)
			}
			ev, err := Parse(line, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != KindProxy || ev.Proxy == nil {
				t.Fatalf("kind %s, proxy %v", ev.Kind, ev.Proxy)
			}
			if !reflect.DeepEqual(*ev.Proxy, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *ev.Proxy, tt.want)
			}
			wantTime := tt.want.Start
			if tt.want.Format == ProxyNginx || tt.want.Format == ProxyNginxJSON {
				wantTime = tt.want.End
			}
			if !ev.Time.Equal(wantTime) || ev.IP != tt.want.Client || ev.IdP != "k8sIdp" || ev.URL != tt.want.Path || ev.Raw != tt.line {
				t.Errorf("event time %v ip %v idp %q url %q", ev.Time, ev.IP, ev.IdP, ev.URL)
			}
		})
	}
}

// What a proxy writes besides token requests is other, and costs no parse.
func TestProxyNoiseIsOther(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		`I1126 09:00:00.000000       7 controller.go:214] "Backend successfully reloaded" ingress="openunison/openunison"`,
		`W1126 09:00:00.000000       7 controller.go:1214] Service "default/x" does not have any active Endpoint for /auth/idp/k8sIdp/token`,
		`[2026-11-26 09:00:00.123][1][info][upstream] [source/common/upstream/cds_api_helper.cc:32] cds: add 1 cluster(s) /auth/idp/x/token`,
		`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "GET /auth/idp/k8sIdp/.well-known/openid-configuration HTTP/2.0" 200 1893 "-" "kubectl/v1.32.0" 412 0.015 [ou] [] 10.1.80.10:8443 1893 0.014 200 r`,
		`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "GET /api/v1/namespaces HTTP/2.0" 200 1893 "-" "kubectl/v1.32.0" 412 0.015 [k8sapi] [] 10.1.80.10:8443 1893 0.014 200 r`,
		`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/tokens HTTP/2.0" 200 1893 "-" "x" 412 0.015 [ou] [] 10.1.80.10:8443 1893 0.014 200 r`,
		`{"time":"2026-11-26T09:00:04+00:00","path":"/auth/idp/k8sIdp/certs","remote_addr":"10.0.0.11"}`,
		`{"log":"/auth/idp/k8sIdp/token"}`,
		`not a proxy line /auth/idp/k8sIdp/token`,
		``,
	} {
		if k := ClassifyLine([]byte(line)); k != KindOther {
			t.Errorf("ClassifyLine %s for %q", k, line)
		}
		if ev, _ := Parse([]byte(line), nil); ev.Kind != KindOther {
			t.Errorf("Parse %s for %q", ev.Kind, line)
		}
	}
}

// A token line whose fields break the format's grammar is other with an
// error naming the column; Classify may still pick it out.
func TestParseProxyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ line, msg string }{
		{`203.0.113.9 - - [26/Nov/2026:99:00:04 +0000] "POST /auth/idp/k/token HTTP/1.1" 200 1 "-" "-" 1 0.001 [u] [] 10.1.80.10:8443 1 0.001 200 r`, "column 18: time"},
		{`203.0.113.x - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k/token HTTP/1.1" 200 1 "-" "-" 1 0.001 [u] [] 10.1.80.10:8443 1 0.001 200 r`, "column 1: bad client address"},
		{`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k/token HTTP/1.1" 2x0 1 "-" "-" 1 0.001 [u] [] 10.1.80.10:8443 1 0.001 200 r`, "column 80: bad status"},
		{`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k/token HTTP/1.1" 200 1 "-" "-" 1 abc [u] [] 10.1.80.10:8443 1 0.001 200 r`, "column 96: bad duration"},
	}
	for _, tt := range tests {
		ev, err := Parse([]byte(tt.line), nil)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || ev.Kind != KindOther {
			t.Errorf("Parse(%q) = %s, %v; want an error with %q", tt.line, ev.Kind, err, tt.msg)
		}
	}
}

func TestJSONKeysConfig(t *testing.T) {
	t.Parallel()
	k, err := ParseJSONKeys(" client=realIP, time=ts ,path=req_path,client=cip")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(k.Client, []string{"realIP", "cip"}) || !reflect.DeepEqual(k.Time, []string{"ts"}) {
		t.Fatalf("parsed %+v", k)
	}
	m := DefaultJSONKeys().Merge(JSONKeys{Client: []string{"realIP"}, Agent: []string{"remote_addr"}})
	if m.Client[0] != "realIP" || m.Agent[0] != "remote_addr" {
		t.Fatalf("merged %+v", m)
	}
	for _, c := range m.Client {
		if c == "remote_addr" {
			t.Fatalf("remote_addr stayed a client key after moving to agent: %v", m.Client)
		}
	}
	for _, tt := range []struct{ in, msg string }{
		{"client=a,bogus=b", `column 10: unknown field "bogus"`},
		{"client", `column 1: want FIELD=KEY`},
		{"client=a, time=", `column 11: want FIELD=KEY`},
		{"client=a,agent=a", `column 10: key "a" is given to both client and agent`},
	} {
		if _, err := ParseJSONKeys(tt.in); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseJSONKeys(%q) = %v, want %q", tt.in, err, tt.msg)
		}
	}
}

// Operators' own keys are read once configured, and not before.
func TestSetJSONKeys(t *testing.T) {
	line := []byte(`{"when":"2026-11-26T09:00:04+00:00","who":"203.0.113.9","what":"/auth/idp/k8sIdp/token"}`)
	if k := ClassifyLine(line); k != KindOther {
		t.Fatalf("unknown keys: %s", k)
	}
	extra, err := ParseJSONKeys("time=when,client=who,path=what")
	if err != nil {
		t.Fatal(err)
	}
	SetJSONKeys(DefaultJSONKeys().Merge(extra))
	defer SetJSONKeys(DefaultJSONKeys())
	ev, err := Parse(line, nil)
	if err != nil || ev.Kind != KindProxy || ev.IP != mustAddr("203.0.113.9") {
		t.Fatalf("configured keys: %s %v %v", ev.Kind, ev.IP, err)
	}
}

func TestClassifyProxyAllocatesNothing(t *testing.T) {
	for _, tt := range proxyLines {
		line := []byte(tt.line)
		if n := testing.AllocsPerRun(10, func() { ClassifyLine(line) }); n != 0 {
			t.Errorf("%s: %v allocations", tt.name, n)
		}
	}
}

// The hand-written CLF time reader agrees with time.Parse.
func TestParseCLFTime(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"26/Nov/2026:09:00:04 +0000", "01/Jan/1970:00:00:00 -0000", "29/Feb/2024:23:59:59 +1400", "31/Dec/2026:23:59:59 -0930",
		"29/Feb/2026:00:00:00 +0000", "31/Apr/2026:00:00:00 +0000", "26/Nov/2026:24:00:04 +0000", "26/Nov/2026:09:60:04 +0000",
		"26/Nov/2026:09:00:60 +0000", "26/Xyz/2026:09:00:04 +0000", "26/nov/2026:09:00:04 +0000", "2a/Nov/2026:09:00:04 +0000",
		"26/Nov/2026:09:00:04 +2400", "26/Nov/2026:09:00:04 +0060", "26/Nov/2026:09:00:04 0000", "00/Nov/2026:09:00:04 +0000",
	} {
		want, werr := time.Parse("02/Jan/2006:15:04:05 -0700", s)
		got, ok := parseCLFTime(s)
		// time.Parse also takes "nov" and zones of +2400 or +0060, which
		// no proxy writes; where both read a time it must be the same.
		lenient := strings.Contains(s, "nov") || strings.HasSuffix(s, "+2400") || strings.HasSuffix(s, "+0060")
		if ok && (werr != nil || !got.Equal(want)) || !ok && werr == nil && !lenient {
			t.Errorf("%s: got %v %v, time.Parse %v %v", s, got, ok, want, werr)
		}
	}
}

// Every format's access line to another service tells the log's clock as
// a token request's line would: the same time, where the format logs it.
func TestProxyLineTimeOfOtherRequests(t *testing.T) {
	t.Parallel()
	for _, tt := range proxyLines {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse([]byte(tt.line), nil)
			if err != nil || ev.Kind != KindProxy {
				t.Skipf("not a token request's line (%v)", err)
			}
			other := strings.ReplaceAll(tt.line, "/auth/idp/k8sIdp/token", "/api/v1/namespaces/default/pods")
			if ClassifyLine([]byte(other)) != KindOther {
				t.Fatalf("%q is still a token request's", other)
			}
			if at, ok := ProxyLineTime([]byte(other), nil); !ok || !at.Equal(ev.Time) {
				t.Errorf("ProxyLineTime = %v, %v; want %v", at, ok, ev.Time)
			}
		})
	}
	for _, line := range []string{
		`I1126 09:00:04.000000       7 controller.go:214] "Backend successfully reloaded"`,
		`203.0.113.9 - - [26/Nov/2026:25:00:04 +0000] "GET / HTTP/2.0" 200 1 "-" "-" 1 0.001 [a] [] 10.1.80.10:8443 1 0.001 200 x`,
		"",
	} {
		if at, ok := ProxyLineTime([]byte(line), nil); ok {
			t.Errorf("ProxyLineTime(%q) = %v: want no time", line, at)
		}
	}
}

// nginx listening on a unix socket logs its peer as "unix:" ($remote_addr
// is ngx_sock_ntop's text for AF_UNIX: "unix:" and the peer's bound path,
// which a connecting client rarely has). Such a line is a record naming no
// client, as a "-" is, not a line broken by a bad address: a scan counts
// it as a proxy record and attribution leaves it unattributed.
func TestNginxUnixSocketClient(t *testing.T) {
	t.Parallel()
	const tail = ` [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 5 "-" "curl/8.5.0" 1 0.001 [u] [] 10.1.80.10:8443 5 0.001 200 r1`
	lines := []struct{ name, line string }{
		{"upstreaminfo", `unix: - -` + tail},
		{"upstreaminfo, a bound peer", `unix:/run/client.sock - -` + tail},
		{"upstreaminfo, a dash", `- - -` + tail},
		{"before 2019", `k8sou.apps.example.com - [unix:] - -` + tail},
		{"JSON", `{"time":"2026-11-26T09:00:04+00:00","remote_addr":"unix:","request":"POST /auth/idp/k8sIdp/token HTTP/1.1","status":"200","request_time":"0.001","upstream_addr":"10.1.80.10:8443"}`},
		{"JSON, a bound peer", `{"time":"2026-11-26T09:00:04+00:00","remote_addr":"unix:/run/client.sock","request":"POST /auth/idp/k8sIdp/token HTTP/1.1","status":"200"}`},
		{"JSON, the real IP of an older format", `{"time":"2026-11-26T09:00:04+00:00","the_real_ip":"unix:","path":"/auth/idp/k8sIdp/token","status":200}`},
	}
	var log strings.Builder
	for _, tc := range lines {
		name, line := tc.name, tc.line
		log.WriteString(line + "\n")
		if k := ClassifyLine([]byte(line)); k != KindProxy {
			t.Errorf("%s: ClassifyLine says %s", name, k)
		}
		ev, err := Parse([]byte(line), nil)
		if err != nil || ev.Kind != KindProxy {
			t.Errorf("%s: %s, %v", name, ev.Kind, err)
			continue
		}
		if ev.IP.IsValid() || ev.Proxy.Client.IsValid() || ev.Proxy.Status != 200 || ev.IdP != "k8sIdp" {
			t.Errorf("%s: ip %v, record %+v", name, ev.IP, *ev.Proxy)
		}
	}
	// A proxy's log of such lines: each a record, each a proxy event.
	checkProxyLog(t, log.String(), len(lines))

	// Only nginx writes a unix peer so: "unix" alone, or in another
	// proxy's client field, is still a bad address.
	for _, line := range []string{
		`unix - -` + tail,
		`unixx:/run/x - -` + tail,
		`[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 "-" "curl/8.5.0" "r" "k8sou" "10.1.80.10:8080" outbound|8080||ou 10.1.67.12:45678 10.1.67.12:8443 unix: k8sou -`,
	} {
		if ev, err := Parse([]byte(line), nil); err == nil || !strings.Contains(err.Error(), "bad client address") {
			t.Errorf("Parse(%q) = %s, %v; want a bad client address", line, ev.Kind, err)
		}
	}
}

// Envoy listening on a unix socket logs its downstream peer as the pipe's
// address: %DOWNSTREAM_REMOTE_ADDRESS% is the PipeInstance's asString(),
// sun_path, or "@" and the name for an abstract socket (its NULs printed
// as '@'), and since a unix peer's own name cannot be read, Envoy's
// IoSocketHandle::peerAddress gives the listener's. Such a line is a
// record naming no client, as nginx's "unix:" is: not even
// X-Forwarded-For's, since Envoy logs there the address it took from it.
func TestEnvoyPipeClient(t *testing.T) {
	t.Parallel()
	istio := func(peer string) string {
		return `[2026-11-26T09:00:01.216Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 "203.0.113.9" "curl/8.5.0" "r" "k8sou" "10.1.80.10:8080" outbound|8080||ou 10.1.67.12:45678 ` +
			peer + ` ` + peer + ` k8sou -`
	}
	gateway := func(peer string) string {
		return `{"start_time":"2026-11-26T09:00:01.216Z","method":"POST","x-envoy-origin-path":"/auth/idp/k8sIdp/token","response_code":200,"duration":15,"upstream_host":"10.1.80.10:80",` +
			`"downstream_local_address":` + mustJSON(peer) + `,"downstream_remote_address":` + mustJSON(peer) + `,"x-forwarded-for":"203.0.113.9"}`
	}
	lines := []struct{ name, line string }{
		{"Istio, a socket path", istio("/var/run/ou/envoy.sock")},
		{"Istio, an abstract socket", istio("@envoy-ou")},
		{"Istio, an abstract socket with a NUL in its name", istio("@envoy@ou")},
		{"Istio, an abstract socket with an empty name", istio("@")},
		{"Envoy Gateway, a socket path", gateway("/var/run/eg/envoy.sock")},
		{"Envoy Gateway, an abstract socket", gateway("@envoy-eg")},
	}
	var log strings.Builder
	for _, tc := range lines {
		log.WriteString(tc.line + "\n")
		if k := ClassifyLine([]byte(tc.line)); k != KindProxy {
			t.Errorf("%s: ClassifyLine says %s", tc.name, k)
		}
		ev, err := Parse([]byte(tc.line), nil)
		if err != nil || ev.Kind != KindProxy {
			t.Errorf("%s: %s, %v", tc.name, ev.Kind, err)
			continue
		}
		if ev.IP.IsValid() || ev.Proxy.Client.IsValid() || ev.Proxy.Status != 200 || ev.IdP != "k8sIdp" || ev.Proxy.XFF != "203.0.113.9" {
			t.Errorf("%s: ip %v, record %+v", tc.name, ev.IP, *ev.Proxy)
		}
	}
	// A proxy's log of such lines: each a record, each a proxy event.
	checkProxyLog(t, log.String(), len(lines))

	// Envoy prints no "unix:": that, and a peer that is neither an
	// absolute path, an abstract name nor an address, are still bad
	// addresses.
	for _, line := range []string{
		istio("unix:/var/run/ou/envoy.sock"),
		istio("envoy-ou"),
		gateway("unix:/var/run/eg/envoy.sock"),
		gateway("envoy-eg"),
	} {
		if ev, err := Parse([]byte(line), nil); err == nil || !strings.Contains(err.Error(), "bad client address") {
			t.Errorf("Parse(%q) = %s, %v; want a bad client address", line, ev.Kind, err)
		}
	}
}

// checkProxyLog checks that log, of lines proxy lines, is read as a proxy's
// log: each line a record, each record a proxy event.
func checkProxyLog(t *testing.T, log string, lines int) {
	t.Helper()
	sc := NewScanner(strings.NewReader(log))
	n := 0
	for sc.Scan() {
		ev, err := Parse(sc.Record().Text, nil)
		if err != nil || ev.Kind != KindProxy {
			t.Errorf("record %d: %s, %v", n, ev.Kind, err)
		}
		n++
	}
	if n != lines || !sc.ProxyLog() || sc.Err() != nil {
		t.Errorf("%d records of %d lines, proxy log %v, %v", n, lines, sc.ProxyLog(), sc.Err())
	}
}
