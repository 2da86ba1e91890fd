package loggen

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// ProxyFormat is the access-log format of the proxy in front of OpenUnison,
// named as the parser names it. Package loggen keeps its own names so as
// not to import the parser (see the package doc).
type ProxyFormat string

// The formats of proxies.md.
const (
	ProxyNginx        ProxyFormat = "ingress-nginx"      // default upstreaminfo, $time_local (1 s)
	ProxyNginxJSON    ProxyFormat = "ingress-nginx-json" // a JSON log-format-upstream carrying $msec
	ProxyEnvoy        ProxyFormat = "envoy"              // Envoy's default text format
	ProxyIstio        ProxyFormat = "istio"              // Istio's default text format (an ingress gateway)
	ProxyEnvoyGateway ProxyFormat = "envoy-gateway"      // Envoy Gateway's default JSON
	ProxyTraefik      ProxyFormat = "traefik"            // Traefik's CLF
	ProxyTraefikJSON  ProxyFormat = "traefik-json"       // Traefik's JSON
)

// ProxyFormats lists every format, for tests that cover them all.
func ProxyFormats() []ProxyFormat {
	return []ProxyFormat{ProxyNginx, ProxyNginxJSON, ProxyEnvoy, ProxyIstio, ProxyEnvoyGateway, ProxyTraefik, ProxyTraefikJSON}
}

// Proxy describes the proxy pods in front of the replicas in WritePaired.
type Proxy struct {
	Format ProxyFormat
	// Writers get one proxy pod's access log each; each request picks a
	// pod at random. Required.
	Writers []io.Writer
	// NoiseShare is the share of the proxies' lines that are not token
	// requests: the rest of the cluster's traffic through the same
	// proxy, and the proxy's own klog or info lines. Default 0.98;
	// negative for none.
	NoiseShare float64
}

// ProxyStats counts what the proxies' logs hold, all pods together.
type ProxyStats struct {
	Bytes int64 `json:"bytes"`
	Lines int64 `json:"lines"`
	// TokenRecords counts access lines of token-endpoint requests: one
	// per AzSuccess or AzFail line on the token endpoint in the
	// OpenUnison logs (a grace reuse's two lines are one request).
	TokenRecords int64 `json:"token_records"`
}

// ReplicaAddr returns the pod address (IP:port) of OpenUnison replica i
// behind a proxy of format f: the upstream address the proxy logs.
func ReplicaAddr(f ProxyFormat, i int) string {
	port := "8443"
	switch f {
	case ProxyIstio, ProxyEnvoy:
		port = "8080" // the sidecar hands the request to OpenUnison's HTTP port
	case ProxyEnvoyGateway:
		port = "80"
	}
	return "10.1.80." + strconv.Itoa(10+i) + ":" + port
}

// ProxyPodIP returns the address of proxy pod i.
func ProxyPodIP(i int) string { return "10.1.67." + strconv.Itoa(12+i) }

// PeerIP returns what OpenUnison logs as the address of a request that
// came through proxy pod i: the pod itself, or behind Istio's sidecar its
// inbound passthrough address.
func PeerIP(f ProxyFormat, i int) string {
	if f == ProxyIstio || f == ProxyEnvoy {
		return "127.0.0.6"
	}
	return ProxyPodIP(i)
}

// WritePaired writes, like WriteReplicas, the logs of len(ous) OpenUnison
// replicas, but as they look behind a proxy: every request from outside
// the cluster (all but kubelet probes and the API servers' key fetches)
// reaches OpenUnison through one of the proxy pods, so OpenUnison logs
// PeerIP, and that pod's access log (px.Writers) records the real client,
// its user agent (Go-http-client/2.0 for client-go's refreshes and races,
// curl or python-requests for replays), and ReplicaAddr as upstream, at
// times that bracket OpenUnison's as proxies.md's "Timing" says. Each token
// request gets one access line; NoiseShare of the lines are other traffic.
// The OpenUnison logs differ from WriteReplicas's only in those addresses.
func WritePaired(ous []io.Writer, cfg Config, px Proxy) (Stats, ProxyStats, error) {
	if len(ous) == 0 {
		return Stats{}, ProxyStats{}, &ConfigError{Field: "writers", Msg: "must not be empty"}
	}
	if len(px.Writers) == 0 {
		return Stats{}, ProxyStats{}, &ConfigError{Field: "Proxy.Writers", Msg: "must not be empty"}
	}
	if err := px.fill(); err != nil {
		return Stats{}, ProxyStats{}, err
	}
	if err := cfg.fill(); err != nil {
		return Stats{}, ProxyStats{}, err
	}
	g := newGen(cfg, len(ous))
	outs := make([]*bufio.Writer, len(ous))
	for i, w := range ous {
		outs[i] = bufio.NewWriterSize(w, 256<<10)
	}
	g.outs = outs
	p := &proxyGen{cfg: px, r: rng{s: uint64(cfg.Seed) ^ 0x9e3779b97f4a7c15}, gen: g}
	for _, w := range px.Writers {
		p.pods = append(p.pods, proxyPod{w: bufio.NewWriterSize(w, 256<<10)})
	}
	g.px = p
	err := g.run()
	for _, o := range outs {
		if ferr := o.Flush(); err == nil {
			err = ferr
		}
	}
	for i := range p.pods {
		if ferr := p.pods[i].w.Flush(); err == nil {
			err = ferr
		}
	}
	return g.stats, p.stats, err
}

