package kubefake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const metadataOnly = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

// answer is a list's, a deletecollection's or a Status's fields that
// paging concerns.
type answer struct {
	status int
	bytes  int
	Kind   string
	Code   int
	Reason string
	// Message is a Status's.
	Message  string
	Metadata struct {
		ResourceVersion    string
		Continue           string
		RemainingItemCount *int
	}
	Items []struct {
		Metadata struct{ Name string }
	}
}

func (a answer) names() []string {
	out := []string{}
	for _, it := range a.Items {
		out = append(out, it.Metadata.Name)
	}
	return out
}

// pagingServer holds hash-a's sessions f1, f3, f4, f6, f7 among hash-b's
// f2, f5, f8: the last key is another user's.
func pagingServer(t *testing.T) *Server {
	s := New(t)
	for i := 1; i <= 8; i++ {
		hash := "hash-a"
		if i == 2 || i == 5 || i == 8 {
			hash = "hash-b"
		}
		s.AddOidcSession("openunison", "f"+strconv.Itoa(i), hash, "kubernetes", "SECRET-TOKEN-MATERIAL")
	}
	return s
}

// ask sends method to the namespace's oidc-sessions with query, metadata only.
func ask(t *testing.T, s *Server, method string, q url.Values) answer {
	t.Helper()
	status, body := askBody(t, s, method, q)
	a := answer{status: status, bytes: len(body)}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return a
}

// askBody is ask's request, answered with the status and the body as sent.
func askBody(t *testing.T, s *Server, method string, q url.Values) (int, []byte) {
	t.Helper()
	hc, err := s.ClientConfig().Client()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.URL+"/apis/"+OidcGroup+"/v2/namespaces/openunison/oidc-sessions?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", metadataOnly)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func userA(limit int, cont string) url.Values {
	q := url.Values{"labelSelector": {"tremolo.io/user-dn=hash-a"}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cont != "" {
		q.Set("continue", cont)
	}
	return q
}

// A list or deletecollection with a limit is served in pages as
// kube-apiserver's etcd3 store serves them: in order of name, at most limit
// items, a continue token while a full page is followed by any key (so a
// last page may come empty), never a remainingItemCount under a label
// selector; following the tokens names every item once.
func TestOidcPagesAsTheAPIServer(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		for _, tt := range []struct {
			limit int
			pages [][]string
		}{
			{0, [][]string{{"xf1x", "xf3x", "xf4x", "xf6x", "xf7x"}}},
			{1, [][]string{{"xf1x"}, {"xf3x"}, {"xf4x"}, {"xf6x"}, {"xf7x"}, {}}},
			{2, [][]string{{"xf1x", "xf3x"}, {"xf4x", "xf6x"}, {"xf7x"}}},
			{3, [][]string{{"xf1x", "xf3x", "xf4x"}, {"xf6x", "xf7x"}}},
			{5, [][]string{{"xf1x", "xf3x", "xf4x", "xf6x", "xf7x"}, {}}},
		} {
			t.Run(method+" limit "+strconv.Itoa(tt.limit), func(t *testing.T) {
				t.Parallel()
				s := pagingServer(t)
				var pages [][]string
				cont, rv := "", ""
				for range 10 {
					a := ask(t, s, method, userA(tt.limit, cont))
					if a.status != http.StatusOK || a.Kind != "PartialObjectMetadataList" {
						t.Fatalf("page %d: %d %s", len(pages)+1, a.status, a.Kind)
					}
					if a.Metadata.RemainingItemCount != nil {
						t.Errorf("page %d: remainingItemCount %d under a label selector", len(pages)+1, *a.Metadata.RemainingItemCount)
					}
					if rv == "" {
						rv = a.Metadata.ResourceVersion
					} else if a.Metadata.ResourceVersion != rv {
						t.Errorf("page %d read at %s, the first at %s", len(pages)+1, a.Metadata.ResourceVersion, rv)
					}
					pages = append(pages, a.names())
					if cont = a.Metadata.Continue; cont == "" {
						break
					}
				}
				if !slices.EqualFunc(pages, tt.pages, slices.Equal) {
					t.Errorf("pages %q, want %q", pages, tt.pages)
				}
				left := []string{"xf2x", "xf5x", "xf8x"}
				if method == http.MethodGet {
					left = []string{"xf1x", "xf2x", "xf3x", "xf4x", "xf5x", "xf6x", "xf7x", "xf8x"}
				}
				if got := s.OidcSessions("openunison"); !slices.Equal(got, left) {
					t.Errorf("left %v, want %v", got, left)
				}
			})
		}
	}
}

// Without a selector the API server counts what the next pages hold.
func TestOidcPageWithoutSelectorCountsTheRest(t *testing.T) {
	t.Parallel()
	s := pagingServer(t)
	a := ask(t, s, http.MethodGet, url.Values{"limit": {"3"}})
	if a.Metadata.Continue == "" || a.Metadata.RemainingItemCount == nil || *a.Metadata.RemainingItemCount != 5 {
		t.Errorf("continue %q, remainingItemCount %v: want a token and 5", a.Metadata.Continue, a.Metadata.RemainingItemCount)
	}
}

