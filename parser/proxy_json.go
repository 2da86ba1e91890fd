package parser

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// JSONKeys names, for each field of an ingress-nginx JSON access log
// (log-format-upstream with log-format-escape-json), the keys that may
// carry it. Operators name their keys freely, so a field has several; the
// first key of a field present in a line wins. Values are told apart by
// their shape where one key may hold several variables: a time is
// $time_local, $time_iso8601 or $msec; a path is $uri, $request_uri or the
// whole $request line.
type JSONKeys struct {
	Client    []string // $remote_addr (or $the_real_ip)
	Time      []string // $time_local, $time_iso8601 or $msec: when nginx wrote the line
	Duration  []string // $request_time, in seconds
	Upstream  []string // $upstream_addr
	Path      []string // $uri, $request_uri or $request
	Method    []string // $request_method
	Status    []string // $status
	Agent     []string // $http_user_agent
	RequestID []string // $req_id / $request_id
	XFF       []string // $http_x_forwarded_for
}

// DefaultJSONKeys returns the keys the JSON formats in ingress-nginx's
// documentation, its issues and common Helm values use.
func DefaultJSONKeys() JSONKeys {
	return JSONKeys{
		Client:    []string{"remote_addr", "remoteAddr", "client_ip", "clientIP", "the_real_ip", "real_ip", "remote_ip"},
		Time:      []string{"time", "time_iso8601", "timestamp", "@timestamp", "time_local", "msec", "ts"},
		Duration:  []string{"request_time", "requestTime", "duration"},
		Upstream:  []string{"upstream_addr", "upstreamAddr", "upstream"},
		Path:      []string{"path", "uri", "request_uri", "requestUri", "request", "request_path"},
		Method:    []string{"method", "request_method", "requestMethod"},
		Status:    []string{"status", "statusCode", "status_code"},
		Agent:     []string{"http_user_agent", "userAgent", "user_agent", "httpUserAgent", "agent"},
		RequestID: []string{"request_id", "requestID", "requestId", "req_id", "x_request_id"},
		XFF:       []string{"x_forwarded_for", "http_x_forwarded_for", "xForwardedFor", "x-forwarded-for", "forwarded_for"},
	}
}

// jsonField names a field of JSONKeys (and of the proxies' fixed JSON
// formats), for the key tables.
type jsonField uint8

const (
	jfNone jsonField = iota
	jfClient
	jfTime
	jfDuration
	jfUpstream
	jfPath
	jfMethod
	jfStatus
	jfAgent
	jfRequestID
	jfXFF
	jfUpLocal
	numJSONFields
)

var jsonFieldNames = [numJSONFields]string{"", "client", "time", "duration", "upstream", "path", "method", "status", "agent", "request_id", "xff", ""}

func (k *JSONKeys) lists() [numJSONFields]*[]string {
	return [numJSONFields]*[]string{jfClient: &k.Client, jfTime: &k.Time, jfDuration: &k.Duration, jfUpstream: &k.Upstream,
		jfPath: &k.Path, jfMethod: &k.Method, jfStatus: &k.Status, jfAgent: &k.Agent, jfRequestID: &k.RequestID, jfXFF: &k.XFF}
}

// Merge returns k with extra's keys put first, so a key configured for a
// field wins over the defaults; a key extra gives to another field than
// k does moves to extra's field.
func (k JSONKeys) Merge(extra JSONKeys) JSONKeys {
	taken := map[string]bool{}
	for _, l := range extra.lists() {
		if l != nil {
			for _, key := range *l {
				taken[key] = true
			}
		}
	}
	var out JSONKeys
	mine, theirs, dst := k.lists(), extra.lists(), out.lists()
	for f := range dst {
		if dst[f] == nil {
			continue
		}
		l := slices.Clone(*theirs[f])
		for _, key := range *mine[f] {
			if !taken[key] {
				l = append(l, key)
			}
		}
		*dst[f] = l
	}
	return out
}

// JSONKeysError reports a bad key mapping; Column counts bytes from 1.
type JSONKeysError struct {
	Column int
	Msg    string
}

func (e *JSONKeysError) Error() string {
	return fmt.Sprintf("proxy JSON keys: column %d: %s", e.Column, e.Msg)
}

