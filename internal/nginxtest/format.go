package nginxtest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// UpstreamInfo is ingress-nginx's default log-format-upstream, verbatim.
const UpstreamInfo = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id`

// lineRE matches one line of UpstreamInfo as nginx writes it (one
// upstream, no redirect).
var lineRE = regexp.MustCompile(`^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" (\d+) (\d+\.\d{3}) \[(\S*)\] \[(\S*)\] (\S+) (\S+) (\S+) (\S+) ([0-9a-f]{32})$`)

// Line is one parsed UpstreamInfo line: what tests compare between the
// bundled IdP's proxy and a real nginx.
type Line struct {
	RemoteAddr, RemoteUser, TimeLocal, Request string
	Status                                     int
	BodyBytes                                  int64
	Referer, UserAgent                         string
	RequestLength                              int64
	RequestTime                                string
	UpstreamName, AlternativeName              string
	UpstreamAddr, UpstreamLength               string
	UpstreamTime, UpstreamStatus               string
	ReqID                                      string
}

// Path is the request line's path, without the query.
func (l Line) Path() string {
	f := strings.Fields(l.Request)
	if len(f) < 2 {
		return ""
	}
	p, _, _ := strings.Cut(f[1], "?")
	return p
}

// ParseLine reads one line of the UpstreamInfo format, or says why not.
func ParseLine(s string) (Line, error) {
	m := lineRE.FindStringSubmatch(strings.TrimRight(s, "\n"))
	if m == nil {
		return Line{}, fmt.Errorf("not ingress-nginx's upstreaminfo format: %q", s)
	}
	status, _ := strconv.Atoi(m[5])
	body, _ := strconv.ParseInt(m[6], 10, 64)
	reqLen, _ := strconv.ParseInt(m[9], 10, 64)
	return Line{
		RemoteAddr: m[1], RemoteUser: m[2], TimeLocal: m[3], Request: m[4], Status: status, BodyBytes: body,
		Referer: m[7], UserAgent: m[8], RequestLength: reqLen, RequestTime: m[10],
		UpstreamName: m[11], AlternativeName: m[12], UpstreamAddr: m[13], UpstreamLength: m[14],
		UpstreamTime: m[15], UpstreamStatus: m[16], ReqID: m[17],
	}, nil
}
