package kubefake

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// A deletecollection answers with the objects it deleted, as the API
// server does: in full, or as a PartialObjectMetadataList of their
// metadata when the Accept asks for one, without their specs, which hold
// OpenUnison's tokens.
func TestOidcDeleteCollectionAnswers(t *testing.T) {
	t.Parallel()
	const token = "SECRET-TOKEN-MATERIAL"
	for _, tt := range []struct {
		name, accept   string
		kind, itemKind string
		spec           bool
	}{
		{"metadata only", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
			"PartialObjectMetadataList", "PartialObjectMetadata", false},
		{"in full", "application/json", "OidcSessionList", "OidcSession", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(t)
			s.AddOidcSession("openunison", "f1", "hash-a", "kubernetes", token)
			s.AddOidcSession("openunison", "f2", "hash-a", "kubernetes", token)
			s.AddOidcSession("openunison", "f3", "hash-b", "kubernetes", token)
			hc, err := s.ClientConfig().Client()
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodDelete, s.URL+"/apis/"+OidcGroup+"/v2/namespaces/openunison/oidc-sessions?labelSelector=tremolo.io%2Fuser-dn%3Dhash-a", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", tt.accept)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
			}
			var got struct {
				Kind, APIVersion string
				Items            []struct {
					Kind     string
					Metadata struct{ Name, Namespace, UID string }
					Spec     map[string]any
				}
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range got.Items {
				names = append(names, it.Metadata.Name)
				if it.Kind != tt.itemKind || it.Metadata.UID == "" || (it.Spec != nil) != tt.spec {
					t.Errorf("item %+v: want a %s, spec %v", it, tt.itemKind, tt.spec)
				}
			}
			if got.Kind != tt.kind || !slices.Equal(names, []string{"xf1x", "xf2x"}) {
				t.Errorf("answer %s: want a %s of xf1x, xf2x", body, tt.kind)
			}
			if strings.Contains(string(body), token) != tt.spec {
				t.Errorf("answer %s: token material %v, want %v", body, !tt.spec, tt.spec)
			}
			if left := s.OidcSessions("openunison"); !slices.Equal(left, []string{"xf3x"}) {
				t.Errorf("left %v, want the other user's xf3x", left)
			}
		})
	}
}