// ParseJSONKeys reads a key mapping written as comma-separated
// FIELD=KEY pairs, e.g. "client=realIP,time=ts,path=uri"; a field may be
// given several keys. FIELD is one of client, time, duration, upstream,
// path, method, status, agent, request_id, xff. Merge the result into
// DefaultJSONKeys to extend the defaults.
func ParseJSONKeys(s string) (JSONKeys, error) {
	var k JSONKeys
	lists := k.lists()
	owner := map[string]string{}
	col := 1
	for pair := range strings.SplitSeq(s, ",") {
		here := col
		col += len(pair) + 1
		trimmed := strings.TrimSpace(pair)
		if trimmed == "" {
			continue
		}
		here += strings.Index(pair, trimmed)
		name, key, ok := strings.Cut(trimmed, "=")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		if !ok || key == "" {
			return JSONKeys{}, &JSONKeysError{Column: here, Msg: fmt.Sprintf("want FIELD=KEY, got %q", trimmed)}
		}
		f := slices.Index(jsonFieldNames[:], name)
		if f <= 0 || lists[f] == nil {
			return JSONKeys{}, &JSONKeysError{Column: here, Msg: fmt.Sprintf("unknown field %q (want one of %s)", name, strings.Join(jsonFieldNames[1:jfUpLocal], ", "))}
		}
		if prev, dup := owner[key]; dup && prev != name {
			return JSONKeys{}, &JSONKeysError{Column: here, Msg: fmt.Sprintf("key %q is given to both %s and %s", key, prev, name)}
		}
		owner[key] = name
		if !slices.Contains(*lists[f], key) {
			*lists[f] = append(*lists[f], key)
		}
	}
	return k, nil
}

// keyEntry maps one JSON key to a field.
type keyEntry struct {
	key   string
	field jsonField
}

// table flattens k; a key listed twice keeps its first field.
func (k JSONKeys) table() []keyEntry {
	var t []keyEntry
	seen := map[string]bool{}
	for f, l := range k.lists() {
		if l == nil {
			continue
		}
		for _, key := range *l {
			if !seen[key] {
				seen[key] = true
				t = append(t, keyEntry{key, jsonField(f)})
			}
		}
	}
	return t
}

var nginxKeys atomic.Pointer[[]keyEntry]

func init() { SetJSONKeys(DefaultJSONKeys()) }

// SetJSONKeys sets the keys ingress-nginx JSON lines are read with, for
// the whole process. Classify and Parse are plain functions every reader
// calls, so the mapping is process-wide configuration, set once at start
// (from the proxy-json-keys setting) before any log is read.
func SetJSONKeys(k JSONKeys) {
	t := k.table()
	nginxKeys.Store(&t)
}

// The fixed key sets of Envoy Gateway's and Traefik's JSON access logs.
var (
	envoyGatewayKeys = []keyEntry{
		{"downstream_remote_address", jfClient}, {"start_time", jfTime}, {"duration", jfDuration},
		{"upstream_host", jfUpstream}, {"x-envoy-origin-path", jfPath}, {"method", jfMethod},
		{"response_code", jfStatus}, {"user-agent", jfAgent}, {"x-request-id", jfRequestID},
		{"x-forwarded-for", jfXFF}, {"upstream_local_address", jfUpLocal},
	}
	// Istio's JSON (meshConfig.accessLogEncoding: JSON) logs the same
	// operators as Envoy Gateway's under other names.
	istioKeys = []keyEntry{
		{"downstream_remote_address", jfClient}, {"start_time", jfTime}, {"duration", jfDuration},
		{"upstream_host", jfUpstream}, {"path", jfPath}, {"method", jfMethod},
		{"response_code", jfStatus}, {"user_agent", jfAgent}, {"request_id", jfRequestID},
		{"x_forwarded_for", jfXFF}, {"upstream_local_address", jfUpLocal},
	}
	traefikKeys = []keyEntry{
		{"ClientHost", jfClient}, {"StartUTC", jfTime}, {"Duration", jfDuration}, {"ServiceAddr", jfUpstream},
		{"RequestPath", jfPath}, {"RequestMethod", jfMethod}, {"DownstreamStatus", jfStatus},
		{"request_User-Agent", jfAgent}, {"request_X-Request-Id", jfRequestID}, {"request_X-Forwarded-For", jfXFF},
	}
)

