package idp

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

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
		return names, fmt.Errorf("kubeconfig: issuer %q is not a URL", o.Issuer)
	}
	var server *url.URL
	if o.Server != "" {
		if server, err = url.Parse(o.Server); err != nil || server.Host == "" {
			return names, fmt.Errorf("kubeconfig: server %q is not a URL", o.Server)
		}
		if server.Scheme != "https" {
			return names, fmt.Errorf("kubeconfig: server %q: client-go uses auth-provider credentials only with https servers", o.Server)
		}
	}
	cfg, err := clientcmd.LoadFromFile(o.Path)
	if errors.Is(err, fs.ErrNotExist) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}

	clientID := o.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	names.User = o.UserEntry
	if names.User == "" {
		names.User = o.Username + "@" + iss.Host
	}
	ap := map[string]string{
		"idp-issuer-url": o.Issuer,
		"client-id":      clientID,
		"id-token":       o.Tokens.IDToken,
		"refresh-token":  o.Tokens.RefreshToken,
	}
	if o.ClientSecret != "" {
		ap["client-secret"] = o.ClientSecret
	}
	if o.IdPCAFile != "" {
		ap["idp-certificate-authority"] = o.IdPCAFile
	}
	user := cfg.AuthInfos[names.User]
	if user == nil {
		user = clientcmdapi.NewAuthInfo()
	}
	// A login replaces whatever credentials the entry held.
	user.Token, user.TokenFile, user.Exec = "", "", nil
	user.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc", Config: ap}
	cfg.AuthInfos[names.User] = user

	if server != nil {
		names.Cluster = server.Host
		names.Context = names.User + "/" + names.Cluster
		cluster := cfg.Clusters[names.Cluster]
		if cluster == nil {
			cluster = clientcmdapi.NewCluster()
		}
		cluster.Server = o.Server
		cluster.CertificateAuthority = o.CAFile
		cluster.InsecureSkipTLSVerify = o.InsecureSkipTLSVerify
		cfg.Clusters[names.Cluster] = cluster
		ctx := clientcmdapi.NewContext()
		ctx.Cluster, ctx.AuthInfo = names.Cluster, names.User
		cfg.Contexts[names.Context] = ctx
		cfg.CurrentContext = names.Context
	}
	if err := clientcmd.WriteToFile(*cfg, o.Path); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	// WriteToFile creates the file 0600 but keeps the mode of an existing
	// one; the file now holds a refresh token, so tighten it either way.
	if err := os.Chmod(o.Path, 0o600); err != nil {
		return names, fmt.Errorf("kubeconfig: %w", err)
	}
	return names, nil
}