// A continued page is read at its list's first resource version: a
// session created since is not in it, and is in a new list.
func TestOidcContinuedPageIsReadAtTheFirst(t *testing.T) {
	t.Parallel()
	s := pagingServer(t)
	first := ask(t, s, http.MethodGet, userA(2, ""))
	s.AddOidcSession("openunison", "f9", "hash-a", "kubernetes", "x")
	var names []string
	for a := first; ; {
		names = append(names, a.names()...)
		if a.Metadata.Continue == "" {
			break
		}
		a = ask(t, s, http.MethodGet, userA(2, a.Metadata.Continue))
	}
	if want := []string{"xf1x", "xf3x", "xf4x", "xf6x", "xf7x"}; !slices.Equal(names, want) {
		t.Errorf("paged list %v, want %v, without the later xf9x", names, want)
	}
	if got := ask(t, s, http.MethodGet, userA(0, "")).names(); !slices.Contains(got, "xf9x") {
		t.Errorf("a new list %v misses xf9x", got)
	}
}

// An expired continue token gets what kube-apiserver answers when etcd
// compacted the list's revision: 410 Gone, reason Expired, and a token for
// the inconsistent rest; a new list, and a first page, are not affected.
func TestOidcExpiredContinue(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			s := pagingServer(t)
			first := ask(t, s, method, userA(2, ""))
			s.ExpireOidcContinues(1)
			gone := ask(t, s, method, userA(2, first.Metadata.Continue))
			if gone.status != http.StatusGone || gone.Kind != "Status" || gone.Code != 410 || gone.Reason != "Expired" ||
				!strings.Contains(gone.Message, "too old to display a consistent list result") || gone.Metadata.Continue == "" {
				t.Fatalf("expired token: %+v: want 410 Expired with a token for the rest", gone)
			}
			rest := ask(t, s, method, userA(0, gone.Metadata.Continue))
			if want := []string{"xf4x", "xf6x", "xf7x"}; rest.status != http.StatusOK || !slices.Equal(rest.names(), want) {
				t.Errorf("the inconsistent rest: %d %v, want %v", rest.status, rest.names(), want)
			}
			s.ExpireOidcContinues(1)
			if a := ask(t, s, method, userA(2, "")); a.status != http.StatusOK {
				t.Errorf("a first page: %d, want 200", a.status)
			}
			if method == http.MethodDelete {
				if got := s.OidcSessions("openunison"); !slices.Equal(got, []string{"xf2x", "xf5x", "xf8x"}) {
					t.Errorf("left %v: want hash-b's only", got)
				}
			}
		})
	}
}

func TestOidcBadPagingIsRefused(t *testing.T) {
	t.Parallel()
	s := pagingServer(t)
	for _, q := range []url.Values{
		{"limit": {"ten"}},
		{"continue": {"%%%"}},
		{"continue": {"eyJ2IjoibWV0YS5rOHMuaW8vdjAiLCJydiI6MSwic3RhcnQiOiJ4In0"}}, // {"v":"meta.k8s.io/v0","rv":1,"start":"x"}
		{"continue": {"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiJ4In0"}}, // rv 0
	} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			if a := ask(t, s, method, q); a.status != http.StatusBadRequest || a.Reason != "BadRequest" {
				t.Errorf("%s ?%s: %d %s, want 400 BadRequest", method, q.Encode(), a.status, a.Reason)
			}
		}
	}
	if n := len(s.OidcSessions("openunison")); n != 8 {
		t.Errorf("%d sessions left, want all 8", n)
	}
}

// The requests say how large their answers were.
func TestOidcRequestsCountTheAnswersBytes(t *testing.T) {
	t.Parallel()
	s := pagingServer(t)
	a := ask(t, s, http.MethodGet, userA(0, ""))
	reqs := s.OidcRequests()
	if len(reqs) != 1 || reqs[0].Bytes != int64(a.bytes) {
		t.Errorf("requests %+v: want one of %d bytes", reqs, a.bytes)
	}
}

// A session's metadata is what the API server keeps of a stored object,
// managedFields included, so that a list of them is as large as a real
// one: the names of the fields written, never their values.
func TestOidcMetadataIsWhatTheAPIServerKeeps(t *testing.T) {
	t.Parallel()
	s := New(t)
	s.AddOidcSession("openunison", "f1", "hash-a", "kubernetes", "SECRET-TOKEN-MATERIAL")
	_, body := askBody(t, s, http.MethodGet, nil)
	var l struct {
		Items []struct {
			Metadata struct {
				Generation        int
				CreationTimestamp string
				ManagedFields     []struct {
					Manager, Operation, APIVersion, FieldsType string
					FieldsV1                                   map[string]map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(body, &l); err != nil || len(l.Items) != 1 {
		t.Fatalf("%s: %v", body, err)
	}
	m := l.Items[0].Metadata
	if m.Generation != 1 || m.CreationTimestamp == "" || len(m.ManagedFields) != 1 {
		t.Fatalf("metadata %+v: want generation 1, a creationTimestamp, one managedFields entry", m)
	}
	mf := m.ManagedFields[0]
	if mf.Manager != "openunison" || mf.Operation != "Update" || mf.APIVersion != OidcGroup+"/v2" || mf.FieldsType != "FieldsV1" ||
		mf.FieldsV1["f:spec"]["f:encrypted_refresh_token"] == nil {
		t.Errorf("managedFields %+v", mf)
	}
	if strings.Contains(string(body), "SECRET-TOKEN-MATERIAL") {
		t.Errorf("metadata holds the token: %s", body)
	}
}
