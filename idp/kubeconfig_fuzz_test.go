package idp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// `idp login` merges its user into a kubeconfig it did not write, whatever
// that holds. A file it refuses is refused with its place (FILE:LINE:COLUMN
// in the file). A file it takes comes back a kubeconfig client-go reads
// (when client-go read it before), holding the login's credentials under
// the user's entry and every other user, cluster and context as client-go
// read them before: a merge that changed another entry (an anchor shared
// with it, a key read twice) would log someone else in or out. A second
// login writes the same bytes again.
func FuzzWriteKubeconfig(f *testing.F) {
	for _, s := range []string{
		"",
		"apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: keep-me\n",
		`{"apiVersion": "v1", "kind": "Config", "x-team": "sre", "users": [{"name": "admin", "user": {"token": "keep-me"}}]}`,
		"users:\n- &e {name: u@127.0.0.1:8443, user: {token: t}}\n- *e\n",
		"users:\n- name: u@127.0.0.1:8443\n  user: {token: a}\n- name: u@127.0.0.1:8443\n  user: {token: b}\n",
		"clusters:\n- name: 127.0.0.1:6443\n  cluster: {server: 'https://127.0.0.1:6443'}\ncontexts: []\ncurrent-context: x\n",
		"kind: Pod\n",
		"users: {}\n",
		"- a\n",
		"users:\n- name: x\n  user:\n    <<: {token: t}\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, withServer bool) {
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		before, beforeErr := clientcmd.Load(data)
		o := KubeconfigOptions{Path: path, Issuer: "http://127.0.0.1:8443/auth/idp/k8sIdp", Username: "u",
			Tokens: Tokens{IDToken: "id-token", RefreshToken: "refresh-token"}}
		if withServer {
			o.Server = "https://127.0.0.1:6443"
		}
		if err := CheckKubeconfig(path); err != nil {
			var line, col int
			_, place, ok := strings.Cut(err.Error(), path+":")
			if ok {
				_, serr := fmt.Sscanf(place, "%d:%d:", &line, &col)
				ok = serr == nil && line >= 1 && col >= 1 && line <= bytes.Count(data, []byte("\n"))+bytes.Count(data, []byte("\r"))+2
			}
			if !ok {
				t.Fatalf("refused without its place in the file (FILE:LINE:COLUMN): %v", err)
			}
			if _, werr := WriteKubeconfig(o); werr == nil {
				t.Fatalf("CheckKubeconfig refused the file (%v), WriteKubeconfig merged into it", err)
			}
			return
		}
		names, err := WriteKubeconfig(o)
		if err != nil {
			t.Fatalf("CheckKubeconfig took the file, WriteKubeconfig: %v", err)
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckKubeconfig(path); err != nil {
			t.Fatalf("the merged file is refused: %v\n%s", err, out)
		}
		if beforeErr == nil {
			after, err := clientcmd.Load(out)
			if err != nil {
				t.Fatalf("client-go read the file, not the merged one: %v\n%s", err, out)
			}
			ap := after.AuthInfos[names.User].AuthProvider
			if ap == nil || ap.Name != "oidc" || ap.Config["refresh-token"] != "refresh-token" || ap.Config["id-token"] != "id-token" {
				t.Fatalf("user %q reads back as %+v:\n%s", names.User, after.AuthInfos[names.User], out)
			}
			for name, a := range before.AuthInfos {
				if name != names.User && !reflect.DeepEqual(a, after.AuthInfos[name]) {
					t.Fatalf("user %q was %+v, is %+v:\n%s\nmerged:\n%s", name, a, after.AuthInfos[name], data, out)
				}
			}
			for name, c := range before.Clusters {
				if name != names.Cluster && !reflect.DeepEqual(c, after.Clusters[name]) {
					t.Fatalf("cluster %q was %+v, is %+v:\n%s\nmerged:\n%s", name, c, after.Clusters[name], data, out)
				}
			}
			for name, c := range before.Contexts {
				if name != names.Context && !reflect.DeepEqual(c, after.Contexts[name]) {
					t.Fatalf("context %q was %+v, is %+v:\n%s\nmerged:\n%s", name, c, after.Contexts[name], data, out)
				}
			}
		}
		if _, err := WriteKubeconfig(o); err != nil {
			t.Fatalf("a second login: %v", err)
		}
		again, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("a second login wrote\n%s\nthe first\n%s", again, out)
		}
	})
}