func (px *Proxy) fill() error {
	switch px.Format {
	case ProxyNginx, ProxyNginxJSON, ProxyEnvoy, ProxyIstio, ProxyEnvoyGateway, ProxyTraefik, ProxyTraefikJSON:
	case "":
		px.Format = ProxyNginx
	default:
		return cfgErr("Proxy.Format", "%q is none of %v", px.Format, ProxyFormats())
	}
	switch {
	case px.NoiseShare == 0:
		px.NoiseShare = 0.98
	case px.NoiseShare < 0:
		px.NoiseShare = 0
	case px.NoiseShare >= 1:
		return cfgErr("Proxy.NoiseShare", "must be below 1, got %g", px.NoiseShare)
	}
	return nil
}

// proxyGen writes the proxies' logs alongside a gen. It draws from its own
// generator, so the OpenUnison logs' other bytes stay those of
// WriteReplicas with the same Config.
type proxyGen struct {
	cfg   Proxy
	r     rng
	gen   *gen
	pods  []proxyPod
	stats ProxyStats
	buf   []byte

	pod     int     // the pod the current request came through
	agent   string  // the client's User-Agent for the next token request
	pending []pxReq // token requests of the record group being built
	peerIP  string  // what OpenUnison logged for the current request
}

type proxyPod struct {
	w    *bufio.Writer
	last int64 // ms since Start of the pod's last line
}

// pxReq is one request as a proxy logs it.
type pxReq struct {
	client, method, host, path, agent, upstream string
	status, size, pod                           int
	start, dur                                  int64 // ms since Start, ms
	id                                          uint64
}

var (
	thiefAgents = []string{"curl/8.5.0", "python-requests/2.31.0", "curl/7.88.1"}
	noiseAgents = []string{
		"kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Prometheus/2.54.1", "Go-http-client/1.1", "k9s/v0.32.5 (darwin/arm64) kubernetes/$Format", "argocd/v2.13.1",
	}
	noiseHosts = []string{"grafana.apps.example.com", "argocd.apps.example.com", "shop.example.com", "api.example.com"}
	noisePaths = []string{
		"/api/v1/namespaces/default/pods", "/apis/apps/v1/deployments?limit=500", "/api/datasources/proxy/1/api/v1/query_range",
		"/static/js/main.8a3c1f.js", "/", "/healthz", "/api/v1/orders?page=2", "/login", "/favicon.ico",
	}
	ouNoisePaths = []string{
		idpPath + "/.well-known/openid-configuration", idpPath + "/certs", idpPath + "/auth?client_id=kubernetes",
		"/dashboard/", "/auth/forms/login.jsp",
	}
	klogLines = []string{
		`controller.go:214] "Configuration changes detected, backend reload required"`,
		`controller.go:228] "Backend successfully reloaded"`,
		`event.go:377] Event(v1.ObjectReference{Kind:"Pod", Namespace:"ingress-nginx", Name:"ingress-nginx-controller"}): type: 'Normal' reason: 'RELOAD' NGINX reload triggered due to a change in configuration`,
		`store.go:440] "Found valid IngressClass" ingress="openunison/openunison" ingressclass="nginx"`,
	}
	envoyInfo = []string{
		"[upstream] [source/common/upstream/cds_api_helper.cc:32] cds: add 12 cluster(s), remove 0 cluster(s)",
		"[main] [source/server/drain_manager_impl.cc:208] shutting down parent after drain",
		"[upstream] [source/common/upstream/cluster_manager_impl.cc:235] cm init: all clusters initialized",
	}
)

