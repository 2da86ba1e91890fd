package idp

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/graceguard/graceguard/internal/redact"
	"github.com/graceguard/graceguard/internal/yamlpos"
)

// The kubeconfig is edited as a YAML tree rather than through client-go's
// clientcmd: clientcmd linked 117 packages (apimachinery, protobuf, cbor,
// klog…) into the binary, whose start-up alone kept about 3 MB of code
// resident in every graceguard process, a long-running watch included. The
// tree also keeps what clientcmd dropped: comments and fields it does not
// know.

// KubeconfigOptions says what `idp login` writes into a kubeconfig.
type KubeconfigOptions struct {
	Path         string // the kubeconfig file; created when missing, merged otherwise
	Issuer       string
	ClientID     string
	ClientSecret string // written as client-secret when set
	Username     string // the login name, used to name the entries
	Tokens       Tokens
	// IdPCAFile is written as idp-certificate-authority, for an https
	// issuer with a private CA.
	IdPCAFile string
	// UserEntry names the users[] entry; default "<username>@<issuer host>".
	UserEntry string
	// Server, when set, also writes a cluster and a context using the user
	// and makes the context current. client-go only hands auth-provider
	// credentials to an https server, so an http URL is refused.
	Server                string
	CAFile                string // the cluster's certificate-authority
	InsecureSkipTLSVerify bool
}

// KubeconfigEntries names what WriteKubeconfig wrote.
type KubeconfigEntries struct {
	User    string
	Cluster string // empty without Server
	Context string // empty without Server
}

// serverURL checks --server's URL; nil when none is given.
func serverURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, nil
	}
	server, err := url.Parse(raw)
	if err != nil || server.Host == "" {
		return nil, fmt.Errorf("kubeconfig: server %q is not a URL", redact.URL(raw))
	}
	if server.Scheme != "https" {
		return nil, fmt.Errorf("kubeconfig: server %q: client-go uses auth-provider credentials only with https servers", redact.URL(raw))
	}
	return server, nil
}

// writeCluster sets the cluster entry for o.Server and a context joining it
// to the user, made current.
func writeCluster(root *yaml.Node, o KubeconfigOptions, names KubeconfigEntries) error {
	cluster, err := namedEntry(root, "clusters", "cluster", names.Cluster)
	if err != nil {
		return err
	}
	setKey(cluster, "server", scalar(o.Server))
	if o.CAFile != "" {
		setKey(cluster, "certificate-authority", scalar(o.CAFile))
	} else {
		deleteKey(cluster, "certificate-authority")
	}
	if o.InsecureSkipTLSVerify {
		setKey(cluster, "insecure-skip-tls-verify", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	} else {
		deleteKey(cluster, "insecure-skip-tls-verify")
	}
	ctx, err := namedEntry(root, "contexts", "context", names.Context)
	if err != nil {
		return err
	}
	ctx.Content = mapping("cluster", names.Cluster, "user", names.User).Content
	if err := unshare(root, getKey(root, "current-context")); err != nil {
		return err
	}
	setKey(root, "current-context", scalar(names.Context))
	return nil
}

// WriteKubeconfig writes or merges a users[] entry with `auth-provider: oidc`
// (idp-issuer-url, client-id, id-token, refresh-token and, when set,
// client-secret and idp-certificate-authority), as OpenUnison's oulogin
// does, leaving every other entry of the file alone.
func WriteKubeconfig(o KubeconfigOptions) (KubeconfigEntries, error) {
	var names KubeconfigEntries
	if o.Path == "" || o.Issuer == "" || o.Tokens.IDToken == "" || o.Tokens.RefreshToken == "" {
		return names, errors.New("kubeconfig: path, issuer and tokens are required")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Host == "" {
		return names, fmt.Errorf("kubeconfig: issuer %q is not a URL", redact.URL(o.Issuer))
	}
	server, err := serverURL(o.Server)
	if err != nil {
		return names, err
	}
	root, err := loadKubeconfig(o.Path)
	if err != nil {
		return names, err
	}

	clientID := o.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	names.User = o.UserEntry
	if names.User == "" {
		names.User = o.Username + "@" + iss.Host
	}
	ap := mapping(
		"idp-issuer-url", o.Issuer,
		"client-id", clientID,
		"id-token", o.Tokens.IDToken,
		"refresh-token", o.Tokens.RefreshToken,
	)
	if o.ClientSecret != "" {
		setKey(ap, "client-secret", scalar(o.ClientSecret))
	}
	if o.IdPCAFile != "" {
		setKey(ap, "idp-certificate-authority", scalar(o.IdPCAFile))
	}
	user, err := namedEntry(root, "users", "user", names.User)
	if err != nil {
		return names, err
	}
	// A login replaces whatever credentials the entry held.
	for _, k := range []string{"token", "tokenFile", "exec"} {
		deleteKey(user, k)
	}
	provider := mapping("name", "oidc")
	setKey(provider, "config", ap)
	setKey(user, "auth-provider", provider)

	if server != nil {
		names.Cluster = server.Host
		names.Context = names.User + "/" + names.Cluster
		if err := writeCluster(root, o, names); err != nil {
			return names, err
		}
	}
	explicitNulls(root, false)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o750); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	// Written in place, not renamed over: a kubeconfig is often a symlink.
	if err := os.WriteFile(o.Path, out.Bytes(), 0o600); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	// WriteFile creates the file 0600 but keeps the mode of an existing
	// one; the file now holds a refresh token, so tighten it either way.
	if err := os.Chmod(o.Path, 0o600); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	return names, nil
}

// DefaultKubeconfigPath is the file kubectl would write to: the first file
// $KUBECONFIG names, else ~/.kube/config.
func DefaultKubeconfigPath() string {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = ""
	}
	return filepath.Join(home, ".kube", "config")
}

