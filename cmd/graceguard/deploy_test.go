package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/graceguard/graceguard/internal/kubeclient"
	"github.com/spf13/pflag"
)

// The manifests under deploy/ are checked here, in package main, so that
// the arguments they give graceguard are parsed by the very flag set
// `graceguard watch` has: a renamed flag fails this test, not a rollout.

// deployObjects are the rendered objects of one kustomization, decoded
// strictly into their API types.
type deployObjects struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	serviceAccounts []*corev1.ServiceAccount
	roles           []*rbacv1.Role
	bindings        []*rbacv1.RoleBinding
	policies        []*networkingv1.NetworkPolicy
}

// renderKustomization renders dir as `kustomize build` does (with
// kustomize's own library, in internal/deployrender).
func renderKustomization(t *testing.T, dir string) deployObjects {
	t.Helper()
	resp := renderDeploy(t, renderRequest{Kustomize: dir})
	if resp.Error != "" {
		t.Fatalf("kustomize build %s: %s", dir, resp.Error)
	}
	var objs deployObjects
	for _, data := range resp.Objects {
		objs.decode(t, dir, data)
	}
	return objs
}

// decode adds one rendered object, given as JSON, decoded strictly into
// its API type.
func (objs *deployObjects) decode(t *testing.T, where string, data []byte) {
	t.Helper()
	var obj struct {
		metav1.TypeMeta
		Metadata struct{ Name string } `json:"metadata"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	var into any
	switch obj.APIVersion + " " + obj.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		objs.deployments, into = append(objs.deployments, d), d
	case "v1 Service":
		s := &corev1.Service{}
		objs.services, into = append(objs.services, s), s
	case "v1 ConfigMap":
		c := &corev1.ConfigMap{}
		objs.configMaps, into = append(objs.configMaps, c), c
	case "v1 ServiceAccount":
		s := &corev1.ServiceAccount{}
		objs.serviceAccounts, into = append(objs.serviceAccounts, s), s
	case "rbac.authorization.k8s.io/v1 Role":
		r := &rbacv1.Role{}
		objs.roles, into = append(objs.roles, r), r
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		b := &rbacv1.RoleBinding{}
		objs.bindings, into = append(objs.bindings, b), b
	case "networking.k8s.io/v1 NetworkPolicy":
		p := &networkingv1.NetworkPolicy{}
		objs.policies, into = append(objs.policies, p), p
	default:
		t.Fatalf("%s renders a %s %s this test does not know: add its type", where, obj.APIVersion, obj.Kind)
	}
	// A misspelt or misplaced field is silently dropped by the API
	// server; here it fails.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Errorf("%s: %s %s: %v", where, obj.Kind, obj.Metadata.Name, err)
	}
}

// add appends another rendering's objects (the stand-in for OpenUnison
// beside a chart).
func (objs *deployObjects) add(o deployObjects) {
	objs.deployments = append(objs.deployments, o.deployments...)
	objs.services = append(objs.services, o.services...)
	objs.configMaps = append(objs.configMaps, o.configMaps...)
	objs.serviceAccounts = append(objs.serviceAccounts, o.serviceAccounts...)
	objs.roles = append(objs.roles, o.roles...)
	objs.bindings = append(objs.bindings, o.bindings...)
	objs.policies = append(objs.policies, o.policies...)
}

// Fake values of the downward API fields the manifests use.
const (
	fakePodName = "openunison-orchestra-7d4b9c6f5-x2x9z"
	fakePodUID  = "0b6f6a4e-2c1d-4b8a-9f5e-3a7c1d2e4f60"
	fakePodIP   = "10.1.70.5"
)

// containerEnv resolves a container's environment as the kubelet would,
// with fake values for the downward API and placeholders for secrets.
func containerEnv(t *testing.T, ns string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expandKube(t, e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = fakePodName
			case "metadata.namespace":
				env[e.Name] = ns
			case "metadata.uid":
				env[e.Name] = fakePodUID
			case "status.podIP":
				env[e.Name] = fakePodIP
			default:
				t.Errorf("container %s: env %s from field %s: not faked here", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			env[e.Name] = "secret-" + ref.Name + "-" + ref.Key
			if strings.Contains(e.Name, "WEBHOOK_URL") {
				env[e.Name] = "https://hooks.slack.com/services/T0/B0/secret"
			}
		default:
			t.Errorf("container %s: env %s: unexpected source", c.Name, e.Name)
		}
	}
	return env
}

var kubeVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandKube expands $(VAR) as Kubernetes does in args and subPathExpr. A
// reference to an undefined variable stays as it is there, silently, which
// is always a mistake in these manifests.
func expandKube(t *testing.T, s string, env map[string]string) string {
	t.Helper()
	return kubeVarRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := kubeVarRef.FindStringSubmatch(ref)[1]
		v, ok := env[name]
		if !ok {
			t.Errorf("%q refers to $(%s), which the container's env does not define", s, name)
			return ref
		}
		return v
	})
}

// watchSettings is what graceguard watch would run with, given the
// container's args, environment and --config file.
type watchSettings struct {
	state, stateDir, listen, kubeNamespace, kubePod, kubeSelector, kubeContainer string
	patterns                                                                     []string
	revoke, revokeNamespace, revokeDryRun                                        string
	// The proxy pods followed through the API, and the pod IP that picks
	// this sidecar's records ($POD_IP or --pod-ip).
	kubeProxyNamespace, kubeProxySelector, kubeProxyContainer, podIP string
}

// parseWatch runs args through the watch command itself (the root's
// environment and config file handling, watch's flags and RunE) with a runF
// that runs watch's own start-up checks (checkStart) on the options it
// resolved, short of finding an API server: a change to watch's start-up
// cannot diverge from what this test checks.
func parseWatch(t *testing.T, args []string, env map[string]string, configFiles map[string]string) (watchSettings, bool) {
	t.Helper()
	var s watchSettings
	if len(args) == 0 || args[0] != "watch" {
		t.Errorf("args %q: want graceguard watch", args)
		return s, false
	}
	clearEnv(t)
	for k, v := range env {
		if strings.HasPrefix(k, envPrefix) {
			t.Setenv(k, v)
		}
	}
	ok := true
	args, configOK := mountConfig(t, args, configFiles)
	ok = ok && configOK
	var o *watchOptions
	run := func(_ context.Context, resolved *watchOptions) error {
		o = resolved
		// In a pod, the service account's API server; any will do here.
		o.kube.loadConfig = func(string, string) (*kubeclient.Config, string, error) {
			return &kubeclient.Config{Host: "https://kubernetes.default.svc"}, "", nil
		}
		_, err := o.checkStart()
		return err
	}
	root := newRootCmdWith(strings.NewReader(""), io.Discard, io.Discard, runners{watch: run})
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Errorf("graceguard watch rejects %q, its environment or config: %v", args, err)
		ok = false
	}
	cmd, _, err := root.Find([]string{"watch"})
	if err != nil || o == nil {
		t.Errorf("graceguard watch did not start (%v)", err)
		return s, false
	}
	if o.configPath != "" {
		if _, err := configSinks(o.config); err != nil {
			t.Errorf("the sinks: in the ConfigMap's config: %v", err)
			ok = false
		}
	}
	// Every GRACEGUARD_* variable must be read by graceguard: as a flag's,
	// or by name in its sources (a secret that has no flag).
	for k := range env {
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, envPrefix), "_", "-"))
		if cmd.Flags().Lookup(name) == nil && !readInSources(t, k) {
			t.Errorf("env %s is neither a watch flag's variable nor read by graceguard's code", k)
			ok = false
		}
	}
	s.patterns, s.stateDir, s.listen, s.state = o.patterns, o.stateDir, o.listen, o.state.url
	k := o.kube
	s.kubeNamespace, s.kubePod, s.kubeSelector, s.kubeContainer = k.namespace, k.pod, k.selector, k.container
	s.revoke, s.revokeNamespace, s.revokeDryRun = o.revoke.severity, o.revoke.namespace, strconv.FormatBool(o.revoke.dryRun)
	s.kubeProxyNamespace, s.kubeProxySelector, s.kubeProxyContainer = k.proxyNamespace, k.proxySelector, k.proxyContainer
	s.podIP = cmp.Or(k.podIP, env["POD_IP"])
	return s, ok
}

// mountConfig writes the ConfigMap that --config (or GRACEGUARD_CONFIG)
// names to a temporary file and points --config at it.
func mountConfig(t *testing.T, args []string, configFiles map[string]string) ([]string, bool) {
	t.Helper()
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", os.Getenv(envPrefix+"CONFIG"), "")
	fs.Parse(args[1:])
	if *configPath == "" {
		return args, true
	}
	data, found := configFiles[*configPath]
	if !found {
		t.Errorf("--config %s: no ConfigMap is mounted there", *configPath)
		return args, false
	}
	tmp := filepath.Join(t.TempDir(), filepath.Base(*configPath))
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(slices.Clone(args), "--config", tmp), true
}

var sourceCache = map[string][]byte{}

// readInSources reports whether a non-test Go file of the module names the
// string: an environment variable graceguard reads without a flag.
func readInSources(t *testing.T, name string) bool {
	t.Helper()
	if len(sourceCache) == 0 {
		root := filepath.Join("..", "..")
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				data, _ := os.ReadFile(path)
				sourceCache[path] = data
			}
			return nil
		})
	}
	for _, data := range sourceCache {
		if bytes.Contains(data, []byte(`"`+name+`"`)) {
			return true
		}
	}
	return false
}

// effectiveSecurity merges a container's security context over its pod's.
type effectiveSecurity struct {
	runAsNonRoot, readOnlyRoot, noEscalation, dropsAll, seccompDefault bool
	runAsUser                                                          *int64
}

func security(pod corev1.PodSpec, c corev1.Container) effectiveSecurity {
	var e effectiveSecurity
	if ps := pod.SecurityContext; ps != nil {
		e.runAsNonRoot = ps.RunAsNonRoot != nil && *ps.RunAsNonRoot
		e.runAsUser = ps.RunAsUser
		e.seccompDefault = ps.SeccompProfile != nil && ps.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	if cs := c.SecurityContext; cs != nil {
		if cs.RunAsNonRoot != nil {
			e.runAsNonRoot = *cs.RunAsNonRoot
		}
		if cs.RunAsUser != nil {
			e.runAsUser = cs.RunAsUser
		}
		if cs.SeccompProfile != nil {
			e.seccompDefault = cs.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		}
		e.readOnlyRoot = cs.ReadOnlyRootFilesystem != nil && *cs.ReadOnlyRootFilesystem
		e.noEscalation = cs.AllowPrivilegeEscalation != nil && !*cs.AllowPrivilegeEscalation
		e.dropsAll = cs.Capabilities != nil && slices.Contains(cs.Capabilities.Drop, "ALL") && len(cs.Capabilities.Add) == 0
	}
	return e
}

func checkSecurity(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	s := security(pod, c)
	if !s.runAsNonRoot || (s.runAsUser != nil && *s.runAsUser == 0) {
		t.Errorf("%s: not runAsNonRoot with a non-zero user", where)
	}
	if !s.readOnlyRoot {
		t.Errorf("%s: root filesystem not read-only", where)
	}
	if !s.noEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if !s.dropsAll {
		t.Errorf("%s: does not drop ALL capabilities (or adds some)", where)
	}
	if !s.seccompDefault {
		t.Errorf("%s: no RuntimeDefault seccomp profile", where)
	}
}

// podServiceAccount is the account a pod runs as; the orchestra chart sets
// the deprecated serviceAccount field.
func podServiceAccount(pod corev1.PodSpec) string {
	if pod.ServiceAccountName != "" {
		return pod.ServiceAccountName
	}
	if pod.DeprecatedServiceAccount != "" {
		return pod.DeprecatedServiceAccount
	}
	return "default"
}

// logReaderRules is all a graceguard reading logs through the API needs:
// find the pods, watch them come and go, read their logs.
// Sorted, as grantedRules returns them.
var logReaderRules = []string{"pods/get", "pods/list", "pods/log/get", "pods/watch"}

func grantedRules(objs deployObjects, ns, account string) []string {
	var got []string
	for _, b := range objs.bindings {
		if b.Namespace != ns || b.RoleRef.Kind != "Role" {
			continue
		}
		bound := slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == account && (s.Namespace == ns || s.Namespace == "")
		})
		if !bound {
			continue
		}
		for _, r := range objs.roles {
			if r.Name != b.RoleRef.Name || r.Namespace != ns {
				continue
			}
			for _, rule := range r.Rules {
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, v := range rule.Verbs {
							prefix := ""
							if g != "" {
								prefix = g + ":"
							}
							got = append(got, prefix+res+"/"+v)
						}
					}
				}
				if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
					got = append(got, "(resourceNames or nonResourceURLs)")
				}
			}
		}
	}
	slices.Sort(got)
	return slices.Compact(got)
}

func TestDeployExamples(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "deploy", "examples", "*", "kustomization.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no kustomizations under deploy/examples: %v", err)
	}
	for _, k := range dirs {
		dir := filepath.Dir(k)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs := renderKustomization(t, dir)
			checkExample(t, objs, filepath.Base(dir) == "stand-in")
		})
	}
}

func checkExample(t *testing.T, objs deployObjects, standIn bool) {
	watchers := 0
	for _, d := range objs.deployments {
		pod := d.Spec.Template.Spec
		ns := d.Namespace
		if ns != "openunison" {
			t.Errorf("Deployment %s in namespace %q: want openunison, beside OpenUnison", d.Name, ns)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		for _, c := range pod.Containers {
			where := d.Name + "/" + c.Name
			if c.Name == "openunison-orchestra" {
				for _, m := range c.VolumeMounts {
					if volumes[m.Name].HostPath != nil {
						t.Errorf("%s: OpenUnison's container mounts graceguard's hostPath volume %s", where, m.Name)
					}
				}
				continue
			}
			checkSecurity(t, where, pod, c)
			if c.Name != "graceguard" {
				continue
			}
			watchers++
			checkWatcher(t, objs, d, c, volumes)
		}
	}
	if watchers == 0 && !standIn {
		t.Error("no graceguard container rendered")
	}
}

// secretEnv names the variables whose values are credentials.
var secretEnv = regexp.MustCompile(`PASSWORD|TOKEN|WEBHOOK|SECRET`)

func checkWatcher(t *testing.T, objs deployObjects, d *appsv1.Deployment, c corev1.Container, volumes map[string]corev1.Volume) {
	where := d.Name + "/" + c.Name
	pod := d.Spec.Template.Spec
	env := containerEnv(t, d.Namespace, c)
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = expandKube(t, a, env)
	}
	if len(c.Command) > 0 {
		t.Errorf("%s: sets command %q; the image's ENTRYPOINT is graceguard", where, c.Command)
	}

	// Mounts: where the config file, the state and the logs come from.
	configFiles := map[string]string{}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		v := volumes[m.Name]
		if m.SubPathExpr != "" {
			expandKube(t, m.SubPathExpr, env)
		}
		switch {
		case v.ConfigMap != nil:
			for _, cm := range objs.configMaps {
				if cm.Name == v.ConfigMap.Name && cm.Namespace == d.Namespace {
					for key, data := range cm.Data {
						configFiles[filepath.Join(m.MountPath, key)] = data
					}
				}
			}
			if !m.ReadOnly {
				t.Errorf("%s: ConfigMap mount %s is not read-only", where, m.MountPath)
			}
		case v.HostPath != nil:
			if !m.ReadOnly {
				t.Errorf("%s: hostPath %s mounted at %s is not read-only", where, v.HostPath.Path, m.MountPath)
			}
		case v.EmptyDir != nil:
		default:
			if !m.ReadOnly {
				t.Errorf("%s: mount %s is not read-only", where, m.MountPath)
			}
		}
	}

	s, _ := parseWatch(t, args, env, configFiles)

	if m, ok := mounts[s.stateDir]; !ok || volumes[m.Name].EmptyDir == nil || m.ReadOnly {
		t.Errorf("%s: --state-dir %q is not a writable emptyDir mount (the root filesystem is read-only)", where, s.stateDir)
	}

	// Operations: probes on the --listen port, which must take connections
	// from the kubelet, not only from loopback.
	host, port, err := net.SplitHostPort(s.listen)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("%s: --listen %q: want 0.0.0.0:PORT", where, s.listen)
	}
	probePort := func(p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s: want an HTTP probe on %s, got %+v", where, path, p)
			return
		}
		got := p.HTTPGet.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == got {
				got = fmt.Sprint(cp.ContainerPort)
			}
		}
		if got != port {
			t.Errorf("%s: probe %s on port %s, but graceguard listens on %s", where, path, got, port)
		}
	}
	probePort(c.LivenessProbe, "/healthz")
	sidecar := slices.ContainsFunc(pod.Containers, func(o corev1.Container) bool { return o.Name == "openunison-orchestra" })
	if sidecar {
		// Its readiness would be OpenUnison's pod's: never gate the IdP on
		// the detector.
		if c.ReadinessProbe != nil {
			t.Errorf("%s: a sidecar's readiness probe would take OpenUnison out of its Service", where)
		}
	} else {
		probePort(c.ReadinessProbe, "/readyz")
	}

	// Resources: the memory limit well above the flood's peak (108 MB).
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() {
		t.Errorf("%s: no CPU or memory request", where)
	}
	if lim.Memory().Cmp(resource.MustParse("160Mi")) < 0 {
		t.Errorf("%s: memory limit %v: want comfortably above 128 MB", where, lim.Memory())
	}

	// Secrets come from Secrets.
	for _, e := range c.Env {
		if secretEnv.MatchString(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: env %s is not from a Secret", where, e.Name)
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "GRACEGUARD_SLACK_WEBHOOK_URL" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
	}) {
		t.Errorf("%s: no GRACEGUARD_SLACK_WEBHOOK_URL from a Secret", where)
	}

	// How the log is read: files on the node, or the API.
	api := s.kubePod != "" || s.kubeSelector != ""
	switch {
	case api && len(s.patterns) > 0:
		t.Errorf("%s: both --kube-* and files %q", where, s.patterns)
	case api:
		checkAPIMode(t, objs, d, c, s, sidecar)
	default:
		checkFileMode(t, where, env, s, mounts, volumes)
	}

	// Several replicas with a sidecar each: each sees only the requests its
	// replica served, so they must share their state.
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if sidecar && replicas > 1 && !strings.HasPrefix(s.state, "redis") {
		t.Errorf("%s: %d replicas, each sidecar with its own state %q: a replay served by another replica goes unseen", where, replicas, s.state)
	}
	if strings.HasPrefix(s.state, "redis") {
		checkRedis(t, objs, d, c, s)
	}
	if s.kubeProxySelector != "" {
		checkProxyMode(t, objs, d, s, sidecar && replicas > 1)
	}
}

// checkProxyMode checks a watcher that follows the proxy pods: read access
// to them and their logs in their namespace, exactly, for the account it
// runs as; and with several sidecars, the pod IP each keeps its own
// records by.
func checkProxyMode(t *testing.T, objs deployObjects, d *appsv1.Deployment, s watchSettings, needsPodIP bool) {
	where := d.Name + "/graceguard"
	if s.kubeProxyNamespace == d.Namespace {
		t.Errorf("%s: the proxies in OpenUnison's own namespace %s", where, d.Namespace)
	}
	account := podServiceAccount(d.Spec.Template.Spec)
	var got []string
	for _, b := range objs.bindings {
		if b.Namespace != s.kubeProxyNamespace || b.RoleRef.Kind != "Role" ||
			!slices.ContainsFunc(b.Subjects, func(sub rbacv1.Subject) bool {
				return sub.Kind == "ServiceAccount" && sub.Name == account && sub.Namespace == d.Namespace
			}) {
			continue
		}
		for _, r := range objs.roles {
			if r.Name != b.RoleRef.Name || r.Namespace != b.Namespace {
				continue
			}
			for _, rule := range r.Rules {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						got = append(got, strings.Join(rule.APIGroups, ",")+res+"/"+v)
					}
				}
			}
		}
	}
	slices.Sort(got)
	if got = slices.Compact(got); !slices.Equal(got, logReaderRules) {
		t.Errorf("%s: %s/%s is granted %q in %s; want exactly %q", where, d.Namespace, account, got, s.kubeProxyNamespace, logReaderRules)
	}
	if needsPodIP && s.podIP != fakePodIP {
		t.Errorf("%s: several sidecars follow the proxies, and this one's pod IP is %q, not the downward API's status.podIP", where, s.podIP)
	}
}

func checkAPIMode(t *testing.T, objs deployObjects, d *appsv1.Deployment, c corev1.Container, s watchSettings, sidecar bool) {
	where := d.Name + "/" + c.Name
	pod := d.Spec.Template.Spec
	if s.kubeNamespace != d.Namespace {
		t.Errorf("%s: --kube-namespace %q, but OpenUnison runs in %q", where, s.kubeNamespace, d.Namespace)
	}
	// The pods read from, and the container in them.
	var targets []corev1.PodTemplateSpec
	if sidecar {
		if s.kubePod != fakePodName || s.kubeSelector != "" {
			t.Errorf("%s: a sidecar reads its own pod: --kube-pod $(POD_NAME), got --kube-pod %q --kube-selector %q", where, s.kubePod, s.kubeSelector)
		}
		targets = append(targets, d.Spec.Template)
	} else {
		sel, err := labels.Parse(s.kubeSelector)
		if err != nil {
			t.Errorf("%s: --kube-selector %q: %v", where, s.kubeSelector, err)
			return
		}
		for _, o := range objs.deployments {
			if o.Namespace == s.kubeNamespace && sel.Matches(labels.Set(o.Spec.Template.Labels)) {
				targets = append(targets, o.Spec.Template)
			}
		}
		if len(targets) == 0 {
			t.Errorf("%s: --kube-selector %q matches no pod template rendered with it", where, s.kubeSelector)
		}
	}
	for _, tpl := range targets {
		if !slices.ContainsFunc(tpl.Spec.Containers, func(o corev1.Container) bool { return o.Name == s.kubeContainer }) {
			t.Errorf("%s: --kube-container %q is not in the pods it reads", where, s.kubeContainer)
		}
		if tpl.Labels["application"] != "openunison-orchestra" {
			t.Errorf("%s: reads pods without the orchestra chart's application label: %v", where, tpl.Labels)
		}
	}
	// Exactly what reading logs through the API needs, for the account
	// the pod runs as.
	account := podServiceAccount(pod)
	want := logReaderRules
	if s.revoke != "" && !sidecar {
		want = slices.Sorted(slices.Values(append(slices.Clone(logReaderRules), revokerRules...)))
	}
	if got := grantedRules(objs, d.Namespace, account); !slices.Equal(got, want) {
		t.Errorf("%s: service account %s is granted %q in %s; want exactly %q", where, account, got, d.Namespace, want)
	}
	checkRevoke(t, where, s, d.Namespace)
	if !sidecar && !slices.ContainsFunc(objs.serviceAccounts, func(sa *corev1.ServiceAccount) bool { return sa.Name == account }) {
		t.Errorf("%s: runs as service account %q, which it does not create", where, account)
	}
	// A token to use them: a sidecar brings its own, since the chart can
	// turn the automatic one off.
	const tokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	hasToken := pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == m.Name && m.MountPath == tokenDir && v.Projected != nil {
				hasToken = slices.ContainsFunc(v.Projected.Sources, func(p corev1.VolumeProjection) bool { return p.ServiceAccountToken != nil })
			}
		}
	}
	if sidecar && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == tokenDir }) {
		t.Errorf("%s: a sidecar mounts no token of its own at %s", where, tokenDir)
	}
	if !hasToken {
		t.Errorf("%s: no service account token to call the API with", where)
	}
}

// revokerRules is all watch --revoke needs: list a user's OidcSession
// objects and delete them. Sorted.
var revokerRules = []string{"openunison.tremolo.io:oidc-sessions/delete", "openunison.tremolo.io:oidc-sessions/deletecollection", "openunison.tremolo.io:oidc-sessions/list"}

// checkRevoke: sessions are ended in OpenUnison's namespace, and a
// manifest that turns revocation on starts it as a dry run.
func checkRevoke(t *testing.T, where string, s watchSettings, ns string) {
	if s.revoke == "" {
		return
	}
	if s.revokeNamespace != ns {
		t.Errorf("%s: --revoke-namespace %q, but OpenUnison runs in %q", where, s.revokeNamespace, ns)
	}
	if s.revokeDryRun != "true" {
		t.Errorf("%s: --revoke without --revoke-dry-run: roll out as a dry run first", where)
	}
}

func checkFileMode(t *testing.T, where string, env map[string]string, s watchSettings, mounts map[string]corev1.VolumeMount, volumes map[string]corev1.Volume) {
	if len(s.patterns) == 0 {
		t.Errorf("%s: neither --kube-* nor files to read", where)
		return
	}
	for _, p := range s.patterns {
		var under *corev1.VolumeMount
		for path, m := range mounts {
			if strings.HasPrefix(p, path+"/") {
				under = &m
			}
		}
		if under == nil || volumes[under.Name].HostPath == nil {
			t.Errorf("%s: %s is not under a hostPath mount", where, p)
			continue
		}
		if hp := volumes[under.Name].HostPath.Path; hp != "/var/log/pods" {
			t.Errorf("%s: hostPath %s: want /var/log/pods", where, hp)
		}
		// Only the pod's own directory: /var/log/pods/<ns>_<pod>_<uid>.
		want := env["POD_NAMESPACE"] + "_" + fakePodName + "_" + fakePodUID
		if got := expandKube(t, under.SubPathExpr, env); got != want {
			t.Errorf("%s: mounts /var/log/pods/%s; want only the pod's own %s", where, got, want)
		}
		if !strings.HasSuffix(p, "/openunison-orchestra/*.log") {
			t.Errorf("%s: reads %s; want OpenUnison's container's logs", where, p)
		}
	}
}

func checkRedis(t *testing.T, objs deployObjects, d *appsv1.Deployment, c corev1.Container, s watchSettings) {
	where := d.Name + "/" + c.Name
	u, err := url.Parse(s.state)
	if err != nil {
		t.Errorf("%s: --state %q: %v", where, s.state, err)
		return
	}
	if u.User != nil {
		t.Errorf("%s: --state carries credentials; the password belongs in a Secret", where)
	}
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GRACEGUARD_REDIS_PASSWORD" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil {
		t.Errorf("%s: no GRACEGUARD_REDIS_PASSWORD from a Secret", where)
		return
	}
	pw := *c.Env[i].ValueFrom.SecretKeyRef
	svcName, svcPort := u.Hostname(), u.Port()
	found := false
	for _, svc := range objs.services {
		if svc.Name != svcName || svc.Namespace != d.Namespace || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return fmt.Sprint(p.Port) == svcPort }) {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, r := range objs.deployments {
			if !sel.Matches(labels.Set(r.Spec.Template.Labels)) {
				continue
			}
			found = true
			for _, rc := range r.Spec.Template.Spec.Containers {
				// The server requires the password the sidecars send.
				j := slices.IndexFunc(rc.Env, func(e corev1.EnvVar) bool {
					return e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
						e.ValueFrom.SecretKeyRef.Name == pw.Name && e.ValueFrom.SecretKeyRef.Key == pw.Key
				})
				if j < 0 || !slices.Contains(rc.Args, "$("+rc.Env[j].Name+")") || !slices.Contains(rc.Args, "--requirepass") {
					t.Errorf("%s: Redis %s does not require the password in Secret %s/%s", where, r.Name, pw.Name, pw.Key)
				}
			}
			// The chart denies ingress in OpenUnison's namespace by default.
			allowed := slices.ContainsFunc(objs.policies, func(p *networkingv1.NetworkPolicy) bool {
				ps, _ := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
				if !ps.Matches(labels.Set(r.Spec.Template.Labels)) {
					return false
				}
				for _, in := range p.Spec.Ingress {
					for _, from := range in.From {
						if from.PodSelector == nil {
							continue
						}
						fs, _ := metav1.LabelSelectorAsSelector(from.PodSelector)
						if fs.Matches(labels.Set(d.Spec.Template.Labels)) {
							return true
						}
					}
				}
				return false
			})
			if !allowed {
				t.Errorf("%s: no NetworkPolicy lets %s's pods reach Redis %s", where, d.Name, r.Name)
			}
		}
	}
	if !found {
		t.Errorf("%s: --state %s: no Service %s on port %s in front of a rendered Redis", where, s.state, svcName, svcPort)
	}
}