// scanJSON reads a one-line JSON object as Envoy Gateway's format (it has
// start_time and upstream_host or downstream_remote_address; Istio's when
// its path is "path"), Traefik's
// (StartUTC, RequestPath) or else ingress-nginx's with the configured keys.
// A line of any of them needs a time and a path to be an access line.
func scanJSON(line []byte, f *proxyFields) bool {
	table, ok := jsonFormat(line, f)
	if !ok {
		return false
	}
	f.escaped = true
	readJSONFields(line, table, f)
	if len(f.target) > 0 && f.method == nil {
		// A $request line: "POST /path HTTP/1.1".
		if m, t := splitRequest(f.target); m != nil {
			f.method, f.target = m, t
		}
	}
	if f.format == ProxyEnvoyGateway && f.client == nil {
		f.clientHeader = true
	}
	return f.time != nil && f.target != nil
}

// jsonFormat tells the JSON formats apart by their keys, sets f's format
// and duration unit, and returns the key table to read the line with; ok
// is false when the line is no whole JSON object.
func jsonFormat(line []byte, f *proxyFields) (table []keyEntry, ok bool) {
	var eg, tr int
	istio := false
	it := jsonIter{b: line}
	if !it.open() {
		return nil, false
	}
	for {
		key, _, _, ok := it.next()
		if !ok {
			break
		}
		switch string(key) {
		case "start_time", "upstream_host", "downstream_remote_address":
			eg++
		case "StartUTC", "RequestPath", "ClientHost":
			tr++
		case "path":
			istio = true
		}
	}
	if !it.closed {
		return nil, false
	}
	switch {
	case eg >= 2 && istio:
		f.format, f.durUnit = ProxyIstio, durMillis
		return istioKeys, true
	case eg >= 2:
		f.format, f.durUnit = ProxyEnvoyGateway, durMillis
		return envoyGatewayKeys, true
	case tr >= 2:
		f.format, f.durUnit = ProxyTraefikJSON, durNanos
		return traefikKeys, true
	}
	f.format, f.durUnit = ProxyNginxJSON, durSeconds
	return *nginxKeys.Load(), true
}

// readJSONFields fills f from the members table names; the first key of
// a field present wins, and null values count as absent.
func readJSONFields(line []byte, table []keyEntry, f *proxyFields) {
	it := jsonIter{b: line}
	it.open()
	var have [numJSONFields]bool
	for {
		key, val, _, ok := it.next()
		if !ok {
			return
		}
		fld := lookupKey(table, key)
		if fld == jfNone || have[fld] || val == nil {
			continue
		}
		have[fld] = true
		*f.slot(fld) = val
	}
}

// slot is where a JSON field's value goes.
func (f *proxyFields) slot(fld jsonField) *[]byte {
	switch fld {
	case jfClient:
		return &f.client
	case jfTime:
		return &f.time
	case jfDuration:
		return &f.dur
	case jfUpstream:
		return &f.upstream
	case jfPath:
		return &f.target
	case jfMethod:
		return &f.method
	case jfStatus:
		return &f.status
	case jfAgent:
		return &f.agent
	case jfRequestID:
		return &f.requestID
	case jfXFF:
		return &f.xff
	}
	return &f.upLocal
}

func lookupKey(table []keyEntry, key []byte) jsonField {
	for _, e := range table {
		if e.key == string(key) {
			return e.field
		}
	}
	return jfNone
}

// jsonIter walks the members of one flat JSON object without allocating.
// Values are returned raw: a string's content without its quotes (escapes
// kept), a number or literal as written, nil for null; nested objects and
// arrays are skipped and returned as nil.
type jsonIter struct {
	b      []byte
	i      int
	first  bool
	closed bool // the object's '}' was read, and nothing but space after it
}

func (it *jsonIter) space() {
	for it.i < len(it.b) {
		switch it.b[it.i] {
		case ' ', '\t', '\r', '\n':
			it.i++
		default:
			return
		}
	}
}

func (it *jsonIter) open() bool {
	it.space()
	if it.i >= len(it.b) || it.b[it.i] != '{' {
		return false
	}
	it.i++
	it.first = true
	return true
}

