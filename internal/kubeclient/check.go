package kubeclient

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
)

// The exec credential API versions client-go still speaks.
const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// checkCluster finds what makes a cluster unusable, in clientcmd's words
// where it has them.
func checkCluster(name string, c *cluster) []error {
	var errs []error
	if c.Server == "" {
		errs = append(errs, fmt.Errorf("no server found for cluster %q", name))
	}
	if c.ProxyURL != "" {
		if _, err := parseProxyURL(c.ProxyURL); err != nil {
			errs = append(errs, fmt.Errorf("invalid proxy-url for cluster %q: %w", name, err))
		}
	}
	if c.CertificateAuthority != "" && len(c.caData) > 0 {
		errs = append(errs, fmt.Errorf("certificate-authority-data and certificate-authority are both specified for %q", name))
	}
	if c.CertificateAuthority != "" {
		if err := readable(c.CertificateAuthority); err != nil {
			errs = append(errs, fmt.Errorf("unable to read certificate-authority %s for %q: %w", c.CertificateAuthority, name, err))
		}
	}
	return errs
}

// parseProxyURL accepts the proxies net/http can use. Its errors do not
// quote the URL, which may hold a password.
func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch u.Scheme {
	case "http", "https", "socks5":
		return u, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q, must be http, https, or socks5", u.Scheme)
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkUser finds what makes a user's credentials unusable.
func checkUser(name string, u *user) []error {
	var errs []error
	if u.AuthProvider != nil {
		errs = append(errs, fmt.Errorf("user %q uses the auth-provider %q, and graceguard supports no auth-provider (oidc, gcp, azure or any other): use an exec credential plugin instead, such as kubelogin for OIDC", name, u.AuthProvider.Name))
	}
	var methods []string
	if u.Token != "" {
		methods = append(methods, "token")
	}
	if u.Username != "" || u.Password != "" {
		methods = append(methods, "basicAuth")
	}
	if len(methods) > 1 {
		errs = append(errs, fmt.Errorf("more than one authentication method found for %q; found %v, only one is allowed", name, methods))
	}
	errs = append(errs, checkClientCert(name, u)...)
	if u.Exec != nil {
		errs = append(errs, checkExec(name, u.Exec)...)
	}
	if (u.AsUID != "" || len(u.AsGroups) > 0 || len(u.AsUserExtra) > 0) && u.As == "" {
		errs = append(errs, fmt.Errorf("requesting uid, groups or user-extra for %q without impersonating a user", name))
	}
	return errs
}

func checkClientCert(name string, u *user) []error {
	if u.ClientCertificate == "" && len(u.certData) == 0 {
		return nil
	}
	var errs []error
	if u.ClientCertificate != "" && len(u.certData) > 0 {
		errs = append(errs, fmt.Errorf("client-certificate-data and client-certificate are both specified for %q", name))
	}
	if u.ClientKey != "" && len(u.keyData) > 0 {
		errs = append(errs, fmt.Errorf("client-key-data and client-key are both specified for %q", name))
	}
	if u.ClientKey == "" && len(u.keyData) == 0 {
		errs = append(errs, fmt.Errorf("client-key-data or client-key must be specified for %q to use the clientCert authentication method", name))
	}
	for _, f := range []struct{ field, path string }{{"client-certificate", u.ClientCertificate}, {"client-key", u.ClientKey}} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			errs = append(errs, fmt.Errorf("unable to read %s %s for %q: %w", f.field, f.path, name, err))
		}
	}
	return errs
}

func checkExec(name string, e *execEntry) []error {
	var errs []error
	if e.Command == "" {
		errs = append(errs, fmt.Errorf("command must be specified for %q to use exec authentication plugin", name))
	}
	mode := e.InteractiveMode
	switch e.APIVersion {
	case "":
		errs = append(errs, fmt.Errorf("apiVersion must be specified for %q to use exec authentication plugin", name))
	case execV1beta1:
		if mode == "" {
			mode = "IfAvailable" // client-go's default for v1beta1
		}
	case execV1:
	default:
		errs = append(errs, fmt.Errorf("exec plugin of %q: apiVersion %q is not supported, only %s and %s", name, e.APIVersion, execV1, execV1beta1))
	}
	if slices.ContainsFunc(e.Env, func(v envVar) bool { return v.Name == "" }) {
		errs = append(errs, fmt.Errorf("env variable name must be specified for %q to use exec authentication plugin", name))
	}
	switch mode {
	case "":
		if e.APIVersion != execV1beta1 {
			errs = append(errs, fmt.Errorf("interactiveMode must be specified for %q to use exec authentication plugin", name))
		}
	case "Never", "IfAvailable":
		// graceguard runs unattended: the plugin never has a terminal.
	case "Always":
		errs = append(errs, fmt.Errorf("the exec plugin of %q needs a terminal (interactiveMode Always), and graceguard runs it without one: use a plugin that can run unattended", name))
	default:
		errs = append(errs, fmt.Errorf("invalid interactiveMode for %q: %q", name, mode))
	}
	return errs
}
