package kubeclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// build makes the Config of a checked cluster and user. Like clientcmd, it
// uses the cluster's TLS settings and the user's credentials only when the
// server is https: credentials never go out in clear text.
func build(clusterName string, cl *cluster, userName string, u *user) (*Config, error) {
	cfg := &Config{Host: cleanHost(cl.Server), DisableCompression: cl.DisableCompression}
	if cl.ProxyURL != "" {
		cfg.ProxyURL, _ = parseProxyURL(cl.ProxyURL) // checked
	}
	if u.As != "" {
		cfg.Impersonate = Impersonation{User: u.As, UID: u.AsUID, Groups: u.AsGroups, Extra: u.AsUserExtra}
	}
	if base, err := serverURL(cfg.Host, false); err != nil || base.Scheme != "https" {
		return cfg, nil
	}
	if err := buildTLS(cfg, clusterName, cl); err != nil {
		return nil, err
	}
	if err := buildCredentials(cfg, userName, u); err != nil {
		return nil, err
	}
	if u.Exec != nil {
		cfg.Exec = buildExec(cfg, cl, u.Exec)
	}
	return cfg, nil
}

// cleanHost drops the query and fragment of a server URL with a path, as
// clientcmd does.
func cleanHost(host string) string {
	u, err := url.ParseRequestURI(host)
	if err != nil || u.Opaque != "" || len(u.Path) <= 1 {
		return host
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

func buildTLS(cfg *Config, name string, cl *cluster) error {
	cfg.ServerName, cfg.Insecure = cl.TLSServerName, cl.InsecureSkipTLSVerify
	cfg.CAData = cl.caData
	if cl.CertificateAuthority != "" {
		b, err := os.ReadFile(cl.CertificateAuthority)
		if err != nil {
			return fmt.Errorf("unable to read certificate-authority %s for %q: %w", cl.CertificateAuthority, name, err)
		}
		cfg.CAData = b
	}
	return checkTLS(cfg)
}

// checkTLS refuses what client-go's transport refuses: a CA with the
// insecure flag, and CA data that holds no certificate.
func checkTLS(cfg *Config) error {
	if !cfg.hasCA() {
		return nil
	}
	if cfg.Insecure {
		return errors.New("specifying a root certificates file with the insecure flag is not allowed")
	}
	if _, err := certPool(cfg.CAData); err != nil {
		return fmt.Errorf("unable to load root certificates: %w", err)
	}
	return nil
}

// certPool makes a pool of PEM certificates, saying why when it cannot.
func certPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if pool.AppendCertsFromPEM(data) {
		return pool, nil
	}
	for len(data) > 0 {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return nil, errors.New("unable to parse bytes as PEM block")
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("failed to parse certificate: %w", err)
		}
	}
	return nil, errors.New("no valid certificate authority data seen")
}

// buildCredentials sets the user's token, basic auth and client
// certificate. A token file is read now (a missing one is an error now,
// not at the first request) and again as it rotates.
func buildCredentials(cfg *Config, name string, u *user) error {
	cfg.Token, cfg.TokenFile = u.Token, u.TokenFile
	if u.Token == "" && u.TokenFile != "" {
		tok, err := readToken(u.TokenFile)
		if err != nil {
			return fmt.Errorf("unable to read tokenFile %s for %q: %w", u.TokenFile, name, err)
		}
		cfg.Token = tok
	}
	cfg.Username, cfg.Password = u.Username, u.Password
	if u.ClientCertificate == "" && len(u.certData) == 0 {
		return nil
	}
	if err := buildClientCert(cfg, u); err != nil {
		return fmt.Errorf("client certificate of %q: %w", name, err)
	}
	return nil
}

// buildClientCert keeps the certificate's files when both are files, to
// read them again as they are renewed (client-go does the same), and reads
// a lone file now. Either way the pair is checked now.
func buildClientCert(cfg *Config, u *user) error {
	if u.ClientCertificate != "" && u.ClientKey != "" {
		cfg.CertFile, cfg.KeyFile = u.ClientCertificate, u.ClientKey
		_, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		return err
	}
	var err error
	if cfg.CertData, err = dataOrFile(u.certData, u.ClientCertificate); err != nil {
		return err
	}
	if cfg.KeyData, err = dataOrFile(u.keyData, u.ClientKey); err != nil {
		return err
	}
	_, err = tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	return err
}

func dataOrFile(data []byte, path string) ([]byte, error) {
	if len(data) > 0 || path == "" {
		return data, nil
	}
	return os.ReadFile(path)
}

func buildExec(cfg *Config, cl *cluster, e *execEntry) *ExecConfig {
	x := &ExecConfig{Command: e.Command, Args: e.Args, APIVersion: e.APIVersion, InstallHint: e.InstallHint}
	for _, v := range e.Env {
		x.Env = append(x.Env, v.Name+"="+v.Value)
	}
	if e.ProvideClusterInfo {
		x.Cluster = &ExecCluster{
			Server: cfg.Host, TLSServerName: cfg.ServerName, InsecureSkipTLSVerify: cfg.Insecure,
			CertificateAuthorityData: cfg.CAData, ProxyURL: cl.ProxyURL, DisableCompression: cfg.DisableCompression,
			Config: cl.execConfig,
		}
	}
	return x
}
