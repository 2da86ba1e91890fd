package parser

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseProxy fills ev from a proxy's access line to the token endpoint
// (classifyProxy has said so). raw is the record as a string; line is its
// first line, a prefix of the same bytes, so unescaped fields are
// substrings of raw and cost no allocation.
//
// Event.Time is when the proxy's clock says the request happened as the
// format logs it: Start for Envoy, Istio, Envoy Gateway and Traefik (they
// log the start), End for ingress-nginx (it logs when it wrote the line).
// The merge of sources orders by it, so a proxy record sorts next to
// OpenUnison's line of the same request, which lies between the two.
func parseProxy(ev *Event, raw string, line []byte, loc *time.Location) error {
	var f proxyFields
	if !scanProxy(line, &f) {
		return &SyntaxError{Column: 1, Msg: "not a proxy access line"}
	}
	str := func(b []byte) string {
		if b == nil {
			return ""
		}
		if f.escaped && bytes.IndexByte(b, '\\') >= 0 {
			if u, ok := unescapeJSON(nil, b); ok {
				return string(u)
			}
		}
		off := offsetIn(line, b)
		return raw[off : off+len(b)]
	}
	col := func(b []byte) int { return offsetIn(line, b) + 1 }
	p := &ProxyRecord{Format: f.format}
	p.Method = dash(str(f.method))
	target := str(f.target)
	p.Path = target
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		p.Path = target[:i]
	}
	p.Agent = dash(str(f.agent))
	p.XFF = dash(str(f.xff))
	p.RequestID = dash(str(f.requestID))
	if s := dash(str(f.status)); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 999 {
			return &SyntaxError{Column: col(f.status), Msg: fmt.Sprintf("bad status %s", quote(s))}
		}
		p.Status = n
	}
	if f.bracketPeer != nil && !bracketedClient(str(f.bracketPeer), str(f.client)) {
		f.client = nil
	}
	if f.clientHeader {
		// Only Envoy's formats log no peer: the header read unescaped,
		// as Envoy read it.
		p.Client = lastForwardedEnvoy(str(f.xff))
	} else if a, ok := parseHostAddr(str(f.client)); ok {
		p.Client = a
	} else if f.client != nil && !noPeer(str(f.client), f.format) {
		return &SyntaxError{Column: col(f.client), Msg: fmt.Sprintf("bad client address %s", quote(str(f.client)))}
	}
	if a, ok := parseHostAddr(str(f.upLocal)); ok {
		p.UpstreamLocal = a
	}
	p.Upstreams = parseUpstreams(str(f.upstream), f.format)
	if err := proxyTimes(p, &f, str, col, loc); err != nil {
		return err
	}
	ev.Kind = KindProxy
	ev.Proxy = p
	ev.URL = p.Path
	ev.IdP, _ = idpName(p.Path)
	ev.IP = p.Client
	ev.Agent = p.Agent
	ev.Logger = f.format.String()
	if f.format == ProxyNginx || f.format == ProxyNginxJSON {
		ev.Time = p.End
	} else {
		ev.Time = p.Start
	}
	return nil
}

// noPeer reports a logged client that names no address: the proxies'
// "-"; nginx's "unix:" for a peer on a unix socket ($remote_addr is
// "unix:" and the peer's bound path, which a connecting client seldom
// binds); and Envoy's pipe address for one (Istio's and Envoy Gateway's
// %DOWNSTREAM_REMOTE_ADDRESS% is the PipeInstance's asString(): the
// socket's path, or "@" and the name of an abstract one, and it is the
// listener's own, as Envoy cannot read a unix peer's). Only the peer is
// missing: the line is a request all the same. A relative pipe path is
// not told from garbage and stays a bad address.
func noPeer(client string, format ProxyFormat) bool {
	if dash(client) == "" {
		return true
	}
	switch format {
	case ProxyNginx, ProxyNginxJSON:
		return strings.HasPrefix(client, "unix:")
	case ProxyIstio, ProxyEnvoyGateway:
		return client[0] == '/' || client[0] == '@'
	}
	return false
}