// peer returns what OpenUnison logs for a request from ip: the proxy pod
// it came through, chosen here, unless it never left the cluster.
func (p *proxyGen) peer(ip string) string {
	if ip == "127.0.0.1" || p.gen.isAPIServer(ip) {
		return ip
	}
	p.pod = p.r.intn(len(p.pods))
	p.peerIP = PeerIP(p.cfg.Format, p.pod)
	return p.peerIP
}

// token records the proxy's line of a token request, written once the
// record group's replica is known (flush).
func (p *proxyGen) token(client string, status int) {
	agent := p.agent
	if agent == "" {
		agent = "Go-http-client/2.0"
	}
	p.agent = ""
	g := p.gen
	before := int64(p.r.between(1, 5))
	p.pending = append(p.pending, pxReq{
		client: client, method: "POST", host: g.cfg.Host, path: idpPath + "/token", agent: agent, status: status,
		size: p.r.between(1400, 2600), start: g.now - before, dur: before + int64(p.r.between(1, 20)), id: p.r.next(), pod: p.pod,
	})
	p.stats.TokenRecords++
}

// flush writes the token requests of a record group served by replica rep,
// each after its share of the pod's other traffic.
func (p *proxyGen) flush(rep int) error {
	for _, req := range p.pending {
		pod := &p.pods[req.pod]
		req.upstream = ReplicaAddr(p.cfg.Format, rep)
		if err := p.noise(req.pod, req.start); err != nil {
			return err
		}
		p.buf = p.appendLine(p.buf[:0], &req)
		if err := p.write(pod, req.start+req.dur); err != nil {
			return err
		}
	}
	p.pending = p.pending[:0]
	return nil
}

func (p *proxyGen) write(pod *proxyPod, at int64) error {
	pod.last = max(pod.last, at)
	p.stats.Lines++
	p.stats.Bytes += int64(len(p.buf))
	_, err := pod.w.Write(p.buf)
	return err
}

// noise writes the pod's other lines up to time until: on average
// NoiseShare/(1-NoiseShare) of them per token request.
func (p *proxyGen) noise(podIdx int, until int64) error {
	share := p.cfg.NoiseShare
	if share == 0 {
		return nil
	}
	pod := &p.pods[podIdx]
	n := int(p.r.exp(share/(1-share)) + 0.5)
	from := pod.last
	if until < from {
		until = from
	}
	for k := range n {
		at := from + (until-from)*int64(k+1)/int64(n+1)
		p.buf = p.appendNoise(p.buf[:0], at, podIdx)
		if err := p.write(pod, at); err != nil {
			return err
		}
	}
	return nil
}

func (p *proxyGen) appendNoise(b []byte, at int64, pod int) []byte {
	g := p.gen
	x := p.r.intn(1000)
	switch f := p.cfg.Format; {
	case x < 8 && (f == ProxyNginx || f == ProxyNginxJSON):
		return p.appendKlog(b, at)
	case x < 4 && (f == ProxyEnvoy || f == ProxyIstio):
		t := time.UnixMilli(g.startMs + at).UTC()
		b = t.AppendFormat(append(b, '['), "2006-01-02 15:04:05.000")
		b = append(b, "][1][info]"...)
		return append(append(b, envoyInfo[p.r.intn(len(envoyInfo))]...), '\n')
	}
	req := pxReq{method: "GET", status: 200, size: p.r.between(200, 90000), start: at - int64(p.r.between(1, 30)), id: p.r.next(), pod: pod}
	req.dur = at - req.start
	u := &g.users[p.r.intn(len(g.users))]
	req.client = u.ips[0]
	req.agent = noiseAgents[p.r.intn(len(noiseAgents))]
	if x < 250 {
		// OpenUnison's own host, but not its token endpoint.
		req.host, req.path = g.cfg.Host, ouNoisePaths[p.r.intn(len(ouNoisePaths))]
		req.upstream = ReplicaAddr(p.cfg.Format, p.r.intn(len(g.outs)))
	} else {
		req.host, req.path = noiseHosts[p.r.intn(len(noiseHosts))], noisePaths[p.r.intn(len(noisePaths))]
		req.upstream = "10.1.9" + strconv.Itoa(p.r.intn(10)) + "." + strconv.Itoa(p.r.between(2, 250)) + ":8080"
		if x%7 == 0 {
			req.method = "POST"
		}
		if x%11 == 0 {
			req.status = 404
		}
	}
	return p.appendLine(b, &req)
}

