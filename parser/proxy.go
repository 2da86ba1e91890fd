package parser

import (
	"bytes"
)

// A proxy's access log carries every request of the cluster; only those to
// OpenUnison's token endpoint matter. Every such line holds idpMarker, so a
// line without it is noise after one search, and only the ~2% that hold it
// are read field by field.
const idpMarker = "/auth/idp/"

// indexMarker is bytes.Index(b, idpMarker), faster on access logs: paths
// and CLF dates are full of its first byte, '/', and 'h' is its rarest in
// access logs (one in 100 to 150).
func indexMarker(b []byte) int { return indexByRare(b, idpMarker, 4) }

// proxyFields are the pieces of one access line, each a slice of the line
// (JSON string values still escaped when escaped is set): reading them
// allocates nothing, so Classify can use them.
type proxyFields struct {
	format ProxyFormat
	client []byte // an address, with a port in Envoy's and Traefik's formats
	// clientHeader says the format logged no peer: the client is
	// X-Forwarded-For's last entry as Envoy reads it (lastForwardedEnvoy;
	// only Envoy's formats log no peer), a header's text, and
	// one that is no address ("unknown", a client's own garbage when
	// nothing in front of the proxy appends) leaves the record without a
	// client, where a logged address field that is none means the line is
	// not of the format.
	clientHeader bool
	// bracketPeer is the first word of a line read as ingress-nginx's
	// older variant, whose client is bracketed after it (bracketedClient).
	bracketPeer []byte
	xff         []byte
	agent       []byte
	method      []byte
	target      []byte // the request target, query included
	status      []byte
	upstream    []byte // "a:1, b:2 : c:3", or Traefik's service URL
	upLocal     []byte
	requestID   []byte
	time        []byte
	dur         []byte
	durUnit     durUnit
	escaped     bool // JSON: values may hold escapes
}

// durUnit is how a format writes a request's duration.
type durUnit uint8

const (
	durSeconds durUnit = iota // nginx $request_time: "0.015"
	durMillis                 // Envoy %DURATION%: "15"
	durNanos                  // Traefik JSON Duration
	durSuffix                 // Traefik CLF: "15ms"
)

// classifyProxy is ClassifyLine for lines that are no log4j2 record.
func classifyProxy(line []byte) Kind {
	m := indexMarker(line)
	if m < 0 || !hasTokenEnd(line[m:]) {
		return KindOther
	}
	var f proxyFields
	if !scanProxy(line, &f) || !f.isToken() {
		return KindOther
	}
	return KindProxy
}

// hasTokenEnd reports whether b holds "/token" where a request target
// can end: before a space (the protocol), a quote, a query or a fragment,
// or where a JSON value written without quotes ends (',', '}', ']', a tab
// or a CR: the JSON reader takes such a value as it stands).
// A token request's path ends so after its idpMarker, and the quarter of a
// proxy's lines that are OpenUnison's other endpoints (discovery, keys,
// login) do not: they are ruled out here without reading their fields.
// 'k' is the rarest byte of "/token".
func hasTokenEnd(b []byte) bool {
	const at = 3 // the 'k' of "/token"
	for i := at; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], 'k')
		if j < 0 {
			return false
		}
		i += j
		if i+3 < len(b) && string(b[i-at:i+3]) == "/token" {
			switch b[i+3] {
			case ' ', '"', '?', '#', ',', '}', ']', '\t', '\r':
				return true
			}
		}
	}
	return false
}

// isToken reports whether the request went to an IdP's token endpoint.
// A JSON value is matched as written, escapes and all: no proxy escapes
// '/', and reading the path unescaped would let a line without idpMarker
// be a token request after all.
func (f *proxyFields) isToken() bool {
	return isTokenEndpoint(pathOf(f.target))
}

// pathOf returns a request target without its query or fragment.
func pathOf(target []byte) []byte {
	for i, c := range target {
		if c == '?' || c == '#' {
			return target[:i]
		}
	}
	return target
}

