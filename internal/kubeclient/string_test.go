package kubeclient

import (
	"strings"
	"testing"
)

// A Config is described without the secrets its server's address may
// carry: the password, and query values (a kubeconfig's server is copied
// from wherever an operator got it).
func TestConfigStringHidesTheAddressesSecrets(t *testing.T) {
	t.Parallel()
	for _, host := range []string{
		"https://admin:hunter2@10.0.0.1:6443",
		"https://10.0.0.1:6443/?token=hunter2",
		"https://admin:hunter2@10.0.0.1:6443/?token=hunter2",
	} {
		if got := (Config{Host: host}).String(); strings.Contains(got, "hunter2") || !strings.Contains(got, "10.0.0.1:6443") {
			t.Errorf("Config{Host: %q}.String() = %s: want the address without its secrets", host, got)
		}
	}
}
