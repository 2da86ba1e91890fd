package kubeclient

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kubeconfig is one kubeconfig file, or several merged: its named
// clusters, users and contexts.
type kubeconfig struct {
	clusters       map[string]*cluster
	users          map[string]*user
	contexts       map[string]*kcontext
	currentContext string
}

func (k *kubeconfig) empty() bool {
	return len(k.clusters) == 0 && len(k.users) == 0 && len(k.contexts) == 0 && k.currentContext == ""
}

// The file's v1 format. Fields graceguard does not use (preferences,
// extensions other than the exec plugin's, an auth-provider's config) are
// not read: an auth-provider's config holds tokens, and what is not read
// cannot leak.
type fileV1 struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Clusters   []struct {
		Name    string  `yaml:"name"`
		Cluster cluster `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User user   `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string   `yaml:"name"`
		Context kcontext `yaml:"context"`
	} `yaml:"contexts"`
	CurrentContext string `yaml:"current-context"`
}

type cluster struct {
	Server                string `yaml:"server"`
	TLSServerName         string `yaml:"tls-server-name"`
	InsecureSkipTLSVerify bool   `yaml:"insecure-skip-tls-verify"`
	CertificateAuthority  string `yaml:"certificate-authority"`
	// Base64, as the format has it; decoded into caData.
	CertificateAuthorityData string      `yaml:"certificate-authority-data"`
	ProxyURL                 string      `yaml:"proxy-url"`
	DisableCompression       bool        `yaml:"disable-compression"`
	Extensions               []extension `yaml:"extensions"`

	caData     []byte
	execConfig []byte // the client.authentication.k8s.io/exec extension, as JSON
}

type extension struct {
	Name      string `yaml:"name"`
	Extension any    `yaml:"extension"`
}

// execExtension is the cluster extension passed on to exec plugins.
const execExtension = "client.authentication.k8s.io/exec"

type user struct {
	ClientCertificate     string              `yaml:"client-certificate"`
	ClientCertificateData string              `yaml:"client-certificate-data"` // base64
	ClientKey             string              `yaml:"client-key"`
	ClientKeyData         string              `yaml:"client-key-data"` // base64
	Token                 string              `yaml:"token"`
	TokenFile             string              `yaml:"tokenFile"`
	As                    string              `yaml:"as"`
	AsUID                 string              `yaml:"as-uid"`
	AsGroups              []string            `yaml:"as-groups"`
	AsUserExtra           map[string][]string `yaml:"as-user-extra"`
	Username              string              `yaml:"username"`
	Password              string              `yaml:"password"`
	AuthProvider          *struct {
		Name string `yaml:"name"`
	} `yaml:"auth-provider"`
	Exec *execEntry `yaml:"exec"`

	certData, keyData []byte
}

type execEntry struct {
	Command            string   `yaml:"command"`
	Args               []string `yaml:"args"`
	Env                []envVar `yaml:"env"`
	APIVersion         string   `yaml:"apiVersion"`
	InstallHint        string   `yaml:"installHint"`
	ProvideClusterInfo bool     `yaml:"provideClusterInfo"`
	InteractiveMode    string   `yaml:"interactiveMode"`
}

type envVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type kcontext struct {
	Cluster   string `yaml:"cluster"`
	User      string `yaml:"user"`
	Namespace string `yaml:"namespace"`
}

// readKubeconfig reads one kubeconfig file and resolves the relative paths
// in it against its directory.
func readKubeconfig(path string) (*kubeconfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := parseKubeconfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k.resolvePaths(dir)
	return k, nil
}

// parseKubeconfig decodes a kubeconfig file's bytes. Its errors name
// entries, never their values: the bytes hold credentials.
func parseKubeconfig(data []byte) (*kubeconfig, error) {
	var f fileV1
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", yamlError(err))
	}
	if (f.APIVersion != "" && f.APIVersion != "v1") || (f.Kind != "" && f.Kind != "Config") {
		return nil, fmt.Errorf("apiVersion %.20q, kind %.20q: not a v1 Config", f.APIVersion, f.Kind)
	}
	return collect(&f)
}

