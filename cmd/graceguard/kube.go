package main

import (
	"bytes"
	"cmp"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/internal/kubeclient"
	"github.com/graceguard/graceguard/source/kube"
)

// kubeFlags choose the pods whose logs watch reads through the Kubernetes
// API.
type kubeFlags struct {
	namespace, pod, selector, container string
	kubeconfig, context                 string
	// forRevoke: --revoke uses --kubeconfig and --kube-context too.
	forRevoke bool
	// The ingress controller's or gateway's pods, whose access logs name
	// the clients behind OpenUnison's logged peer.
	proxyNamespace, proxySelector, proxyContainer string
	podIP                                         string
	// proxyOpt is what resolveProxies made of the proxy flags.
	proxyOpt kube.Options
	// loadConfig finds the API server (kube.LoadConfig when nil); tests
	// that check a manifest's settings outside a cluster replace it.
	loadConfig func(kubeconfig, context string) (*kubeclient.Config, string, error)
}

func (k kubeFlags) load() (*kubeclient.Config, string, error) {
	if k.loadConfig != nil {
		return k.loadConfig(k.kubeconfig, k.context)
	}
	return kube.LoadConfig(k.kubeconfig, k.context)
}

// configError is a usage error for err, loading the kubeconfig. When the
// file --kubeconfig names cannot be read it starts with the flag, which
// the command rewrites to the variable or config key that set it: "kubeconfig:
// open …" named no line of the config file, and --revoke's wrapping blamed
// revoke:'s line.
func (k kubeFlags) configError(err error) error {
	var pe *fs.PathError
	if k.kubeconfig == "" || !errors.As(err, &pe) || pe.Path != k.kubeconfig {
		return usageError{err}
	}
	return usageError{blamed{"--kubeconfig: " + strings.TrimPrefix(err.Error(), "kubeconfig: "), err}}
}

