package kubeclient

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Load finds the API server and credentials: the pod's service account
// when graceguard runs in a cluster and no kubeconfig is named (kubeconfig
// and context empty, KUBECONFIG unset or empty), else the kubeconfig
// (kubeconfig, else the files $KUBECONFIG lists, merged, else
// ~/.kube/config) with context or its current context. It also returns the
// namespace to use when none is given: the service account's, or the
// context's, or "default".
//
// Like kubectl, it falls back on the service account when the kubeconfig
// files hold nothing and no context is named.
func Load(kubeconfig, context string) (*Config, string, error) {
	if kubeconfig == "" && context == "" && os.Getenv("KUBECONFIG") == "" {
		if cfg, ns, err := InCluster(); !errors.Is(err, ErrNotInCluster) {
			return cfg, ns, inClusterError(err)
		}
	}
	paths := searchPath(kubeconfig)
	k, err := loadFiles(paths, kubeconfig != "")
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	if k.empty() && context == "" && inClusterPossible() {
		cfg, ns, err := InCluster()
		return cfg, ns, inClusterError(err)
	}
	cfg, ns, err := k.resolve(context, paths)
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, ns, nil
}

func inClusterError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("in-cluster configuration: %w", err)
}

// searchPath lists the kubeconfig files to read, first first: the one
// named, else those $KUBECONFIG lists (without repeats), else
// ~/.kube/config.
func searchPath(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		var paths []string
		for _, p := range filepath.SplitList(env) {
			if p != "" && !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
		return paths
	}
	// client-go's home directory on Unix is $HOME, whatever it is.
	return []string{filepath.Join(os.Getenv("HOME"), ".kube", "config")}
}

// loadFiles reads and merges the files. A file that does not exist is
// passed over, unless it was named (--kubeconfig).
func loadFiles(paths []string, named bool) (*kubeconfig, error) {
	merged := newKubeconfig()
	for _, p := range paths {
		k, err := readKubeconfig(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !named:
			continue
		case err != nil:
			return nil, err
		}
		merged.merge(k)
	}
	return merged, nil
}

// resolve picks the context (context, else the current one), checks that
// its cluster and user can be used, and makes a Config of them. paths are
// the files read, for messages.
func (k *kubeconfig) resolve(context string, paths []string) (*Config, string, error) {
	name, ctx, err := k.pickContext(context, paths)
	if err != nil {
		return nil, "", err
	}
	cl, err := k.pickCluster(name, ctx)
	if err != nil {
		return nil, "", err
	}
	// A context without a user, or naming one that does not exist, makes
	// anonymous requests, as with kubectl.
	u := k.users[ctx.User]
	if u == nil {
		u = &user{}
	}
	if errs := slices.Concat(checkCluster(ctx.Cluster, cl), checkUser(ctx.User, u)); len(errs) > 0 {
		return nil, "", invalidConfig(errs)
	}
	cfg, err := build(ctx.Cluster, cl, ctx.User, u)
	if err != nil {
		return nil, "", err
	}
	ns := ctx.Namespace
	if ns == "" {
		ns = "default"
	}
	return cfg, ns, nil
}

func (k *kubeconfig) pickContext(context string, paths []string) (string, *kcontext, error) {
	if context != "" {
		if c := k.contexts[context]; c != nil {
			return context, c, nil
		}
		return "", nil, fmt.Errorf("context %q does not exist", context)
	}
	switch c := k.contexts[k.currentContext]; {
	case k.empty():
		return "", nil, fmt.Errorf("no configuration has been provided (looked in %s)", strings.Join(paths, ", "))
	case k.currentContext == "":
		return "", nil, fmt.Errorf("no current-context: name one with --kube-context (contexts: %s)", k.contextNames())
	case c == nil:
		return "", nil, fmt.Errorf("context was not found for specified context: %s", k.currentContext)
	default:
		return k.currentContext, c, nil
	}
}

func (k *kubeconfig) contextNames() string {
	var names []string
	for n := range k.contexts {
		names = append(names, fmt.Sprintf("%q", n))
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (k *kubeconfig) pickCluster(contextName string, ctx *kcontext) (*cluster, error) {
	if ctx.Cluster == "" {
		return nil, fmt.Errorf("cluster was not specified for context %q", contextName)
	}
	cl := k.clusters[ctx.Cluster]
	if cl == nil {
		return nil, fmt.Errorf("cluster %q was not found for context %q", ctx.Cluster, contextName)
	}
	return cl, nil
}

// invalidConfig is the problems found with a context's cluster and user,
// all of them at once, as kubectl lists them.
type invalidConfig []error

func (e invalidConfig) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "invalid configuration: " + strings.Join(msgs, "; ")
}

func (e invalidConfig) Unwrap() []error { return e }