func newKubeconfig() *kubeconfig {
	return &kubeconfig{clusters: map[string]*cluster{}, users: map[string]*user{}, contexts: map[string]*kcontext{}}
}

// collect makes maps of the file's lists, decoding the base64 fields.
func collect(f *fileV1) (*kubeconfig, error) {
	k := newKubeconfig()
	k.currentContext = f.CurrentContext
	for _, c := range f.Clusters {
		if err := c.Cluster.decode(); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
		if err := add(k.clusters, "cluster", c.Name, &c.Cluster); err != nil {
			return nil, err
		}
	}
	for _, u := range f.Users {
		if err := u.User.decode(); err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, err)
		}
		if err := add(k.users, "user", u.Name, &u.User); err != nil {
			return nil, err
		}
	}
	for _, c := range f.Contexts {
		if err := add(k.contexts, "context", c.Name, &c.Context); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// add refuses a name used twice in one file, as client-go does (whose
// error lists the entries, credentials and all; this one does not).
func add[T any](m map[string]*T, what, name string, v *T) error {
	if m[name] != nil {
		return fmt.Errorf("%s %q is defined twice", what, name)
	}
	m[name] = v
	return nil
}

// maxYAMLErrors bounds the YAML type errors a kubeconfig's error lists.
const maxYAMLErrors = 3

// yamlError keeps a YAML error's lines and reasons and drops what it
// quotes of the document (between backquotes), which may be a credential.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// A key repeated n times is n(n-1)/2 errors: a few say what is
		// wrong, and the rest would make the message as long as the file.
		var msgs []string
		for _, e := range te.Errors[:min(len(te.Errors), maxYAMLErrors)] {
			msgs = append(msgs, unquote(e))
		}
		if more := len(te.Errors) - len(msgs); more > 0 {
			msgs = append(msgs, fmt.Sprintf("and %d more", more))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(unquote(err.Error()))
}

// unquote drops the backquoted parts of a YAML error.
func unquote(msg string) string {
	var b strings.Builder
	for i, part := range strings.Split(msg, "`") {
		if i%2 == 0 {
			b.WriteString(part)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func (c *cluster) decode() error {
	var err error
	if c.caData, err = decodeBase64("certificate-authority-data", c.CertificateAuthorityData); err != nil {
		return err
	}
	for _, e := range c.Extensions {
		if e.Name != execExtension || e.Extension == nil {
			continue
		}
		if c.execConfig, err = json.Marshal(e.Extension); err != nil {
			return fmt.Errorf("extension %s is not JSON: %w", execExtension, err)
		}
	}
	return nil
}

func (u *user) decode() error {
	var err error
	if u.certData, err = decodeBase64("client-certificate-data", u.ClientCertificateData); err != nil {
		return err
	}
	u.keyData, err = decodeBase64("client-key-data", u.ClientKeyData)
	return err
}

// decodeBase64 decodes a []byte field as encoding/json does, which is how
// client-go reads one. Its error gives an offset, not the data.
func decodeBase64(field, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b, nil
}

// resolvePaths makes the file paths in k absolute against dir, the
// directory of the file that names them, as kubectl does. An exec
// command is a path only when it has a separator; else it is found in
// PATH.
func (k *kubeconfig) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for _, c := range k.clusters {
		abs(&c.CertificateAuthority)
	}
	for _, u := range k.users {
		abs(&u.ClientCertificate)
		abs(&u.ClientKey)
		abs(&u.TokenFile)
		if u.Exec != nil && strings.ContainsRune(u.Exec.Command, filepath.Separator) {
			abs(&u.Exec.Command)
		}
	}
}

// merge adds the entries of next that k does not have: the first file to
// name a cluster, user or context, or to set current-context, wins, and
// entries are never mixed field by field (kubectl's rules).
func (k *kubeconfig) merge(next *kubeconfig) {
	mergeFirst(k.clusters, next.clusters)
	mergeFirst(k.users, next.users)
	mergeFirst(k.contexts, next.contexts)
	if k.currentContext == "" {
		k.currentContext = next.currentContext
	}
}

func mergeFirst[T any](dst, src map[string]*T) {
	for name, v := range src {
		if _, ok := dst[name]; !ok {
			dst[name] = v
		}
	}
}