func (p *proxyGen) appendKlog(b []byte, at int64) []byte {
	t := time.UnixMilli(p.gen.startMs + at).UTC()
	b = append(b, 'I')
	b = t.AppendFormat(b, "0102 15:04:05.000000")
	b = append(b, "       7 "...)
	return append(append(b, klogLines[p.r.intn(len(klogLines))]...), '\n')
}

// appendCLFHead writes the common-log-format head nginx and Traefik share:
// client, time, request line, status and size.
func appendCLFHead(b []byte, r *pxReq, ms int64) []byte {
	b = append(b, r.client...)
	b = append(b, " - - ["...)
	b = time.UnixMilli(ms).UTC().AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `] "`...)
	b = append(b, r.method...)
	b = append(b, ' ')
	b = append(b, r.path...)
	b = append(b, ` HTTP/2.0" `...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, int64(r.size), 10)
}

// appendLine writes req in the proxy's format.
func (p *proxyGen) appendLine(b []byte, r *pxReq) []byte {
	startMs := p.gen.startMs + r.start
	endMs := startMs + r.dur
	switch p.cfg.Format {
	case ProxyNginx:
		b = appendCLFHead(b, r, endMs) // nginx logs when the request ends
		b = append(b, ` "-" "`...)
		b = append(b, r.agent...)
		b = append(b, `" `...)
		b = strconv.AppendInt(b, int64(p.r.between(90, 900)), 10)
		b = append(b, ' ')
		b = appendSeconds(b, r.dur)
		b = append(b, " [openunison-openunison-orchestra-443] [] "...)
		b = append(b, r.upstream...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.size), 10)
		b = append(b, ' ')
		b = appendSeconds(b, max(r.dur-1, 0))
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, ' ')
		b = appendID(b, r.id)
	case ProxyNginxJSON:
		b = append(b, `{"msec":"`...)
		b = strconv.AppendInt(b, endMs/1000, 10)
		b = append(b, '.')
		b = append(b, byte('0'+endMs%1000/100), byte('0'+endMs%100/10), byte('0'+endMs%10))
		b = append(b, `","remote_addr":"`...)
		b = append(b, r.client...)
		b = append(b, `","host":"`...)
		b = append(b, r.host...)
		b = append(b, `","request":"`...)
		b = append(b, r.method...)
		b = append(b, ' ')
		b = append(b, r.path...)
		b = append(b, ` HTTP/2.0","status":"`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `","request_time":"`...)
		b = appendSeconds(b, r.dur)
		b = append(b, `","upstream_addr":"`...)
		b = append(b, r.upstream...)
		b = append(b, `","http_user_agent":"`...)
		b = append(b, r.agent...)
		b = append(b, `","request_id":"`...)
		b = appendID(b, r.id)
		b = append(b, `"}`...)
	case ProxyEnvoy, ProxyIstio:
		b = append(b, '[')
		b = time.UnixMilli(startMs).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, `] "`...)
		b = append(b, r.method...)
		b = append(b, ' ')
		b = append(b, r.path...)
		b = append(b, ` HTTP/2" `...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, " - "...)
		if p.cfg.Format == ProxyIstio {
			b = append(b, `via_upstream - "-" `...)
		}
		b = strconv.AppendInt(b, int64(p.r.between(90, 900)), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(r.size), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.dur, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, max(r.dur-1, 0), 10)
		b = append(b, ` "`...)
		b = append(b, r.client...)
		b = append(b, `" "`...)
		b = append(b, r.agent...)
		b = append(b, `" "`...)
		b = appendID(b, r.id)
		b = append(b, `" "`...)
		b = append(b, r.host...)
		b = append(b, `" "`...)
		b = append(b, r.upstream...)
		b = append(b, '"')
		if p.cfg.Format == ProxyIstio {
			b = append(b, " outbound|8080||openunison-orchestra.openunison.svc.cluster.local "...)
			pod := ProxyPodIP(r.pod)
			b = append(b, pod...)
			b = append(b, ":4"...)
			b = strconv.AppendInt(b, int64(p.r.between(1000, 9999)), 10)
			b = append(b, ' ')
			b = append(b, pod...)
			b = append(b, ":8443 "...)
			b = appendHost(b, r.client)
			b = append(b, ":5"...)
			b = strconv.AppendInt(b, int64(p.r.between(1000, 9999)), 10)
			b = append(b, ' ')
			b = append(b, r.host...)
			b = append(b, " -"...)
		}
	case ProxyEnvoyGateway:
		b = append(b, `{":authority":"`...)
		b = append(b, r.host...)
		b = append(b, `","bytes_received":0,"bytes_sent":`...)
		b = strconv.AppendInt(b, int64(r.size), 10)
		b = append(b, `,"downstream_remote_address":"`...)
		b = appendHost(b, r.client)
		b = append(b, `:5`...)
		b = strconv.AppendInt(b, int64(p.r.between(1000, 9999)), 10)
		b = append(b, `","duration":`...)
		b = strconv.AppendInt(b, r.dur, 10)
		b = append(b, `,"method":"`...)
		b = append(b, r.method...)
		b = append(b, `","protocol":"HTTP/2","response_code":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"response_flags":"-","start_time":"`...)
		b = time.UnixMilli(startMs).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		b = append(b, `","upstream_host":"`...)
		b = append(b, r.upstream...)
		b = append(b, `","upstream_local_address":"`...)
		b = append(b, ProxyPodIP(r.pod)...)
		b = append(b, `:3`...)
		b = strconv.AppendInt(b, int64(p.r.between(1000, 9999)), 10)
		b = append(b, `","user-agent":"`...)
		b = append(b, r.agent...)
		b = append(b, `","x-envoy-origin-path":"`...)
		b = append(b, r.path...)
		b = append(b, `","x-forwarded-for":"`...)
		b = append(b, r.client...)
		b = append(b, `","x-request-id":"`...)
		b = appendID(b, r.id)
		b = append(b, `"}`...)
	case ProxyTraefik:
		b = appendCLFHead(b, r, startMs) // Traefik logs when it started
		b = append(b, ` "-" "-" `...)
		b = strconv.AppendInt(b, int64(r.id%100000), 10)
		b = append(b, ` "openunison@kubernetes" "https://`...)
		b = append(b, r.upstream...)
		b = append(b, `" `...)
		b = strconv.AppendInt(b, r.dur, 10)
		b = append(b, "ms"...)
	case ProxyTraefikJSON:
		ns := int64(p.r.intn(1_000_000))
		b = append(b, `{"ClientAddr":"`...)
		b = appendHost(b, r.client)
		b = append(b, `:5`...)
		b = strconv.AppendInt(b, int64(p.r.between(1000, 9999)), 10)
		b = append(b, `","ClientHost":"`...)
		b = append(b, r.client...)
		b = append(b, `","DownstreamStatus":`...)
		b = strconv.AppendInt(b, int64(r.status), 10)
		b = append(b, `,"Duration":`...)
		b = strconv.AppendInt(b, r.dur*1_000_000+ns/2, 10)
		b = append(b, `,"RequestHost":"`...)
		b = append(b, r.host...)
		b = append(b, `","RequestMethod":"`...)
		b = append(b, r.method...)
		b = append(b, `","RequestPath":"`...)
		b = append(b, r.path...)
		b = append(b, `","ServiceAddr":"`...)
		b = append(b, r.upstream...)
		b = append(b, `","StartUTC":"`...)
		b = time.UnixMilli(startMs).UTC().Add(time.Duration(ns)).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","request_User-Agent":"`...)
		b = append(b, r.agent...)
		b = append(b, `","level":"info","msg":""}`...)
	}
	return append(b, '\n')
}

// request notes a request OpenUnison logs as an access line from ip and
// returns the address OpenUnison logs instead; a token request also gets
// its line in the proxy's log.
func (p *proxyGen) request(event, url, ip string) string {
	peer := p.peer(ip)
	if peer != ip && url == p.gen.tokenURL {
		status := 200
		if event == "AzFail" {
			status = 401
		}
		p.token(ip, status)
	}
	return peer
}

// appendHost writes an address as the host of host:port, IPv6 bracketed.
func appendHost(b []byte, ip string) []byte {
	if strings.IndexByte(ip, ':') >= 0 {
		return append(append(append(b, '['), ip...), ']')
	}
	return append(b, ip...)
}

// appendSeconds writes ms as nginx's seconds with milliseconds: "0.015".
func appendSeconds(b []byte, ms int64) []byte {
	b = strconv.AppendInt(b, ms/1000, 10)
	return append(b, '.', byte('0'+ms%1000/100), byte('0'+ms%100/10), byte('0'+ms%10))
}

func appendID(b []byte, id uint64) []byte {
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexDigits[id>>uint(s)&0xf])
	}
	return b
}
