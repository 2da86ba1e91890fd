package kubeclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/graceguard/graceguard/internal/redact"
)

// Config is an API server and the credentials to use with it, resolved:
// files named by a kubeconfig are already read, except those re-read as
// they rotate. At most one of Token (with TokenFile), Username and
// Password, a client certificate and Exec authenticates a request; Exec is
// used only when none of the others is set, as client-go does.
//
// Its String and GoString methods print no credential, so a Config in a
// log line or an error leaks nothing.
type Config struct {
	// Host is the API server: a URL, perhaps with a path prefix, or a
	// host:port that is https when TLS is configured, else http.
	Host string

	// ServerName is the name the server's certificate must carry, when
	// not Host's.
	ServerName string
	// Insecure skips the check of the server's certificate.
	Insecure bool
	// CAData holds the PEM certificates the server's must chain to;
	// empty: the system's.
	CAData []byte
	// CertData and KeyData are a PEM client certificate and its key; or
	// CertFile and KeyFile name them, read again at a new connection once
	// they change (a renewed certificate is picked up without a restart).
	CertData, KeyData []byte
	CertFile, KeyFile string

	// Token is a bearer token; TokenFile, when set, holds its newer
	// versions: it is read again at most every minute, and at the next
	// request after a 401, as client-go does for a rotating token.
	Token     string
	TokenFile string
	// Username and Password are for basic authentication.
	Username, Password string
	// Exec runs a credential plugin for a token or client certificate.
	Exec *ExecConfig

	// Impersonate makes requests act as another user.
	Impersonate Impersonation

	// ProxyURL is the proxy to reach Host through (http, https or
	// socks5); nil: the one HTTPS_PROXY, HTTP_PROXY and NO_PROXY choose.
	ProxyURL *url.URL
	// DisableCompression asks for uncompressed responses.
	DisableCompression bool
	// UserAgent is sent with every request when set.
	UserAgent string
}

// Impersonation is who requests act as (kubectl's --as and --as-group).
type Impersonation struct {
	User   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

func (i Impersonation) set() bool {
	return i.User != "" || i.UID != "" || len(i.Groups) > 0 || len(i.Extra) > 0
}

// ExecConfig is a client-go credential plugin: a command that prints an
// ExecCredential (client.authentication.k8s.io/v1 or v1beta1) with a token
// or a client certificate and key.
type ExecConfig struct {
	// Command is run from PATH, or from the kubeconfig's directory when
	// the kubeconfig named it with a relative path.
	Command string
	Args    []string
	// Env is added to graceguard's environment, as NAME=value.
	Env        []string
	APIVersion string
	// InstallHint is shown when Command is not found.
	InstallHint string
	// Cluster, when the kubeconfig sets provideClusterInfo, is passed to
	// the plugin in KUBERNETES_EXEC_INFO.
	Cluster *ExecCluster
}

// ExecCluster describes the API server to an exec plugin, as the
// ExecCredential's spec.cluster does.
type ExecCluster struct {
	Server                   string `json:"server"`
	TLSServerName            string `json:"tls-server-name,omitempty"`
	InsecureSkipTLSVerify    bool   `json:"insecure-skip-tls-verify,omitempty"`
	CertificateAuthorityData []byte `json:"certificate-authority-data,omitempty"`
	ProxyURL                 string `json:"proxy-url,omitempty"`
	DisableCompression       bool   `json:"disable-compression,omitempty"`
	// Config is the cluster's client.authentication.k8s.io/exec
	// extension.
	Config json.RawMessage `json:"config,omitempty"`
}

// hasCA, hasCert and the credential tests say what a Config authenticates
// with; client-go's names for the same tests.
func (c *Config) hasCA() bool   { return len(c.CAData) > 0 }
func (c *Config) hasCert() bool { return len(c.CertData) > 0 || c.CertFile != "" }
func (c *Config) hasToken() bool {
	return c.Token != "" || c.TokenFile != ""
}
func (c *Config) hasBasic() bool { return c.Username != "" || c.Password != "" }

// usesExec reports whether the exec plugin authenticates: only when nothing
// else does.
func (c *Config) usesExec() bool {
	return c.Exec != nil && !c.hasToken() && !c.hasBasic() && !c.hasCert()
}

// ServerURL is the API server's base URL. A Host without a scheme is given
// https when TLS is configured (a CA, a client certificate or Insecure) and
// http otherwise, as client-go does.
func (c *Config) ServerURL() (*url.URL, error) {
	return serverURL(c.Host, c.hasCA() || c.hasCert() || c.Insecure)
}

func serverURL(host string, defaultTLS bool) (*url.URL, error) {
	if host == "" {
		host = "localhost"
	}
	u, err := url.Parse(host)
	if err == nil && u.Scheme != "" && u.Host != "" {
		return u, nil
	}
	scheme := "http://"
	if defaultTLS {
		scheme = "https://"
	}
	// url errors quote the whole address, and an address may carry a
	// password: say what is wrong without it.
	if u, err = url.Parse(scheme + host); err != nil {
		return nil, errors.New("the server is neither a URL nor a host:port")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("the server is neither a URL nor a host:port")
	}
	return u, nil
}

// String describes c without its credentials.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubeclient.Config{Host: %q", redact.URL(c.Host))
	if c.ServerName != "" {
		fmt.Fprintf(&b, ", ServerName: %q", c.ServerName)
	}
	if c.Insecure {
		b.WriteString(", Insecure")
	}
	if c.hasCA() {
		b.WriteString(", CA")
	}
	for _, a := range c.authMethods() {
		b.WriteString(", " + a)
	}
	if c.Impersonate.set() {
		fmt.Fprintf(&b, ", as %q", c.Impersonate.User)
	}
	if c.ProxyURL != nil {
		fmt.Fprintf(&b, ", proxy %s", redact.URL(c.ProxyURL.String()))
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so that %#v prints no credential either.
func (c Config) GoString() string { return c.String() }

// authMethods names how c authenticates, with the files it reads.
func (c *Config) authMethods() []string {
	var m []string
	switch {
	case c.TokenFile != "":
		m = append(m, "token file "+c.TokenFile)
	case c.Token != "":
		m = append(m, "token")
	}
	if c.hasBasic() {
		m = append(m, fmt.Sprintf("basic auth as %q", c.Username))
	}
	switch {
	case c.CertFile != "":
		m = append(m, "client certificate "+c.CertFile)
	case len(c.CertData) > 0:
		m = append(m, "client certificate")
	}
	if c.Exec != nil {
		m = append(m, "exec plugin "+c.Exec.Command)
	}
	return m
}
