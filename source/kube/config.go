package kube

import "github.com/graceguard/graceguard/internal/kubeclient"

// LoadConfig finds the API server and credentials: the pod's service
// account when graceguard runs in a cluster and no kubeconfig is named
// (kubeconfig and context empty, KUBECONFIG unset), else the kubeconfig
// (kubeconfig, else $KUBECONFIG, else ~/.kube/config) with context or its
// current context. It also returns the namespace to use when none is given:
// the service account's, or the context's, or "default".
func LoadConfig(kubeconfig, context string) (*kubeclient.Config, string, error) {
	cfg, ns, err := kubeclient.Load(kubeconfig, context)
	if err != nil {
		return nil, "", err
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "graceguard"
	}
	return cfg, ns, nil
}
