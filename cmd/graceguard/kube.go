package main

import (
	"cmp"

	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/source/kube"
)

// kubeFlags choose the pods whose logs watch reads through the Kubernetes
// API.
type kubeFlags struct {
	namespace, pod, selector, container string
	kubeconfig, context                 string
	// forRevoke: --revoke uses --kubeconfig and --kube-context too.
	forRevoke bool
}

func (k *kubeFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&k.namespace, "kube-namespace", "", "`NS` of the OpenUnison pods (default: the kubeconfig context's, or in a pod its service account's)")
	f.StringVar(&k.pod, "kube-pod", "", "read the log of the pod `NAME` through the Kubernetes API")
	f.StringVar(&k.selector, "kube-selector", "", "read the logs of the pods this label `SELECTOR` picks, as they come and go (e.g. app=openunison-orchestra)")
	f.StringVar(&k.container, "kube-container", "", "the container `NAME` whose log to read (default: every container of the pod)")
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` for the API (default: the pod's service account in a cluster, else $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&k.context, "kube-context", "", "kubeconfig context `NAME` (default: its current context)")
}

// enabled reports whether pods are to be read.
func (k kubeFlags) enabled() bool { return k.pod != "" || k.selector != "" }

// check refuses kube flags that do not fit together.
func (k kubeFlags) check() error {
	switch {
	case k.pod != "" && k.selector != "":
		return usageErrorf("--kube-pod and --kube-selector exclude each other: name one pod or select pods by label")
	case !k.enabled() && (k.namespace != "" || k.container != "" || (!k.forRevoke && (k.kubeconfig != "" || k.context != ""))):
		return usageErrorf("--kube-namespace, --kube-container, --kubeconfig and --kube-context need --kube-pod or --kube-selector")
	}
	return nil
}

// options finds the API server and checks the names and selector; its
// problems are usage errors, found before any state is touched.
func (k kubeFlags) options() (kube.Options, error) {
	cfg, defaultNS, err := kube.LoadConfig(k.kubeconfig, k.context)
	if err != nil {
		return kube.Options{}, usageError{err}
	}
	opt := kube.Options{Config: cfg, Namespace: cmp.Or(k.namespace, defaultNS), Pod: k.pod, Selector: k.selector, Container: k.container}
	if err := opt.Validate(); err != nil {
		return kube.Options{}, usageError{err}
	}
	return opt, nil
}

// describe names the pods for watch's start-up log line.
func (k kubeFlags) describe() string {
	switch {
	case k.pod != "":
		return "pod " + k.pod
	case k.selector != "":
		return "pods " + k.selector
	}
	return ""
}
