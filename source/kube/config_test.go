package kube

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graceguard/graceguard/internal/kubefake"
)

// Outside a cluster the kubeconfig is found as kubectl finds it: the named
// file, else $KUBECONFIG; its context's namespace is the default.
func TestLoadConfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	srv := kubefake.New(t)
	dir := t.TempDir()
	named, fromEnv := filepath.Join(dir, "named"), filepath.Join(dir, "env")
	os.WriteFile(named, []byte(srv.Kubeconfig("from-file")), 0o600)
	os.WriteFile(fromEnv, []byte(srv.Kubeconfig("from-env")), 0o600)
	t.Setenv("KUBECONFIG", fromEnv)
	tests := []struct {
		name, kubeconfig, context, ns string
		bad                           bool
	}{
		{name: "KUBECONFIG", ns: "from-env"},
		{name: "the named file wins", kubeconfig: named, ns: "from-file"},
		{name: "a context", kubeconfig: named, context: "fake", ns: "from-file"},
		{name: "no such context", kubeconfig: named, context: "prod", bad: true},
		{name: "no such file", kubeconfig: filepath.Join(dir, "none"), bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ns, err := LoadConfig(tt.kubeconfig, tt.context)
			if tt.bad {
				if err == nil {
					t.Errorf("loaded %s", cfg.Host)
				}
				return
			}
			if err != nil || cfg.Host != srv.URL || ns != tt.ns || cfg.Token != srv.Token() || cfg.UserAgent != "graceguard" {
				t.Fatalf("host %q namespace %q: %v", cfg.Host, ns, err)
			}
			// And it works: the pods can be listed with it.
			a, err := newAPI(cfg, ns, "", "app=x")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.listPods(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