// dash maps the proxies' placeholder for "none" to empty.
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// proxyTimes reads the logged time and duration into Start, End,
// Duration and Precision.
func proxyTimes(p *ProxyRecord, f *proxyFields, str func([]byte) string, col func([]byte) int, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	ts := str(f.time)
	t, prec, err := parseProxyTime(ts, loc)
	if err != nil {
		return &SyntaxError{Column: col(f.time), Msg: err.Error()}
	}
	p.Precision = prec
	if d := dash(str(f.dur)); d != "" {
		dur, err := parseProxyDuration(d, f.durUnit)
		if err != nil {
			return &SyntaxError{Column: col(f.dur), Msg: fmt.Sprintf("bad duration %s", quote(d))}
		}
		p.Duration = dur
	}
	t = t.UTC()
	if f.format == ProxyNginx || f.format == ProxyNginxJSON {
		p.End, p.Start = t, t.Add(-p.Duration)
	} else {
		p.Start, p.End = t, t.Add(p.Duration)
	}
	return nil
}

// ProxyLineTime is the logged time of a proxy's access line to any
// service (Event.Time, were it a token request's), for the clock of the
// log it was read from: a proxy's other requests show how far its log has
// been written as its token requests do, and an ingress carries a
// cluster's traffic, of which token requests are a sliver. ok is false for
// a line that is no access line (the controller's klog lines) or whose
// time does not parse.
func ProxyLineTime(line []byte, loc *time.Location) (time.Time, bool) {
	var f proxyFields
	if !scanProxy(line, &f) || f.time == nil {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	t, _, err := parseProxyTime(string(f.time), loc)
	return t.UTC(), err == nil
}

// parseProxyTime reads the time formats proxies write: CLF's
// "26/Nov/2026:09:00:04 +0000", RFC 3339 with or without a fraction
// (Envoy's START_TIME, $time_iso8601, Traefik's StartUTC), and nginx's
// $msec ("1764147604.123"). Precision is what the text resolves.
func parseProxyTime(s string, loc *time.Location) (time.Time, time.Duration, error) {
	var (
		t    time.Time
		prec time.Duration
		ok   bool
	)
	switch {
	case len(s) == len("02/Jan/2006:15:04:05 -0700") && s[2] == '/':
		t, ok = parseCLFTime(s)
		prec = time.Second
	case len(s) >= len("2006-01-02T15:04:05") && s[4] == '-' && s[10] == 'T':
		t, prec, ok = parseRFC3339Time(s, loc)
	case len(s) > 0 && isDigit(s[0]):
		t, prec, ok = parseEpochTime(s)
	}
	if !ok {
		return time.Time{}, 0, errBadTime{s}
	}
	return t, prec, nil
}

// parseRFC3339Time reads RFC 3339 with any fraction; Envoy Gateway may
// print no zone, which is read in loc.
func parseRFC3339Time(s string, loc *time.Location) (time.Time, time.Duration, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc)
		if err != nil {
			return time.Time{}, 0, false
		}
	}
	prec := time.Second
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		digits := 0
		for _, c := range s[dot+1:] {
			if c < '0' || c > '9' {
				break
			}
			digits++
		}
		prec = time.Duration(pow10(9 - min(digits, 9)))
	}
	return t, prec, true
}

// parseEpochTime reads nginx's $msec: seconds, and up to nine digits of
// fraction.
func parseEpochTime(s string) (time.Time, time.Duration, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || len(frac) > 9 || n > 1<<40 {
		return time.Time{}, 0, false
	}
	ns := int64(0)
	if frac != "" {
		v, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || v < 0 {
			return time.Time{}, 0, false
		}
		ns = v * pow10(9-len(frac))
	}
	return time.Unix(n, ns).UTC(), time.Duration(pow10(9 - len(frac))), true
}

// errBadTime is built only when a time fails: every record's time goes
// through parseProxyTime.
type errBadTime struct{ s string }

func (e errBadTime) Error() string {
	return fmt.Sprintf("time %s is none of 02/Jan/2006:15:04:05 -0700, RFC 3339 or seconds.millis", quote(e.s))
}