func (k *kubeFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&k.namespace, "kube-namespace", "", "`NS` of the OpenUnison pods (default: the kubeconfig context's, or in a pod its service account's)")
	f.StringVar(&k.pod, "kube-pod", "", "read the log of the pod `NAME` through the Kubernetes API")
	f.StringVar(&k.selector, "kube-selector", "", "read the logs of the pods this label `SELECTOR` picks, as they come and go (e.g. application=openunison-orchestra, the orchestra chart's label)")
	f.StringVar(&k.container, "kube-container", "", "the container `NAME` whose log to read (default: every container of the pod)")
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` for the API (default: the pod's service account in a cluster, else $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&k.context, "kube-context", "", "kubeconfig context `NAME` (default: its current context)")
	f.StringVar(&k.proxyNamespace, "kube-proxy-namespace", "", "`NS` of the ingress controller or gateway pods in front of OpenUnison (e.g. ingress-nginx)")
	f.StringVar(&k.proxySelector, "kube-proxy-selector", "", "also read the access logs of the proxy pods this label `SELECTOR` picks in --kube-proxy-namespace, with their pod IPs (e.g. app.kubernetes.io/component=controller)")
	f.StringVar(&k.proxyContainer, "kube-proxy-container", "", "the proxy pods' container `NAME` whose log to read (default: every container; controller, istio-proxy or envoy)")
	f.StringVar(&k.podIP, "pod-ip", "", "this OpenUnison pod's `IP` (default $POD_IP, from the downward API): keep only the proxy records of requests sent to it")
}

// proxiesEnabled reports whether proxy pods are to be read.
func (k kubeFlags) proxiesEnabled() bool { return k.proxySelector != "" }

// enabled reports whether pods are to be read.
func (k kubeFlags) enabled() bool { return k.pod != "" || k.selector != "" }

// check refuses kube flags that do not fit together.
func (k kubeFlags) check() error {
	switch {
	case k.pod != "" && k.selector != "":
		return usageErrorf("--kube-pod and --kube-selector exclude each other: name one pod or select pods by label")
	case !k.enabled() && !k.proxiesEnabled() && (k.namespace != "" || k.container != "" || (!k.forRevoke && (k.kubeconfig != "" || k.context != ""))):
		return usageErrorf("--kube-namespace, --kube-container, --kubeconfig and --kube-context need --kube-pod or --kube-selector (--kubeconfig and --kube-context also go with --kube-proxy-selector and --revoke)")
	case !k.enabled() && (k.namespace != "" || k.container != ""):
		return usageErrorf("--kube-namespace and --kube-container need --kube-pod or --kube-selector (the proxies' are --kube-proxy-namespace and --kube-proxy-container)")
	case !k.proxiesEnabled() && (k.proxyNamespace != "" || k.proxyContainer != "" || k.podIP != ""):
		return usageErrorf("--kube-proxy-namespace, --kube-proxy-container and --pod-ip need --kube-proxy-selector")
	case k.proxiesEnabled() && k.proxyNamespace == "":
		return usageErrorf("--kube-proxy-selector needs --kube-proxy-namespace: the proxies rarely live in OpenUnison's namespace")
	}
	return nil
}

// resolveProxies checks the proxy flags and makes the options of the proxy
// pods' source, with cfg the API server found for them.
func (k *kubeFlags) resolveProxies(openunison kube.Options) error {
	if !k.proxiesEnabled() {
		return nil
	}
	cfg := openunison.Config
	if cfg == nil {
		var err error
		if cfg, _, err = k.load(); err != nil {
			return k.configError(err)
		}
	}
	if k.enabled() && k.proxyNamespace == openunison.Namespace {
		// Each source forgets the checkpointed container logs of its
		// namespace that it does not follow: two in one would forget each
		// other's.
		return usageErrorf("--kube-proxy-namespace %s is OpenUnison's too: give the proxies' own namespace", k.proxyNamespace)
	}
	opt := kube.Options{Config: cfg, Namespace: k.proxyNamespace, Selector: k.proxySelector, Container: k.proxyContainer}
	if err := opt.Validate(); err != nil {
		return usageError{err}
	}
	ipText := cmp.Or(k.podIP, os.Getenv("POD_IP"))
	if ipText != "" {
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return usageErrorf("--pod-ip (or $POD_IP) %q: %v", ipText, err)
		}
		opt.Keep = sentTo(ip.Unmap())
	}
	k.proxyOpt = opt
	return nil
}

// sentTo keeps a proxy's line when it names ip as an upstream: "IP:PORT"
// (nginx's $upstream_addr, Envoy's UPSTREAM_HOST, Traefik's ServiceAddr)
// or "[IP]:PORT" for IPv6, not preceded by more of an address. Other lines
// (requests to other pods, the proxy's own messages) go: each sidecar
// joins only the requests its own OpenUnison pod served. A client whose
// address is the pod's keeps its line too, which costs nothing: its
// upstream still decides the join.
func sentTo(ip netip.Addr) func([]byte) bool {
	needle := []byte(ip.String() + ":")
	if ip.Is6() {
		needle = []byte("[" + ip.String() + "]:")
	}
	return func(line []byte) bool {
		for rest, at := line, 0; ; {
			i := bytes.Index(rest, needle)
			if i < 0 {
				return false
			}
			if p := at + i - 1; p < 0 || !addrByte(line[p]) {
				return true
			}
			at += i + 1
			rest = line[at:]
		}
	}
}

// addrByte reports whether c can be part of an IP address's text.
func addrByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == ':' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// options finds the API server and checks the names and selector; its
// problems are usage errors, found before any state is touched.
func (k kubeFlags) options() (kube.Options, error) {
	cfg, defaultNS, err := k.load()
	if err != nil {
		return kube.Options{}, k.configError(err)
	}
	opt := kube.Options{Config: cfg, Namespace: cmp.Or(k.namespace, defaultNS), Pod: k.pod, Selector: k.selector, Container: k.container}
	if err := opt.Validate(); err != nil {
		return kube.Options{}, usageError{err}
	}
	return opt, nil
}

// describe names the pods for watch's start-up log line.
func (k kubeFlags) describe() string {
	var s string
	switch {
	case k.pod != "":
		s = "pod " + k.pod
	case k.selector != "":
		s = "pods " + k.selector
	}
	if k.proxiesEnabled() {
		if s != "" {
			s += ", "
		}
		s += "proxy pods " + k.proxyNamespace + "/" + k.proxySelector
	}
	return s
}