func (it *jsonIter) next() (key, val []byte, str, ok bool) {
	it.space()
	if it.i >= len(it.b) {
		return nil, nil, false, false
	}
	if it.b[it.i] == '}' {
		it.i++
		it.space()
		it.closed = it.i == len(it.b)
		return nil, nil, false, false
	}
	if !it.first {
		if it.b[it.i] != ',' {
			return nil, nil, false, false
		}
		it.i++
		it.space()
	}
	it.first = false
	key, ok = it.str()
	if !ok {
		return nil, nil, false, false
	}
	it.space()
	if it.i >= len(it.b) || it.b[it.i] != ':' {
		return nil, nil, false, false
	}
	it.i++
	it.space()
	if it.i >= len(it.b) {
		return nil, nil, false, false
	}
	switch c := it.b[it.i]; {
	case c == '"':
		val, ok = it.str()
		return key, val, true, ok
	case c == '{' || c == '[':
		return key, nil, false, it.skipNested()
	default:
		start := it.i
		for it.i < len(it.b) && !strings.ContainsRune(",}] \t\r\n", rune(it.b[it.i])) {
			it.i++
		}
		val = it.b[start:it.i]
		if string(val) == "null" {
			val = nil
		}
		return key, val, false, it.i > start
	}
}

// str reads a string and returns its content, escapes kept.
func (it *jsonIter) str() ([]byte, bool) {
	if it.i >= len(it.b) || it.b[it.i] != '"' {
		return nil, false
	}
	start := it.i + 1
	for j := start; j < len(it.b); j++ {
		switch it.b[j] {
		case '\\':
			j++
		case '"':
			it.i = j + 1
			return it.b[start:j], true
		}
	}
	return nil, false
}

func (it *jsonIter) skipNested() bool {
	depth := 0
	for it.i < len(it.b) {
		switch it.b[it.i] {
		case '"':
			if _, ok := it.str(); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				it.i++
				return true
			}
		}
		it.i++
	}
	return false
}

// unescapeJSON appends the content of a JSON string, escapes resolved, to
// dst. nginx's default escaping (\xHH), which log-format-escape-json turns
// off but operators keep, is resolved too.
func unescapeJSON(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return dst, false
		}
		var ok bool
		switch s[i] {
		case 'u':
			dst, i, ok = unescapeU(dst, s, i)
		case 'x':
			dst, i, ok = unescapeX(dst, s, i)
		default:
			dst, ok = unescapeSimple(dst, s[i])
		}
		if !ok {
			return dst, false
		}
	}
	return dst, true
}

// jsonEscapes maps the byte after a backslash to what it stands for; 0
// for none.
var jsonEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func unescapeSimple(dst []byte, esc byte) ([]byte, bool) {
	c := jsonEscapes[esc]
	if c == 0 {
		return dst, false
	}
	return append(dst, c), true
}

// unescapeU resolves "\uXXXX" (s[i] is the 'u'), joining a UTF-16
// surrogate pair, and returns the index of its last byte.
func unescapeU(dst, s []byte, i int) ([]byte, int, bool) {
	if i+4 >= len(s) {
		return dst, i, false
	}
	r, ok := hexVal(s[i+1 : i+5])
	if !ok {
		return dst, i, false
	}
	i += 4
	if utf16Surrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
		if r2, ok := hexVal(s[i+3 : i+7]); ok && r2 >= 0xdc00 && r2 < 0xe000 {
			r = (r-0xd800)<<10 + (r2 - 0xdc00) + 0x10000
			i += 6
		}
	}
	return utf8.AppendRune(dst, rune(r)), i, true
}

// unescapeX resolves nginx's "\xHH" (s[i] is the 'x').
func unescapeX(dst, s []byte, i int) ([]byte, int, bool) {
	if i+2 >= len(s) {
		return dst, i, false
	}
	v, ok := hexVal(s[i+1 : i+3])
	if !ok {
		return dst, i, false
	}
	return append(dst, byte(v)), i + 2, true
}

func utf16Surrogate(r uint32) bool { return r >= 0xd800 && r < 0xdc00 }

func hexVal(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case isDigit(c):
			v = v<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