// CheckKubeconfig reports why path is no kubeconfig WriteKubeconfig would
// merge into, before a login spends a session on it; nil for a kubeconfig
// and for a missing or empty file (which a login creates). Its errors name
// the file, and the line and column where there is one, never its text.
func CheckKubeconfig(path string) error {
	_, err := loadKubeconfig(path)
	return err
}

// loadKubeconfig returns the kubeconfig's top-level mapping, a new one when
// the file is missing or empty. JSON is YAML too.
func loadKubeconfig(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil, fmt.Errorf("kubeconfig %s: a directory, not a file", path)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // its op and path would name the file twice
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml/v3 places the error where its construct began, without a
		// column; yamlpos finds the token, and quotes none of the file's
		// text, which holds tokens.
		pos, msg := yamlpos.Locate(data, err)
		return nil, fmt.Errorf("kubeconfig %s:%d:%d: %s", path, pos.Line, pos.Column, msg)
	}
	if len(doc.Content) == 0 {
		return mapping("apiVersion", "v1", "kind", "Config"), nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("kubeconfig %s:%d:%d: not a kubeconfig: the top level is not a mapping", path, root.Line, root.Column)
	}
	// A manifest or another tool's YAML mapping would have had a users
	// entry merged into it; a users: (clusters:, contexts:) that is no list
	// would have been replaced, what it held lost.
	if k := getKey(root, "kind"); k != nil && !isNull(k) && (k.Kind != yaml.ScalarNode || k.Value != "Config") {
		return nil, fmt.Errorf("kubeconfig %s:%d:%d: not a kubeconfig: kind is not Config", path, k.Line, k.Column)
	}
	for _, list := range []string{"clusters", "contexts", "users"} {
		if l := getKey(root, list); l != nil && !isNull(l) && l.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("kubeconfig %s:%d:%d: %s: want a list of named entries", path, l.Line, l.Column, list)
		}
	}
	return root, nil
}

// namedEntry returns the mapping under field of the entry called name in
// the list root[list] (kubeconfig's "- name: x\n  user: {...}"), adding
// the list, the entry or the mapping as needed. Aliases elsewhere of what
// that mapping holds get copies of their own first (unshare).
func namedEntry(root *yaml.Node, list, field, name string) (*yaml.Node, error) {
	seq := getKey(root, list)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		setKey(root, list, seq)
	}
	var entry *yaml.Node
	for _, e := range seq.Content {
		if n := getKey(e, "name"); e.Kind == yaml.MappingNode && n != nil && n.Value == name {
			entry = e
			break
		}
	}
	if entry == nil {
		entry = mapping("name", name)
		seq.Content = append(seq.Content, entry)
	}
	m := getKey(entry, field)
	if err := unshare(root, m); err != nil {
		return nil, err
	}
	if m == nil || m.Kind != yaml.MappingNode {
		m = mapping()
		setKey(entry, field, m)
	}
	return m, nil
}

// explicitNulls writes "null" for the empty nulls of flow collections
// ("{kind, users: }"): yaml/v3 writes them back as empty quoted strings,
// which are no longer nothing: client-go cannot read a string as its lists
// or preferences, and CheckKubeconfig refused the file it had just written.
func explicitNulls(n *yaml.Node, inFlow bool) {
	inFlow = inFlow || n.Style&yaml.FlowStyle != 0
	if inFlow && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" {
		n.Value = "null"
	}
	for _, c := range n.Content {
		explicitNulls(c, inFlow)
	}
}

// maxUnshared bounds the nodes unshare copies: aliases of aliases can say
// more than memory holds in a few lines (a "billion laughs").
const maxUnshared = 1 << 16

// unshare gives every alias of n, or of a node inside it, a copy of what
// it names, so that n can be edited or dropped without touching the rest of
// the file. A user's mapping anchored and aliased by another user
// ("user: &cred {...}" and "user: *cred") is one node in the tree: merging
// the login into it logged the other user in with the same refresh token
// and dropped its own token; a key dropped from n whose value another entry
// aliased left that alias naming nothing, a file no YAML reader takes.
func unshare(root, n *yaml.Node) error {
	if n == nil {
		return nil
	}
	inside := map[*yaml.Node]bool{}
	anchored := false
	var mark func(*yaml.Node)
	mark = func(x *yaml.Node) {
		if inside[x] {
			return
		}
		inside[x] = true
		anchored = anchored || x.Anchor != ""
		for _, c := range x.Content {
			mark(c)
		}
	}
	mark(n)
	if !anchored {
		return nil // only an anchored node can be aliased
	}
	budget := maxUnshared
	var walk func(x *yaml.Node) error
	walk = func(x *yaml.Node) error {
		if x.Kind == yaml.AliasNode && inside[x.Alias] {
			c, err := resolved(x.Alias, &budget)
			if err != nil {
				return err
			}
			*x = *c
			return nil
		}
		for _, c := range x.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// resolved is a copy of n with every alias in it replaced by what it names
// and no anchors: it means what n meant wherever it is written.
func resolved(n *yaml.Node, budget *int) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("kubeconfig: the aliases of the entry to replace expand past %d nodes", maxUnshared)
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		var err error
		if c.Content[i], err = resolved(x, budget); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// mapping builds a block mapping of string keys and values.
func mapping(kv ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, scalar(kv[i]), scalar(kv[i+1]))
	}
	return m
}

func getKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, scalar(key), v)
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
