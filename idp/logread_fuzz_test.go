package idp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// validHost is what net/http's server lets through as a Host header
// (httpguts.ValidHostHeader): the handler never sees anything else.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c >= 0x80:
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// The IdP writes the request's Host, path and (from a trusted peer) its
// X-Forwarded-For client into OpenUnison's log, all of them bytes a client
// chose; graceguard then reads that log. Whatever a request holds, every
// record the IdP writes for it parses, Classify agrees with Parse, and an
// AccessLog line reads back the client and URL the IdP logged: a Host or
// path that moved a field would let a client name another's address.
func FuzzTokenEndpointLogReadsBack(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("k8sou.example.com", "/auth/idp/k8sIdp/token", "203.0.113.9", true, s.ctype, s.authz, []byte(s.body))
	}
	f.Add("[::1]:8443", "/auth/idp/k8sIdp/token", "198.51.100.1, 10.0.0.2", true, formType, "", []byte("grant_type=password&username=mmosley&password=simulate&client_id=kubernetes"))
	f.Add("x]-[192.0.2.7", "/auth/idp/k8sIdp/x%20-%20uid=a,o=T%20-%20NONE%20[192.0.2.8]", "", false, "", "", []byte(nil))
	f.Add("h", "/auth/idp/k8sIdp/.well-known/openid-configuration", "::ffff:192.0.2.1", true, "", "", []byte(nil))
	users := fuzzUsers(f)
	var log bytes.Buffer
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	p, err := New(Config{Issuer: "http://127.0.0.1:8443/auth/idp/k8sIdp", Users: users, Log: &log,
		SigningKey: testKey(), Diag: quietLogger(), Grace: 1e9, TrustedProxies: trusted})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, target, xff string, viaProxy bool, ctype, authz string, body []byte) {
		if !validHost(host) || strings.ContainsAny(xff, "\r\n\x00") {
			return
		}
		if strings.IndexFunc(target, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			return // no request line holds it
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || !strings.HasPrefix(target, "/") {
			return // the server answers 400 before any handler
		}
		log.Reset()
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Host = host
		req.RemoteAddr = "192.0.2.200:40000"
		if viaProxy {
			req.RemoteAddr = "10.0.0.1:40000"
		}
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		req.Header.Set("Content-Type", ctype)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		client, url := p.clientIP(req), requestURL(req)
		p.ServeHTTP(httptest.NewRecorder(), req)
		sc := parser.NewScanner(bytes.NewReader(log.Bytes()))
		access := 0
		for sc.Scan() {
			rec := sc.Record()
			ev, err := parser.Parse(rec.Text, time.UTC)
			if err != nil {
				t.Fatalf("line %d: %v\n%s", rec.Line, err, rec.Text)
			}
			if c := parser.Classify(rec.Text); c != ev.Kind {
				t.Fatalf("line %d: Classify says %s, Parse %s: %s", rec.Line, c, ev.Kind, rec.Text)
			}
			if ev.Logger != loggerAccess {
				continue
			}
			access++
			if ev.IP != client || ev.URL != url {
				t.Fatalf("line %d reads as %v at %q; the IdP logged %v at %q:\n%s", rec.Line, ev.IP, ev.URL, client, url, rec.Text)
			}
		}
		if sc.Err() != nil || access == 0 {
			t.Fatalf("%d access lines, error %v, in\n%s", access, sc.Err(), log.Bytes())
		}
	})
}