var monthIndex = map[string]int{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// parseCLFTime reads "26/Nov/2026:09:00:04 +0000" by position, as
// time.Parse would, at a fraction of its cost.
func parseCLFTime(s string) (time.Time, bool) {
	if !clfShape(s) {
		return time.Time{}, false
	}
	day, year, hour, minute, sec := atoiFixed(s[0:2]), atoiFixed(s[7:11]), atoiFixed(s[12:14]), atoiFixed(s[15:17]), atoiFixed(s[18:20])
	zh, zm := atoiFixed(s[22:24]), atoiFixed(s[24:26])
	month, ok := monthIndex[s[3:6]]
	if !ok || min(day, year, hour, minute, sec, zh, zm) < 0 ||
		day < 1 || day > daysIn(month, year) || !validClock(hour, minute, sec) || zh > 23 || zm > 59 {
		return time.Time{}, false
	}
	off := (zh*60 + zm) * 60
	if s[21] == '-' {
		off = -off
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - int64(off)
	return time.Unix(unix, 0).UTC(), true
}

// clfShape checks the punctuation of "26/Nov/2026:09:00:04 +0000".
func clfShape(s string) bool {
	return s[6] == '/' && s[11] == ':' && s[14] == ':' && s[17] == ':' && s[20] == ' ' && (s[21] == '+' || s[21] == '-')
}

// atoiFixed reads a field of digits only; -1 when it is not.
func atoiFixed(s string) int {
	v := 0
	for _, c := range []byte(s) {
		if !isDigit(c) {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

func validClock(hour, minute, sec int) bool { return hour <= 23 && minute <= 59 && sec <= 59 }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// parseProxyDuration reads a duration as the format writes it.
func parseProxyDuration(s string, unit durUnit) (time.Duration, error) {
	switch unit {
	case durSeconds:
		// nginx: "0.015"; after retries, "0.010, 0.005" is not written here
		// ($request_time is one value), but be lenient with a list.
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[:i]
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1e7 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v*1e3+0.5) * time.Millisecond, nil
	case durSuffix:
		s = strings.TrimSuffix(s, "ms")
		fallthrough
	case durMillis:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || v > 1e10 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v) * time.Millisecond, nil
	default:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(v), nil
	}
}

// parseHostAddr reads an address with or without a port ("203.0.113.9",
// "203.0.113.9:51234", "[2001:db8::1]:443", "2001:db8::1").
func parseHostAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// bracketedClient says whether the older ingress-nginx variant's
// bracketed client may be taken, after first. Its first word is the
// server name, never an address; a line whose first word is one is the
// newer format's, $remote_addr, and its user name, which nginx and Traefik
// write as the client sent it, only reads as a bracketed client: that
// one is the client's own words, unless it agrees.
func bracketedClient(first, bracketed string) bool {
	a, isAddr := parseHostAddr(first)
	if !isAddr && !strings.HasPrefix(first, "unix:") {
		return true
	}
	b, _ := parseHostAddr(bracketed)
	return isAddr && a == b
}

// parseUpstreams reads the upstreams a request was sent to, in the order
// tried, the last one serving it: nginx's "a:1, b:2 : c:3", Envoy's
// "ip:port", Traefik's service URL. Entries that are no address (an
// upstream's name when all of its servers failed, a unix socket) are
// left out.
func parseUpstreams(s string, format ProxyFormat) []netip.AddrPort {
	s = dash(strings.TrimSpace(s))
	if s == "" {
		return nil
	}
	if format == ProxyTraefik || strings.Contains(s, "://") {
		_, hostPort, _ := strings.Cut(s, "://")
		if i := strings.IndexByte(hostPort, '/'); i >= 0 {
			hostPort = hostPort[:i]
		}
		if ap, err := netip.ParseAddrPort(hostPort); err == nil {
			return []netip.AddrPort{unmapPort(ap)}
		}
		return nil
	}
	var out []netip.AddrPort
	for _, group := range strings.Split(s, " : ") {
		for entry := range strings.SplitSeq(group, ",") {
			if ap, err := netip.ParseAddrPort(strings.TrimSpace(entry)); err == nil {
				out = append(out, unmapPort(ap))
			}
		}
	}
	return out
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
