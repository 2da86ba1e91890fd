package idp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestWriteKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	other := clientcmdapi.NewConfig()
	other.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://prod.example.com"}
	other.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "keep-me"}
	other.AuthInfos["mmosley@127.0.0.1:8443"] = &clientcmdapi.AuthInfo{Token: "stale"}
	other.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "admin"}
	other.CurrentContext = "prod"
	if err := clientcmd.WriteToFile(*other, existing); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o644); err != nil {
		t.Fatal(err)
	}
	toks := Tokens{IDToken: "id.tok.en", RefreshToken: "refresh-token-value"}
	const issuer = "http://127.0.0.1:8443/auth/idp/k8sIdp"

	tests := []struct {
		name        string
		opts        KubeconfigOptions
		wantEntries KubeconfigEntries
		check       func(t *testing.T, cfg *clientcmdapi.Config)
	}{
		{
			name:        "new file, user only",
			opts:        KubeconfigOptions{Path: filepath.Join(dir, "sub", "new"), Issuer: issuer, Username: "mmosley", Tokens: toks},
			wantEntries: KubeconfigEntries{User: "mmosley@127.0.0.1:8443"},
			check: func(t *testing.T, cfg *clientcmdapi.Config) {
				if len(cfg.Clusters) != 0 || cfg.CurrentContext != "" {
					t.Errorf("wrote a cluster or context without --server: %+v", cfg)
				}
			},
		},
		{
			name: "merge with server",
			opts: KubeconfigOptions{Path: existing, Issuer: issuer, Username: "mmosley", Tokens: toks, ClientSecret: "cs",
				IdPCAFile: "/ca/idp.pem", Server: "https://127.0.0.1:6443", CAFile: "/ca/api.pem"},
			wantEntries: KubeconfigEntries{User: "mmosley@127.0.0.1:8443", Cluster: "127.0.0.1:6443", Context: "mmosley@127.0.0.1:8443/127.0.0.1:6443"},
			check: func(t *testing.T, cfg *clientcmdapi.Config) {
				if cfg.AuthInfos["admin"].Token != "keep-me" || cfg.Clusters["prod"] == nil || cfg.Contexts["prod"] == nil {
					t.Error("other entries were not kept")
				}
				u := cfg.AuthInfos["mmosley@127.0.0.1:8443"]
				if u.Token != "" {
					t.Error("the old token credential survived the login")
				}
				if u.AuthProvider.Config["client-secret"] != "cs" || u.AuthProvider.Config["idp-certificate-authority"] != "/ca/idp.pem" {
					t.Errorf("auth-provider %v", u.AuthProvider.Config)
				}
				c := cfg.Clusters["127.0.0.1:6443"]
				if c.Server != "https://127.0.0.1:6443" || c.CertificateAuthority != "/ca/api.pem" {
					t.Errorf("cluster %+v", c)
				}
				if cfg.CurrentContext != "mmosley@127.0.0.1:8443/127.0.0.1:6443" {
					t.Errorf("current-context %q", cfg.CurrentContext)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WriteKubeconfig(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantEntries {
				t.Errorf("entries %+v, want %+v", got, tt.wantEntries)
			}
			cfg, err := clientcmd.LoadFromFile(tt.opts.Path)
			if err != nil {
				t.Fatal(err)
			}
			ap := cfg.AuthInfos[got.User].AuthProvider
			if ap == nil || ap.Name != "oidc" || ap.Config["idp-issuer-url"] != issuer || ap.Config["client-id"] != "kubernetes" ||
				ap.Config["id-token"] != "id.tok.en" || ap.Config["refresh-token"] != "refresh-token-value" {
				t.Errorf("auth-provider %+v", ap)
			}
			tt.check(t, cfg)
			if fi, err := os.Stat(tt.opts.Path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
		})
	}
}

func TestWriteKubeconfigRejects(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	toks := Tokens{IDToken: "a", RefreshToken: "b"}
	for name, o := range map[string]KubeconfigOptions{
		"http server": {Path: path, Issuer: "http://x/auth", Tokens: toks, Server: "http://127.0.0.1:6443"},
		"no tokens":   {Path: path, Issuer: "http://x/auth"},
		"bad issuer":  {Path: path, Issuer: "::", Tokens: toks},
	} {
		_, err := WriteKubeconfig(o)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "http server" && !strings.Contains(err.Error(), "https") {
			t.Errorf("http server error does not say why: %v", err)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a refused write created the file")
	}
}

// The file is edited, not rewritten from client-go's types: comments and
// fields graceguard does not know stay, JSON is read, and values that look
// like numbers or booleans stay strings.
func TestWriteKubeconfigKeepsTheRest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	in := `{"apiVersion": "v1", "kind": "Config", "x-team": "sre",
  "users": [{"name": "admin", "user": {"token": "keep-me"}}]}`
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	toks := Tokens{IDToken: "123", RefreshToken: "true"}
	if _, err := WriteKubeconfig(KubeconfigOptions{Path: path, Issuer: "http://127.0.0.1:8443/auth", Username: "u", Tokens: toks}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "x-team") {
		t.Errorf("an unknown field was dropped:\n%s", data)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("client-go cannot read what was written: %v\n%s", err, data)
	}
	ap := cfg.AuthInfos["u@127.0.0.1:8443"].AuthProvider
	if cfg.AuthInfos["admin"].Token != "keep-me" || ap == nil || ap.Config["id-token"] != "123" || ap.Config["refresh-token"] != "true" {
		t.Errorf("read back %+v, %+v:\n%s", cfg.AuthInfos["admin"], ap, data)
	}

	commented := "# managed by hand\napiVersion: v1\nkind: Config\n"
	if err := os.WriteFile(path, []byte(commented), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKubeconfig(KubeconfigOptions{Path: path, Issuer: "http://127.0.0.1:8443/auth", Username: "u", Tokens: toks}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "# managed by hand") {
		t.Errorf("the comment was dropped:\n%s", data)
	}
}

// Like kubectl: the first file $KUBECONFIG names, else ~/.kube/config.
func TestDefaultKubeconfigPath(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("KUBECONFIG", string(filepath.ListSeparator)+"/a/config"+string(filepath.ListSeparator)+"/b/config")
	if got := DefaultKubeconfigPath(); got != "/a/config" {
		t.Errorf("with $KUBECONFIG: %q", got)
	}
	t.Setenv("KUBECONFIG", "")
	if got := DefaultKubeconfigPath(); got != filepath.Join("/home/u", ".kube", "config") {
		t.Errorf("without $KUBECONFIG: %q", got)
	}
}
