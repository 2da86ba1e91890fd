package respond

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"unicode/utf8"
)

// The API server's answers are read as a list of names or a Status; any
// bytes must give a bounded error or names, never a panic.
func FuzzAPIAnswer(f *testing.F) {
	f.Add([]byte(`{"kind":"PartialObjectMetadataList","items":[{"metadata":{"name":"xf1x"}}]}`))
	f.Add([]byte(`{"kind":"Status","code":503,"message":"etcdserver: request timed out"}`))
	f.Add([]byte(`{"items":[{"metadata":7}]}`))
	f.Add([]byte(`{"metadata":{"continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var l metaList
		if json.Unmarshal(body, &l) == nil {
			var n Names
			n.add(l, 1)
			n.add(l, 1)
			if n.Count != 2*len(l.Items) || len(n.Names) > 1 || n.Unnamed() < 0 {
				t.Fatalf("%d items added twice under a cap of 1: %+v", len(l.Items), n)
			}
		}
		err := apiError(503, body)
		if msg := err.Msg; utf8.RuneCountInString(msg) > 257 {
			t.Fatalf("message of %d runes", utf8.RuneCountInString(msg))
		}
	})
}

// The group's discovery answer names the version a deletion goes to:
// whatever it holds, the requests stay in the OidcSession collection of
// the namespace asked for.
func FuzzDiscovery(f *testing.F) {
	f.Add([]byte(`{"kind":"APIGroup","versions":[{"version":"v2"},{"version":"v1"}],"preferredVersion":{"version":"v2"}}`))
	f.Add([]byte(`{"versions":[{"version":"v1beta1"}]}`))
	f.Add([]byte(`{"preferredVersion":{"version":"../../../apis/other.example/v1"}}`))
	f.Add([]byte(`{"versions":[{"version":"v1?x=1"}]}`))
	var (
		mu    sync.Mutex
		asked []string
		body  []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/apis/"+Group {
			w.Write(body)
			return
		}
		asked = append(asked, r.Method+" "+r.URL.EscapedPath())
		w.Write([]byte(`{"items":[]}`))
	}))
	f.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		mu.Lock()
		body, asked = answer, nil
		mu.Unlock()
		a := &API{http: srv.Client(), base: base, maxBody: maxBody, pageSize: pageSize, maxNames: maxNames, maxPages: maxPages}
		if _, err := a.DeleteAll(context.Background(), "openunison", "f1"); err != nil {
			return
		}
		want := "DELETE /apis/" + Group + "/" + a.version + "/namespaces/openunison/oidc-sessions"
		mu.Lock()
		defer mu.Unlock()
		if len(asked) != 1 || asked[0] != want {
			t.Fatalf("discovery %q: the deletion asked %q, want %q", answer, asked, want)
		}
	})
}