// scanProxy reads line as any proxy format it can be, by its first byte:
// JSON objects, Envoy's and Istio's "[START_TIME]", and the CLF-like lines of
// ingress-nginx and Traefik. It needs nothing of the lines before: a
// source's klog or Envoy info lines never decide how the next is read.
func scanProxy(line []byte, f *proxyFields) bool {
	if len(line) == 0 {
		return false
	}
	switch line[0] {
	case '{':
		return scanJSON(line, f)
	case '[':
		return scanEnvoy(line, f)
	}
	return scanCLF(line, f)
}

// looksProxy reports whether a line is a proxy's: an access line of any
// path, or the klog lines ingress-nginx writes between them. A source
// whose lines look so is read a line a record (see Assembler).
func looksProxy(line []byte) bool {
	if isKlog(line) {
		return true
	}
	var f proxyFields
	return scanProxy(line, &f)
}

// isEnvoyLog reports a line of Envoy's own log, "[2026-11-26
// 09:00:00.123][1][info][main] [source/server/server.cc:1] starting",
// which Envoy writes to the stdout its access lines go to. Its stamp has
// log4j2's shape, so it passed for OpenUnison's: an Envoy Gateway pod's
// log, which opens with such lines, was read as OpenUnison's, its JSON
// access lines joined to them as a stack trace's. OpenUnison's thread is
// followed by a space and the level; Envoy's thread id, digits, by the
// level in brackets.
func isEnvoyLog(line []byte) bool {
	if !isLog4jShape(line) {
		return false
	}
	i := stampLen + 1
	for i < len(line) && isDigit(line[i]) {
		i++
	}
	if i == stampLen+1 || i+1 >= len(line) || line[i] != ']' || line[i+1] != '[' {
		return false
	}
	rest := line[i+2:]
	for _, level := range []string{"trace]", "debug]", "info]", "warning]", "error]", "critical]"} {
		if bytes.HasPrefix(rest, []byte(level)) {
			return true
		}
	}
	return false
}

// isKlog reports a klog header: "I1126 09:00:00.000000 …".
func isKlog(b []byte) bool {
	const n = len("I1126 09:00:00.000000 ")
	if len(b) < n {
		return false
	}
	switch b[0] {
	case 'I', 'W', 'E', 'F':
	default:
		return false
	}
	for i := 1; i < n-1; i++ {
		c := b[i]
		switch i {
		case 5:
			if c != ' ' {
				return false
			}
		case 8, 11:
			if c != ':' {
				return false
			}
		case 14:
			if c != '.' {
				return false
			}
		default:
			if !isDigit(c) {
				return false
			}
		}
	}
	return b[n-1] == ' '
}

// cursor walks a text access line field by field.
type cursor struct {
	b []byte
	i int
}

func (c *cursor) peek() byte {
	if c.i < len(c.b) {
		return c.b[c.i]
	}
	return 0
}

