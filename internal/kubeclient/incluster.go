package kubeclient

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// serviceAccountDir is where a pod's service account is mounted; a
// variable for tests.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ErrNotInCluster is InCluster's error outside a pod.
var ErrNotInCluster = errors.New("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")

// InCluster is the pod's service account: the API server the
// KUBERNETES_SERVICE_HOST and _PORT variables name, the account's token
// (re-read as it rotates: bound tokens last an hour or so) and CA, and its
// namespace, "default" when unknown.
func InCluster() (*Config, string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, "", ErrNotInCluster
	}
	tokenFile := filepath.Join(serviceAccountDir, "token")
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, "", err
	}
	cfg := &Config{Host: "https://" + net.JoinHostPort(host, port), Token: strings.TrimSpace(string(tok)), TokenFile: tokenFile}
	// A CA that cannot be read leaves the system's, as with client-go
	// (which logs it): the TLS errors that follow say the rest.
	if ca, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt")); err == nil {
		if _, err := certPool(ca); err == nil {
			cfg.CAData = ca
		}
	}
	ns := "default"
	if b, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace")); err == nil && strings.TrimSpace(string(b)) != "" {
		ns = strings.TrimSpace(string(b))
	}
	return cfg, ns, nil
}

// inClusterPossible reports whether InCluster may work, as clientcmd
// decides before falling back on it.
func inClusterPossible() bool {
	fi, err := os.Stat(filepath.Join(serviceAccountDir, "token"))
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" && err == nil && !fi.IsDir()
}
