package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// serviceAccountNamespace is where a pod's service account namespace is
// mounted.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// LoadConfig finds the API server and credentials: the pod's service
// account when graceguard runs in a cluster and no kubeconfig is named
// (kubeconfig and context empty, KUBECONFIG unset), else the kubeconfig
// (kubeconfig, else $KUBECONFIG, else ~/.kube/config) with context or its
// current context. It also returns the namespace to use when none is given:
// the service account's, or the context's, or "default".
func LoadConfig(kubeconfig, context string) (*rest.Config, string, error) {
	if kubeconfig == "" && context == "" && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			ns := "default"
			if b, err := os.ReadFile(serviceAccountNamespace); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				ns = strings.TrimSpace(string(b))
			}
			return withUserAgent(cfg), ns, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", fmt.Errorf("in-cluster configuration: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return withUserAgent(cfg), ns, nil
}

func withUserAgent(cfg *rest.Config) *rest.Config {
	if cfg.UserAgent == "" {
		cfg.UserAgent = "graceguard"
	}
	return cfg
}
