package idp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/parser"
)

// FuzzParseTokenRequest holds the form parser to its contract: any input
// yields either a request the endpoint can act on or an RFC 6749 error with
// the status RFC 6749 gives that error.
func FuzzParseTokenRequest(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.ctype, s.authz, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ctype, authz string, body []byte) {
		req, oe := parseTokenRequest(ctype, authz, body)
		if oe != nil {
			checkOAuthError(t, oe.status, oe.code)
			if strings.ContainsAny(oe.warn, "\r\n") || strings.ContainsAny(oe.desc, "\r\n") {
				t.Fatalf("error text spans lines: %q", oe.warn)
			}
			return
		}
		if req.grantType != grantPassword && req.grantType != grantRefresh {
			t.Fatalf("accepted grant_type %q", req.grantType)
		}
		if req.clientID == "" {
			t.Fatal("accepted a request without a client")
		}
		if req.grantType == grantRefresh && req.refreshToken == "" {
			t.Fatal("accepted refresh_token grant without a token")
		}
	})
}

// FuzzTokenEndpoint throws arbitrary requests at the whole endpoint: it must
// never panic, always answer JSON with a known status, and always log
// exactly one AccessLog line for a failure.
func FuzzTokenEndpoint(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.ctype, s.authz, []byte(s.body))
	}
	users := fuzzUsers(f)
	var log bytes.Buffer
	p, err := New(Config{Issuer: "http://127.0.0.1:8443/auth/idp/k8sIdp", Users: users, Log: &log,
		SigningKey: testKey(), Diag: quietLogger(), Grace: 1e9})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ctype, authz string, body []byte) {
		log.Reset()
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8443/auth/idp/k8sIdp/token", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		var resp struct {
			Error        string `json:"error"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("status %d, body not JSON: %v", rec.Code, err)
		}
		if rec.Code == http.StatusOK {
			if len(resp.RefreshToken) != TokenLen {
				t.Fatalf("200 without a refresh token")
			}
			return
		}
		checkOAuthError(t, rec.Code, resp.Error)
		if n := strings.Count(log.String(), " INFO  AccessLog - "); n != 1 {
			t.Fatalf("%d AccessLog lines for one failed request:\n%s", n, log.String())
		}
	})
}

func checkOAuthError(t *testing.T, status int, code string) {
	t.Helper()
	want := map[string]int{
		"invalid_request":         http.StatusBadRequest,
		"invalid_grant":           http.StatusBadRequest,
		"unsupported_grant_type":  http.StatusBadRequest,
		"invalid_client":          http.StatusUnauthorized,
		"temporarily_unavailable": http.StatusServiceUnavailable,
	}
	if ws, ok := want[code]; !ok || ws != status {
		t.Fatalf("error %q with status %d", code, status)
	}
}

var fuzzSeeds = []struct{ ctype, authz, body string }{
	{formType, "", "grant_type=password&username=mmosley&password=simulate&client_id=kubernetes"},
	{formType, "", "grant_type=refresh_token&refresh_token=" + strings.Repeat("A", TokenLen) + "&client_id=kubernetes"},
	{formType, "Basic a3ViZXJuZXRlczo=", "grant_type=refresh_token&refresh_token=xyz"},
	{formType + "; charset=utf-8", "Basic !!", "grant_type=refresh_token&refresh_token=xyz"},
	{formType, "Bearer abc", "grant_type=password&username=a&password="},
	{formType, "", "grant_type=refresh_token;refresh_token=x"},
	{formType, "", "grant_type=%ZZ"},
	{formType, "", "grant_type=password&grant_type=refresh_token"},
	{"application/json", "", `{"grant_type":"password"}`},
	{"", "", ""},
	{"multipart/form-data; boundary=x", "", "--x--"},
	{formType, "basic   " + "a3ViZXJuZXRlczpzZWNyZXQ=", "grant_type=refresh_token&refresh_token=x&client_id=kubernetes"},
}

// FuzzForwardedClient: the proxy's and the IdP's reading of X-Forwarded-For
// (bytes any client sends) never panics, and believes the header only from
// a trusted peer, answering the peer or an address the header holds: one
// of its entries between commas and spaces, read as nginx reads an entry.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "203.0.113.9, 127.0.0.1", "x, 10.0.0.1", ",,", " ::1 ,2001:db8::1", "127.0.0.2,127.0.0.3",
		"203.0.113.9:51234", "[2001:db8::1]:443, 127.0.0.1", "198.51.100.1 203.0.113.9 , ", "fe80::1%eth0", "203.0.113.9:0",
		",203.0.113.9", "203.0.113.09, 127.0.0.1", "[203.0.113.9]:80", ":2001:db8:0:0:0:0:0:1"} {
		f.Add("127.0.0.1:4444", s)
		f.Add("192.0.2.1:1", s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		peer := peerAddr(remote)
		got := forwardedClient(peer, []string{xff}, trusted)
		if got == peer {
			return
		}
		if !peer.IsValid() || !inPrefixes(peer, trusted) {
			t.Fatalf("believed %q from untrusted peer %v: %v", xff, peer, got)
		}
		if got.Zone() != "" {
			t.Fatalf("answered %v from %q: nginx takes no zone", got, xff)
		}
		for _, part := range strings.FieldsFunc(xff, func(r rune) bool { return r == ',' || r == ' ' }) {
			if a, _, ok := parser.LastForwarded(part); ok && a == got {
				return
			}
		}
		t.Fatalf("answered %v, which is neither the peer %v nor in %q", got, peer, xff)
	})
}

// fuzzUsers is the fuzz targets' one user, mmosley (password "simulate").
func fuzzUsers(f *testing.F) *Users {
	f.Helper()
	users, err := parseUsers([]byte(`users:
  - username: mmosley
    password_hash: "$2a$04$QSVesfMScjXM0j9HxqOpr.QhAbkmxBZKDiI3RjshWh7vlpd6y1fs6"
    dn: uid=mmosley,ou=shadow,o=Tremolo
`))
	if err != nil {
		f.Fatal(err)
	}
	return users
}
