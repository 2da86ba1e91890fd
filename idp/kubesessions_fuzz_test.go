package idp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The API server's discovery answer names the version the session store's
// requests go to: whatever it holds, they stay in the OidcSession
// collection of the store's namespace.
func FuzzKubeSessionsDiscovery(f *testing.F) {
	f.Add([]byte(`{"kind":"APIGroup","name":"openunison.tremolo.io","preferredVersion":{"groupVersion":"openunison.tremolo.io/v2","version":"v2"}}`))
	f.Add([]byte(`{"preferredVersion":{"version":"v1beta1"}}`))
	f.Add([]byte(`{"preferredVersion":{"version":"../../../api/v1/namespaces/kube-system/secrets"}}`))
	f.Add([]byte(`{"preferredVersion":{"version":".."}}`))
	f.Add([]byte(`{"preferredVersion":{"version":"v1?watch=1#"}}`))
	f.Add([]byte(`{"preferredVersion":{"version":"%2e%2e"}}`))
	var (
		mu    sync.Mutex
		paths []string
		body  []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/apis/"+oidcGroup {
			w.Write(body)
			return
		}
		paths = append(paths, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
	}))
	f.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		mu.Lock()
		body, paths = answer, nil
		mu.Unlock()
		k := &KubeSessions{http: srv.Client(), base: base, namespace: "openunison"}
		ctx := context.Background()
		if err := k.Put(ctx, SessionRecord{ID: "abc", ClientID: "k8s", UserDN: "uid=u", Expires: time.Unix(0, 0)}); err != nil {
			return // no version, or one refused
		}
		if _, err := k.Exists(ctx, "abc"); err != nil {
			t.Fatalf("version %q: %v", k.version, err)
		}
		collection := "/apis/" + oidcGroup + "/" + k.version + "/namespaces/openunison/oidc-sessions"
		want := []string{"POST " + collection + "?", "GET " + collection + "/xabcx?"}
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(paths, "\n") != strings.Join(want, "\n") {
			t.Fatalf("discovery %q: the store asked\n%s\nwant\n%s", answer, strings.Join(paths, "\n"), strings.Join(want, "\n"))
		}
	})
}