// lit consumes s if the line continues with it.
func (c *cursor) lit(s string) bool {
	if len(c.b)-c.i >= len(s) && string(c.b[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// word returns the text up to the next space (or the end) and consumes
// the space.
func (c *cursor) word() ([]byte, bool) {
	if c.i >= len(c.b) {
		return nil, false
	}
	rest := c.b[c.i:]
	j := bytes.IndexByte(rest, ' ')
	if j < 0 {
		c.i = len(c.b)
		return rest, true
	}
	c.i += j + 1
	return rest[:j], j > 0
}

// quoted reads `"text"` and the space after it, if any. nginx escapes a
// quote inside a value (as \x22, or \" with escape=json), so the first
// quote not after a backslash closes it. Envoy escapes nothing: the
// headers it logs are read by scanEnvoyEnd and scanIstioEnd instead.
func (c *cursor) quoted() ([]byte, bool) {
	if c.peek() != '"' {
		return nil, false
	}
	start := c.i + 1
	for j := start; j < len(c.b); j++ {
		switch c.b[j] {
		case '\\':
			j++
		case '"':
			c.i = j + 1
			if c.i < len(c.b) {
				if c.b[c.i] != ' ' {
					return nil, false
				}
				c.i++
			}
			return c.b[start:j], true
		}
	}
	return nil, false
}

// bracketed reads "[text]" and the space after it, if any.
func (c *cursor) bracketed() ([]byte, bool) {
	if c.peek() != '[' {
		return nil, false
	}
	j := bytes.IndexByte(c.b[c.i:], ']')
	if j < 0 {
		return nil, false
	}
	v := c.b[c.i+1 : c.i+j]
	c.i += j + 1
	if c.i < len(c.b) {
		if c.b[c.i] != ' ' {
			return nil, false
		}
		c.i++
	}
	return v, true
}

// group reads one of nginx's upstream variables, which list a value per
// upstream tried: "a, b" and, after an internal redirect, "a : b".
func (c *cursor) group() ([]byte, bool) {
	start, end := c.i, -1
	for {
		w, ok := c.word()
		if !ok {
			break
		}
		end = offsetIn(c.b, w) + len(w)
		if len(w) > 0 && w[len(w)-1] == ',' {
			continue
		}
		if !c.lit(": ") {
			break
		}
	}
	if end <= start {
		return nil, false
	}
	return c.b[start:end], true
}

// offsetIn returns where sub, a slice of b, starts in b.
func offsetIn(b, sub []byte) int { return cap(b) - cap(sub) }

// splitRequest splits nginx's "$request" or Envoy's "METHOD PATH PROTOCOL".
func splitRequest(req []byte) (method, target []byte) {
	sp := bytes.IndexByte(req, ' ')
	if sp < 0 {
		return nil, req
	}
	method, target = req[:sp], req[sp+1:]
	if last := bytes.LastIndexByte(target, ' '); last >= 0 {
		target = target[:last]
	}
	return method, target
}

// scanCLF reads ingress-nginx's upstreaminfo (both variants) and Traefik's
// CLF, which share their start:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" …
//	%v - [$the_real_ip] - $remote_user [$time_local] "$request" …   (ingress-nginx before 2019)
//	ClientHost - ClientUsername [StartUTC] "Method Path Protocol" Status Size "Referer" "User-Agent" …   (Traefik)
func scanCLF(line []byte, f *proxyFields) bool {
	c := cursor{b: line}
	first, ok := c.word()
	if !ok || !c.lit("- ") {
		return false
	}
	var bracketed []byte
	if c.peek() == '[' {
		// The older ingress-nginx variant: the client is bracketed. Or a
		// user name that starts with one, which nginx and Traefik both
		// write as the client sent it: told apart below.
		start := c.i
		if bracketed, ok = c.bracketed(); !ok || !c.lit("- ") {
			bracketed, c.i = nil, start
		}
	}
	f.client = first
	from := c.i
	// The user name is any a client sent in a Basic Authorization header,
	// spaces and brackets included, and nginx escapes only its quotes (as
	// \x22, or \" with escape=json): the time is the bracketed field
	// before the first `] "`, which opens the request.
	q := bytes.Index(line[from:], []byte(`] "`)) + from
	f0 := *f
	if !clfFrom(line, from, q, f) {
		if bracketed != nil {
			*f = f0
			from = offsetIn(line, bracketed) - 1
			bracketed = nil // the user name's: the line has no other time
			q = bytes.Index(line[from:], []byte(`] "`)) + from
			if clfFrom(line, from, q, f) {
				goto read
			}
		}
		// Traefik's user name may hold a `] "` that reads as no time
		// (one left no user name before it, say): its time is a later
		// one. nginx's holds no quote, and its lines read at the first.
		for {
			k := bytes.Index(line[q+1:], []byte(`] "`))
			if q < from || k < 0 {
				return false
			}
			q += 1 + k
			if *f = f0; clfFrom(line, from, q, f) && f.format == ProxyTraefik {
				break
			}
		}
	}
read:
	if f.format == ProxyTraefik {
		// Traefik writes the user name of an absolute request target's
		// userinfo decoded and unquoted, so a client can write a whole
		// `[TIME] "REQUEST" STATUS SIZE "` into it, as into the Referer
		// and User-Agent after the real one. Read two ways that disagree,
		// the line stands naming no client, a token request if either way
		// is one: never lost, and never another client's.
		traefikAgree(line, from, q, f)
		return true
	}
	if bracketed != nil {
		f.client, f.bracketPeer = bracketed, first
	}
	return true
}

// clfFrom reads CLF from the time whose `] "` is at q, past the client
// and user name at from.
func clfFrom(line []byte, from, q int, f *proxyFields) bool {
	if q < from+1 {
		return false
	}
	open := bytes.LastIndexByte(line[from:q], '[') + from
	if open <= from || line[open-1] != ' ' {
		return false
	}
	c := cursor{b: line, i: open}
	if !scanTimeRequestStatus(&c, f) {
		return false
	}
	if _, ok := c.word(); !ok { // bytes sent
		return false
	}
	if scanTraefikEnd(line[c.i:], f) {
		return true
	}
	var ok bool
	if _, ok = c.quoted(); !ok { // referer
		return false
	}
	if f.agent, ok = c.quoted(); !ok {
		return false
	}
	if _, ok = c.word(); !ok { // $request_length
		return false
	}
	return scanNginxTail(&c, f)
}

// traefikAgree checks every later `] "` of a Traefik line read from the
// one at q that reads as its time: one giving another time, request or
// status leaves f naming no client, and read as a token request if that
// one is and f is not.
func traefikAgree(line []byte, from, q int, f *proxyFields) {
	for i := q + 1; ; {
		k := bytes.Index(line[i:], []byte(`] "`))
		if k < 0 {
			return
		}
		i += k + 1
		var g proxyFields
		if !clfFrom(line, from, i-1, &g) || g.format != ProxyTraefik {
			continue
		}
		if !bytes.Equal(g.time, f.time) || !bytes.Equal(g.method, f.method) ||
			!bytes.Equal(g.target, f.target) || !bytes.Equal(g.status, f.status) {
			if !f.isToken() && g.isToken() {
				*f = g
			}
			f.client, f.agent = nil, nil
		}
	}
}

// scanNginxTail reads "$request_time [$proxy_upstream_name]
// [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length
// $upstream_response_time $upstream_status $req_id"; the older format lacks
// the alternative upstream and the request id.
func scanNginxTail(c *cursor, f *proxyFields) bool {
	f.format = ProxyNginx
	var ok bool
	if f.dur, ok = c.word(); !ok {
		return false
	}
	f.durUnit = durSeconds
	if _, ok = c.bracketed(); !ok {
		return false
	}
	if c.peek() == '[' {
		if _, ok = c.bracketed(); !ok {
			return false
		}
	}
	if f.upstream, ok = c.group(); !ok {
		return false
	}
	for range 3 { // response length, response time, status
		if _, ok = c.group(); !ok {
			return true
		}
	}
	f.requestID, _ = c.word()
	return true
}

// scanTraefikEnd reads the end of Traefik's CLF, `"Referer" "User-Agent"
// RequestCount "RouterName" "ServiceURL" Durationms`, from the line's end:
// Traefik quotes the two headers as they came (traefik/traefik#11722;
// releases since escape a quote as \"), so only the fields after them are
// anchored, and the agent is read only when one separator parts the two.
// No ingress-nginx line ends in "ms".
func scanTraefikEnd(rest []byte, f *proxyFields) bool {
	if len(rest) == 0 || rest[len(rest)-1] != 's' {
		return false // every ingress-nginx line, at once
	}
	sp := bytes.LastIndexByte(rest, ' ')
	dur := rest[sp+1:]
	if sp < 0 || len(dur) < 3 || !bytes.HasSuffix(dur, []byte("ms")) || !allDigits(dur[:len(dur)-2]) {
		return false
	}
	b := rest[:sp]
	// `"RouterName" "ServiceURL"`: neither holds a quote.
	if len(b) < 2 || b[len(b)-1] != '"' {
		return false
	}
	j := bytes.LastIndex(b[:len(b)-1], envoySep)
	if j < 0 || bytes.IndexByte(b[j+3:len(b)-1], '"') >= 0 {
		return false
	}
	url := b[j+3 : len(b)-1]
	o := bytes.LastIndexByte(b[:j], '"')
	if o < 2 || b[o-1] != ' ' {
		return false
	}
	b = b[:o-1]
	sp = bytes.LastIndexByte(b, ' ')
	// `"Referer" "User-Agent"` before it, of two quotes at least.
	if sp < 2 || !allDigits(b[sp+1:]) || b[sp-1] != '"' || b[0] != '"' {
		return false
	}
	headers := b[1 : sp-1] // Referer" "User-Agent
	if k := bytes.Index(headers, envoySep); k >= 0 && !bytes.Contains(headers[k+1:], envoySep) {
		f.agent = headers[k+3:]
	} else if k < 0 {
		return false
	}
	f.format = ProxyTraefik
	f.upstream, f.dur, f.durUnit = url, dur, durSuffix
	return true
}

// scanEnvoy reads Envoy's default format and Istio's, which inserts three
// fields after the response flags and appends the addresses:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//	[…] "…" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% … "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%
func scanEnvoy(line []byte, f *proxyFields) bool {
	c := cursor{b: line}
	if !scanTimeRequestStatus(&c, f) || !scanEnvoyCounts(&c, f) {
		return false
	}
	rest := line[c.i:]
	if f.format == ProxyEnvoy {
		// The default format logs no downstream address: the last
		// X-Forwarded-For entry is the one an edge Envoy appended.
		f.clientHeader = true
	}
	if bytes.Count(rest, quoteSep) == 2*(numEnvoyHeaders+1) && scanEnvoyPlain(rest, f) {
		// Nearly every line: no header holds a quote, so each field ends
		// at its closing one, and one pass reads them.
		return true
	}
	if f.format == ProxyEnvoy {
		return scanEnvoyEnd(rest, f)
	}
	return scanIstioEnd(rest, f)
}

var quoteSep = []byte{'"'}

// scanEnvoyPlain reads what scanEnvoyEnd and scanIstioEnd read, from a
// rest whose only quotes are the fields' own, and sets f only when it
// reads it whole.
func scanEnvoyPlain(rest []byte, f *proxyFields) bool {
	var q [numEnvoyHeaders + 1][]byte // the headers, then %UPSTREAM_HOST%
	i := 0
	for k := range q {
		if i >= len(rest) || rest[i] != '"' {
			return false
		}
		j := bytes.IndexByte(rest[i+1:], '"')
		if j < 0 {
			return false
		}
		j += i + 1
		q[k] = rest[i+1 : j]
		i = j + 1
		if k < len(q)-1 || f.format != ProxyEnvoy {
			if i >= len(rest) || rest[i] != ' ' {
				return false
			}
			i++
		}
	}
	if f.format == ProxyEnvoy {
		if i != len(rest) {
			return false
		}
	} else {
		// Istio: four fields of Envoy's, then a server name and a route.
		if bytes.IndexByte(q[numEnvoyHeaders], ' ') >= 0 {
			return false
		}
		c := cursor{b: rest, i: i}
		var w [4][]byte // cluster, upstream local, downstream local, downstream remote
		for k := range w {
			var ok bool
			if w[k], ok = c.word(); !ok || len(w[k]) == 0 {
				return false
			}
		}
		if sp := bytes.LastIndexByte(rest, ' '); sp <= c.i || sp == len(rest)-1 {
			return false
		}
		f.upLocal, f.client = w[1], w[3]
	}
	f.xff, f.agent, f.requestID, f.upstream = q[0], q[1], q[2], q[numEnvoyHeaders]
	return true
}

// Envoy writes header values into its text formats as they came, with no
// escaping (envoyproxy/envoy#4191): a client's X-Forwarded-For, User-Agent,
// X-Request-ID or :authority may hold '"', '\' or the `" "` that
// separates them, and reading them left to right as quoted strings would
// drop such a line (a thief's record gone) or take a tail the client wrote
// for fields Envoy wrote (another client, another upstream). So the fields
// Envoy writes are anchored where no header can move them, and the
// headers are split only when the separators between them are exactly as
// many as the format has.
var envoySep = []byte(`" "`)

// numEnvoyHeaders is how many client headers Envoy's formats quote before
// %UPSTREAM_HOST%: X-Forwarded-For, User-Agent, X-Request-ID, :authority.
const numEnvoyHeaders = 4

// scanEnvoyEnd reads the default format's end, `"XFF" "UA" "ID" "AUTHORITY"
// "UPSTREAM_HOST"`, the line's end: %UPSTREAM_HOST% follows the last
// separator.
func scanEnvoyEnd(rest []byte, f *proxyFields) bool {
	n := len(rest)
	if n < 2 || rest[0] != '"' || rest[n-1] != '"' {
		return false
	}
	j := bytes.LastIndex(rest[:n-1], envoySep)
	if j < 1 || bytes.IndexByte(rest[j+3:n-1], '"') >= 0 {
		return false
	}
	f.upstream = rest[j+3 : n-1]
	return splitEnvoyHeaders(rest[:j], f)
}

// scanIstioEnd reads Istio's end, `"XFF" "UA" "ID" "AUTHORITY"
// "UPSTREAM_HOST" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS%
// %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
// %REQUESTED_SERVER_NAME% %ROUTE_NAME%`. The server name is the client's
// too (TLS allows spaces and quotes in it), so neither end anchors the
// addresses alone: every place the separator before %UPSTREAM_HOST% could
// be, with four fields of Envoy's after it and a server name and a route
// name left, is tried, and the addresses are kept only when every such
// place gives the same.
func scanIstioEnd(rest []byte, f *proxyFields) bool {
	if len(rest) == 0 || rest[0] != '"' {
		return false
	}
	route := bytes.LastIndexByte(rest, ' ')
	if route < 0 || route == len(rest)-1 {
		return false
	}
	var (
		host, upLocal, client []byte
		found, atSep          int
		agree                 = true
		pos                   [numEnvoyHeaders - 1]int
	)
	seps := 0
	for i := 1; ; {
		k := bytes.Index(rest[i:], envoySep)
		if k < 0 {
			break
		}
		p := i + k
		i = p + 1 // separators may overlap: `" " "` holds two
		if seps < len(pos) {
			pos[seps] = p
		}
		seps++
		if seps <= len(pos) {
			continue
		}
		h, ul, dr, ok := istioAddresses(rest[p+3:], route-(p+3))
		if !ok {
			continue
		}
		if found == 0 {
			host, upLocal, client, atSep = h, ul, dr, seps
		} else if !bytes.Equal(h, host) || !bytes.Equal(ul, upLocal) || !bytes.Equal(dr, client) {
			agree = false
		}
		found++
	}
	if found == 0 {
		return false
	}
	if !agree {
		// The client wrote a place of its own that names other addresses:
		// the record stands, naming none.
		return true
	}
	f.upstream, f.upLocal, f.client = host, upLocal, client
	if found == 1 && atSep == len(pos)+1 {
		setEnvoyHeaders(rest, pos, f)
	}
	return true
}

// istioAddresses reads `UPSTREAM_HOST" CLUSTER UPSTREAM_LOCAL
// DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE ` from the start of b, which must
// leave a server name before route, the offset in b of the space before
// the route name.
func istioAddresses(b []byte, route int) (host, upLocal, client []byte, ok bool) {
	q := bytes.IndexByte(b, '"')
	if q < 0 || q+1 >= len(b) || b[q+1] != ' ' || bytes.IndexByte(b[:q], ' ') >= 0 {
		return nil, nil, nil, false
	}
	host = b[:q]
	c := cursor{b: b, i: q + 2}
	var w [4][]byte // cluster, upstream local, downstream local, downstream remote
	for k := range w {
		// None of them is ever quoted: one that holds a quote is a
		// header's text, not here.
		if w[k], ok = c.word(); !ok || len(w[k]) == 0 || bytes.IndexByte(w[k], '"') >= 0 {
			return nil, nil, nil, false
		}
	}
	if c.i >= route {
		return nil, nil, nil, false
	}
	return host, w[1], w[3], true
}

// splitEnvoyHeaders splits `"XFF" "UA" "ID" "AUTHORITY` into f when it
// holds as many separators as it has fields, and else leaves them unread:
// which header holds the extra `" "` cannot be told. ok is false when it
// holds too few to be the format's.
func splitEnvoyHeaders(b []byte, f *proxyFields) bool {
	n := 0
	for i := 1; ; {
		k := bytes.Index(b[i:], envoySep)
		if k < 0 {
			break
		}
		i += k + 1
		n++
	}
	if n < numEnvoyHeaders-1 {
		return false
	}
	if n > numEnvoyHeaders-1 {
		return true
	}
	var pos [numEnvoyHeaders - 1]int
	for i, k := 1, 0; k < len(pos); k++ {
		pos[k] = i + bytes.Index(b[i:], envoySep)
		i = pos[k] + 1
	}
	setEnvoyHeaders(b, pos, f)
	return true
}

// setEnvoyHeaders sets X-Forwarded-For, User-Agent and X-Request-ID from
// b, whose first field starts at 1 and ends at the first of the
// separators at pos. Separators that overlap (`" " "`) part no fields:
// they leave the headers unread.
func setEnvoyHeaders(b []byte, pos [numEnvoyHeaders - 1]int, f *proxyFields) {
	if pos[1] < pos[0]+3 || pos[2] < pos[1]+3 {
		return
	}
	f.xff, f.agent, f.requestID = b[1:pos[0]], b[pos[0]+3:pos[1]], b[pos[1]+3:pos[2]]
}

// scanTimeRequestStatus reads `[TIME] "METHOD TARGET PROTOCOL" STATUS`,
// where CLF's and Envoy's lines agree.
func scanTimeRequestStatus(c *cursor, f *proxyFields) bool {
	var ok bool
	if f.time, ok = c.bracketed(); !ok {
		return false
	}
	req, ok := c.quoted()
	if !ok {
		return false
	}
	f.method, f.target = splitRequest(req)
	f.status, ok = c.word()
	return ok
}

// scanEnvoyCounts reads from the response flags to the upstream service
// time, telling Istio (response code details where Envoy has the bytes
// received) from Envoy: "%RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%
// %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%".
func scanEnvoyCounts(c *cursor, f *proxyFields) bool {
	if !c.skipWords(1) { // response flags
		return false
	}
	next, ok := c.word()
	if !ok {
		return false
	}
	f.format = ProxyEnvoy
	if !allDigits(next) {
		// Istio: that was the response code details; then the connection
		// termination details, the upstream transport failure reason
		// (quoted) and the bytes received.
		f.format = ProxyIstio
		if !c.skipWords(1) {
			return false
		}
		if _, ok = c.quoted(); !ok || !c.skipWords(1) {
			return false
		}
	}
	if !c.skipWords(1) { // bytes sent
		return false
	}
	if f.dur, ok = c.word(); !ok {
		return false
	}
	f.durUnit = durMillis
	return c.skipWords(1) // upstream service time
}

// skipWords passes over n words.
func (c *cursor) skipWords(n int) bool {
	for range n {
		if _, ok := c.word(); !ok {
			return false
		}
	}
	return true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}
