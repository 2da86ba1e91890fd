package idp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A token endpoint's answer is a remote server's bytes, and `idp login`
// prints the error it makes of one. Whatever the answer: a 200 gives the
// tokens its JSON holds, both of them, or an error; any other status a
// TokenError of that status, whose code is the answer's when it is one
// (IsInvalidGrant agreeing), and whose text is one line of printable ASCII,
// so that a hostile or broken server cannot write to the terminal.
func FuzzClientTokenAnswer(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id_token":"i","refresh_token":"r","expires_in":60}`))
	f.Add(uint8(0), []byte(`{"id_token":"i"}`))
	f.Add(uint8(1), []byte(`{"error":"invalid_grant","error_description":"Session does not exist"}`))
	f.Add(uint8(2), []byte(`{"error":"invalid_client"}`))
	f.Add(uint8(3), []byte(`<html>bad gateway</html>`))
	statuses := []int{http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusBadGateway, http.StatusServiceUnavailable}
	type answer struct {
		status int
		body   []byte
	}
	var next atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
			_, _ = w.Write([]byte(`{"issuer":"x","token_endpoint":"` + "http://" + r.Host + `/token"}`))
			return
		}
		a := next.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	c, err := NewClient(context.Background(), srv.URL, ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		status := statuses[int(pick)%len(statuses)]
		next.Store(&answer{status, body})
		toks, err := c.Refresh(context.Background(), netip.Addr{}, "r0")
		if status == http.StatusOK {
			var want Tokens
			if err == nil && (json.Unmarshal(body, &want) != nil || toks != want || toks.IDToken == "" || toks.RefreshToken == "") {
				t.Fatalf("tokens %+v from %q", toks, body)
			}
			return
		}
		var te *TokenError
		if !errors.As(err, &te) || te.Status != status {
			t.Fatalf("HTTP %d: error %v, want a TokenError of that status", status, err)
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && te.Code != e.Error {
			t.Fatalf("code %q, the answer's %q", te.Code, e.Error)
		}
		if IsInvalidGrant(err) != (te.Code == "invalid_grant") {
			t.Fatalf("IsInvalidGrant %v for code %q", IsInvalidGrant(err), te.Code)
		}
		for _, c := range []byte(err.Error()) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("error text holds byte %#02x: %q", c, err.Error())
			}
		}
	})
}
