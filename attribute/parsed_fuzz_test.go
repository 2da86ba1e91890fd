package attribute

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// Proxy lines are any bytes a client helped write; whatever the parser
// makes of them, attribution takes its records beside OpenUnison's
// requests of the same time without failing, gives back every OpenUnison
// event once and in log time order, and names no client that no record
// of a token request named: a joined event's address, and every candidate
// of an ambiguous one, is the client of a record it was given whose
// method, when logged, is POST (a GET whose path a client forged through
// X-Envoy-Original-Path names nobody).
func FuzzAttributeParsedLines(f *testing.F) {
	f.Add([]byte(`203.0.113.9 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/2.0" 200 1893 "-" "Go-http-client/2.0" 412 0.015 [ou-443] [] 10.1.70.5:8443 1893 0.014 200 r1` + "\n" +
		`192.0.2.66 - - [26/Nov/2026:09:00:04 +0000] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 5 "-" "curl/8.5.0" 1 0.000 [ou-443] [] 10.1.70.5:8443 5 0.000 200 r2`))
	f.Add([]byte(`[2026-11-26T09:00:04.016Z] "POST /auth/idp/k8sIdp/token HTTP/1.1" 200 - via_upstream - "-" 412 1893 15 14 "203.0.113.9" "cu"rl" "r1" "h" "10.1.70.5:8080" outbound|8080||ou 10.1.67.12:45678 10.1.67.12:8443 203.0.113.9:51234 h -` + "\n" +
		`[2026-11-26T09:00:04.016Z] "POST /auth/idp/k8sIdp/token HTTP/2" 401 - 412 1893 15 14 "192.0.2.66" "x" "r" "h" "10.1.70.5:8080" ",203.0.113.9" "curl" "r" "h" "10.1.70.5:8080"`))
	f.Add([]byte(`{"start_time":"2026-11-26T09:00:04.016Z","path":"/auth/idp/k8sIdp/token","method":"POST","response_code":200,"duration":3,"upstream_host":"10.1.70.5:8080","downstream_remote_address":"[2001:db8::9]:1","upstream_local_address":"10.1.67.12:2"}` + "\n" +
		`{"msec":"1795683604.020","remote_addr":"unix:","request":"POST /auth/idp/k8sIdp/token HTTP/1.1","status":"200","request_time":"0.004","upstream_addr":"10.1.70.5:8443"}`))
	f.Add([]byte(`[2026-11-26T09:00:04.016Z] "GET /auth/idp/k8sIdp/token HTTP/1.1" 200 - 0 1893 15 14 "192.0.2.66" "curl" "r1" "h" "10.1.70.5:8080"` + "\n" +
		`[2026-11-26T09:00:04.016Z] "post /auth/idp/k8sIdp/token HTTP/1.1" 200 - 412 1893 15 14 "203.0.113.9" "kubectl" "r2" "h" "10.1.70.5:8080"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := New(Options{})
		named := map[netip.Addr]bool{}
		var evs []parser.Event
		for i, line := range bytes.Split(data, []byte("\n")) {
			if i == 8 {
				break
			}
			rec, err := parser.Parse(line, nil)
			if err != nil || rec.Kind != parser.KindProxy || rec.Time.Year() < 2000 || rec.Time.Year() > 3000 {
				continue
			}
			rec.Source = []string{ngx1, ngx2}[i%2]
			if rec.Proxy.Client.IsValid() && methodFits(rec.Proxy.Method) {
				named[rec.Proxy.Client] = true
			}
			// OpenUnison's line of a request lies inside its record's
			// span; a refresh and a reuse by turns, through either
			// controller pod.
			kind := []parser.Kind{parser.KindTokenOK, parser.KindGraceReuse}[i%2]
			ev := ou(kind, 0, ouA, []netip.Addr{ctl1, ctl2}[i%2], strconv.Itoa(i))
			ev.Time = rec.Proxy.Start.Add(rec.Proxy.Duration / 2)
			evs = append(evs, rec, ev)
		}
		slices.SortStableFunc(evs, func(x, y parser.Event) int { return x.Time.Compare(y.Time) })
		var out []parser.Event
		pushed := 0
		for _, ev := range evs {
			if ev.Kind == parser.KindProxy {
				a.ExpectProxies()
			}
		}
		for _, ev := range evs {
			if ev.Kind != parser.KindProxy {
				pushed++
			}
			a.Push(ev, t0)
			out = a.Release(out, func(string) time.Time { return ev.Time }, t0)
		}
		out = a.Flush(out)
		if len(out) != pushed {
			t.Fatalf("%d events pushed, %d given back", pushed, len(out))
		}
		for i, ev := range out {
			if i > 0 && ev.Time.Before(out[i-1].Time) {
				t.Fatalf("given back out of log time order: %v then %v", out[i-1].Time, ev.Time)
			}
			if ev.Attribution == parser.AttrJoined && !named[ev.IP] {
				t.Fatalf("joined to %v, which no record named (%v)", ev.IP, named)
			}
			for _, c := range ev.Candidates {
				if !named[c] {
					t.Fatalf("candidate %v, which no record named (%v)", c, named)
				}
			}
		}
	})
}
