package kubeclient

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// A kubeconfig is bytes from wherever a user got them: parsing and
// resolving any of them neither panics nor puts a token, password or key
// into an error.
func FuzzParseKubeconfig(f *testing.F) {
	fx := &fixture{ca: []byte("ca"), cert: []byte("cert"), key: []byte("key"), ca2: []byte("ca2"), dir: "/fx"}
	for _, tt := range loadCases {
		for _, content := range tt.files {
			f.Add([]byte(fx.expand(content)))
		}
	}
	f.Add([]byte("users: [{name: u, user: {token: &a tok, password: *a}}]"))
	f.Add([]byte("clusters: [{name: c, cluster: {extensions: [{name: client.authentication.k8s.io/exec, extension: {1: 2}}]}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKubeconfig(data)
		if err != nil {
			if len(err.Error()) > 1000 || strings.Contains(err.Error(), "`") {
				t.Fatalf("a parse error that may quote the input: %v", err)
			}
			return
		}
		// Files named by the input are not read: it could name /dev/zero.
		missing := filepath.Join(t.TempDir(), "missing")
		public, secrets := k.fields(missing)
		contexts := []string{"", "x"}
		for name := range k.contexts {
			contexts = append(contexts, name)
		}
		for _, context := range contexts {
			_, _, err := k.resolve(context, nil)
			if err == nil {
				continue
			}
			for _, s := range secrets {
				if len(s) >= 6 && strings.Contains(err.Error(), s) && !strings.Contains(public, s) {
					t.Fatalf("a credential in the error: %v", err)
				}
			}
		}
	})
}

// fields points the files k names at path and returns the text of k's
// fields that are no secret, and the secrets.
func (k *kubeconfig) fields(path string) (public string, secrets []string) {
	var b strings.Builder
	repoint := func(p *string) {
		if *p != "" {
			*p = path
		}
	}
	fmt.Fprint(&b, k.currentContext)
	for name, c := range k.clusters {
		repoint(&c.CertificateAuthority)
		fmt.Fprint(&b, name, c.Server, c.TLSServerName, c.ProxyURL, c.CertificateAuthority)
	}
	for name, u := range k.users {
		repoint(&u.ClientCertificate)
		repoint(&u.ClientKey)
		repoint(&u.TokenFile)
		fmt.Fprint(&b, name, u.ClientCertificate, u.ClientKey, u.TokenFile, u.As, u.AsUID, u.AsGroups, u.AsUserExtra, u.Username, u.AuthProvider, u.Exec)
		secrets = append(secrets, u.Token, u.Password, string(u.keyData), u.ClientKeyData)
	}
	for name, c := range k.contexts {
		fmt.Fprint(&b, name, *c)
	}
	return b.String(), secrets
}

// An error answer's body could be anything (an HTML page, a proxy's echo):
// the error made of it keeps at most a bounded message, in valid UTF-8,
// whatever the body holds.
func FuzzStatusError(f *testing.F) {
	f.Add([]byte(`{"kind":"Status","message":"pods is forbidden"}`))
	f.Add([]byte("<html>Authorization: Basic aHVudGVyMg==</html>"))
	f.Add([]byte(`{"message":"` + strings.Repeat("é", 200) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := NewStatusError(403, body)
		if !utf8.ValidString(e.Msg) || len(e.Msg) > maxStatusMsg+len("…") {
			t.Fatalf("message %q (%d bytes) of %q", e.Msg, len(e.Msg), body)
		}
		if e.Msg == "" && strings.Contains(e.Error(), ": ") && !strings.HasSuffix(e.Error(), "Forbidden") {
			t.Fatalf("%q: %v", body, e)
		}
	})
}

// An exec plugin's output holds its credentials: whatever it prints, an
// error about it never shows the token or the key.
func FuzzExecCredential(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"secret-1","expirationTimestamp":"2026-11-23T10:00:00Z"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientKeyData":"secret-5","clientCertificateData":"c"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"secret-7","expirationTimestamp":"tomorrow"}}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":"secret-3"}`))
	f.Add([]byte(`{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":["secret-8"]}}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		_, err := parseExecCredential(out, "client.authentication.k8s.io/v1")
		if err == nil {
			return
		}
		// What a lenient reader finds of the credentials, the strings of
		// the output included: a value of the wrong type may be one.
		var secrets []string
		var cred execCredential
		if json.Unmarshal(out, &cred) == nil && cred.Status != nil {
			secrets = append(secrets, cred.Status.Token, cred.Status.ClientKeyData)
		}
		var any map[string]any
		if json.Unmarshal(out, &any) == nil {
			if st, ok := any["status"]; ok {
				secrets = append(secrets, fmt.Sprint(st))
			}
		}
		for _, s := range secrets {
			if len(s) >= 6 && strings.Contains(err.Error(), s) && !strings.Contains(cred.APIVersion+cred.Kind, s) {
				t.Fatalf("the error shows %q of %q: %v", s, out, err)
			}
		}
	})
}
