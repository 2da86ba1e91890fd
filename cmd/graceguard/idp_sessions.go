package main

import (
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/respond"
	"github.com/graceguard/graceguard/source/kube"
)

// idpStoreFlags choose where the bundled IdP keeps its sessions: in its
// memory, or as OpenUnison's Kubernetes session store keeps them, so that
// graceguard watch --revoke (or kubectl delete oidc-sessions) ends them.
type idpStoreFlags struct {
	kind, namespace     string
	kubeconfig, context string
}

func (s *idpStoreFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.kind, "session-store", "memory", "where sessions live: memory, or kube (OidcSession objects in a Kubernetes API, as OpenUnison keeps them)")
	f.StringVar(&s.namespace, "session-namespace", respond.DefaultNamespace, "`NS` of the OidcSession objects with --session-store kube")
	f.StringVar(&s.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` for --session-store kube (default: the pod's service account in a cluster, else $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&s.context, "kube-context", "", "kubeconfig context `NAME` for --session-store kube")
}

// open makes the session store; nil for memory.
func (s *idpStoreFlags) open() (idp.SessionStore, error) {
	switch s.kind {
	case "memory", "":
		if s.kubeconfig != "" || s.context != "" {
			return nil, usageErrorf("--kubeconfig and --kube-context are for --session-store kube")
		}
		return nil, nil
	case "kube":
	default:
		return nil, usageErrorf("--session-store %q: want memory or kube", s.kind)
	}
	cfg, _, err := kube.LoadConfig(s.kubeconfig, s.context)
	if err != nil {
		return nil, usageErrorf("--session-store kube: %v", err)
	}
	store, err := idp.NewKubeSessions(cfg, s.namespace)
	if err != nil {
		return nil, usageErrorf("--session-store kube: %v", err)
	}
	return store, nil
}
