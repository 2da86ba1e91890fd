package kubeclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
)

// maxExecOutput bounds what an exec plugin may print: an ExecCredential
// is a few kilobytes.
const maxExecOutput = 1 << 20

// execWaitDelay is how long a plugin's output may stay open after it was
// killed (a child it left running holds it).
const execWaitDelay = 5 * time.Second

// execAuth runs an exec credential plugin and keeps what it returned
// until it expires or the server refuses it.
type execAuth struct {
	cfg *ExecConfig
	now func() time.Time
	// certChanged is called when the plugin returns a new client
	// certificate: connections made with the old one must close, or
	// requests keep going out on them with it.
	certChanged func()

	sem chan struct{} // one run at a time; waiting for it heeds the context

	mu       sync.Mutex
	creds    *execCreds // nil: run the plugin at the next request
	lastCert []byte     // the last certificate returned, to tell a new one
}

type execCreds struct {
	token  string
	cert   *tls.Certificate
	expiry time.Time // zero: until the server refuses them
}

func newExecAuth(cfg *ExecConfig) *execAuth {
	return &execAuth{cfg: cfg, now: time.Now, certChanged: func() {}, sem: make(chan struct{}, 1)}
}

// get returns the cached credentials, or runs the plugin for new ones.
func (a *execAuth) get(ctx context.Context) (*execCreds, error) {
	if c := a.cached(); c != nil {
		return c, nil
	}
	select {
	case a.sem <- struct{}{}:
		defer func() { <-a.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("exec plugin: %w", ctx.Err())
	}
	if c := a.cached(); c != nil { // another request ran it meanwhile
		return c, nil
	}
	c, err := a.run(ctx)
	if err != nil {
		return nil, err
	}
	a.store(c)
	return c, nil
}

func (a *execAuth) cached() *execCreds {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds != nil && (a.creds.expiry.IsZero() || a.now().Before(a.creds.expiry)) {
		return a.creds
	}
	return nil
}

func (a *execAuth) store(c *execCreds) {
	a.mu.Lock()
	var leaf []byte
	if c.cert != nil {
		leaf = c.cert.Certificate[0]
	}
	changed := a.lastCert != nil && !bytes.Equal(a.lastCert, leaf)
	a.creds, a.lastCert = c, leaf
	a.mu.Unlock()
	if changed {
		a.certChanged()
	}
}

// refused drops credentials the server answered 401 to, unless newer ones
// replaced them meanwhile: the next request runs the plugin again.
func (a *execAuth) refused(c *execCreds) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.creds == c {
		a.creds = nil
	}
}

// clientCert is the TLS client certificate callback: the plugin's
// certificate, or none when it returns a token.
func (a *execAuth) clientCert(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c, err := a.get(cri.Context())
	if err != nil {
		return nil, err
	}
	if c.cert == nil {
		return &tls.Certificate{}, nil
	}
	return c.cert, nil
}

// run runs the plugin once, without a terminal: stdin is empty, and
// KUBERNETES_EXEC_INFO says it is not interactive. Its stderr is kept for
// the error when it fails, rather than mixed into graceguard's log.
func (a *execAuth) run(ctx context.Context) (*execCreds, error) {
	info, err := json.Marshal(execCredential{APIVersion: a.cfg.APIVersion, Kind: "ExecCredential", Spec: execSpec{Cluster: a.cfg.Cluster}})
	if err != nil {
		return nil, fmt.Errorf("exec plugin: %w", err)
	}
	cmd := exec.CommandContext(ctx, filepath.Clean(a.cfg.Command), a.cfg.Args...)
	cmd.Env = append(append(os.Environ(), a.cfg.Env...), "KUBERNETES_EXEC_INFO="+string(info))
	stdout, stderr := &limitedBuffer{max: maxExecOutput}, &tailBuffer{max: 512}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = execWaitDelay
	if err := cmd.Run(); err != nil {
		return nil, a.runError(err, stderr.String())
	}
	return parseExecCredential(stdout.Bytes(), a.cfg.APIVersion)
}

// runError says why the plugin failed, with the end of what it printed on
// stderr: that is where plugins explain themselves.
func (a *execAuth) runError(err error, stderr string) error {
	var ee *exec.ExitError
	var e *exec.Error
	switch {
	case errors.As(err, &e) || errors.Is(err, fs.ErrNotExist):
		msg := fmt.Sprintf("exec plugin: executable %s not found", a.cfg.Command)
		if a.cfg.InstallHint != "" {
			msg += ": " + printable(a.cfg.InstallHint)
		}
		return errors.New(msg)
	case errors.As(err, &ee):
		err = fmt.Errorf("exec plugin: executable %s failed with exit code %d", a.cfg.Command, ee.ExitCode())
	default:
		err = fmt.Errorf("exec plugin %s: %w", a.cfg.Command, err)
	}
	if s := printable(strings.TrimSpace(stderr)); s != "" {
		return fmt.Errorf("%w: %s", err, s)
	}
	return err
}

// printable replaces control characters (terminal escapes from a
// kubeconfig or a plugin) with spaces.
func printable(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// execCredential is client.authentication.k8s.io's ExecCredential, v1 or
// v1beta1 (they are the same on the wire).
type execCredential struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Spec       execSpec    `json:"spec"`
	Status     *execStatus `json:"status,omitempty"`
}

type execSpec struct {
	Cluster     *ExecCluster `json:"cluster,omitempty"`
	Interactive bool         `json:"interactive"`
}

type execStatus struct {
	ExpirationTimestamp   *string `json:"expirationTimestamp,omitempty"`
	Token                 string  `json:"token,omitempty"`
	ClientCertificateData string  `json:"clientCertificateData,omitempty"`
	ClientKeyData         string  `json:"clientKeyData,omitempty"`
}

// parseExecCredential checks a plugin's output as client-go does. Its
// errors never quote the output: it holds the credentials.
func parseExecCredential(out []byte, apiVersion string) (*execCreds, error) {
	var cred execCredential
	if err := json.Unmarshal(out, &cred); err != nil {
		return nil, fmt.Errorf("exec plugin: its output is not an ExecCredential: %w", jsonError(err))
	}
	switch {
	case cred.APIVersion != apiVersion || cred.Kind != "ExecCredential":
		return nil, fmt.Errorf("exec plugin is configured to use API version %s, plugin returned version %.60q kind %.40q", apiVersion, cred.APIVersion, cred.Kind)
	case cred.Status == nil:
		return nil, errors.New("exec plugin didn't return a status field")
	case cred.Status.Token == "" && cred.Status.ClientCertificateData == "" && cred.Status.ClientKeyData == "":
		return nil, errors.New("exec plugin didn't return a token or cert/key pair")
	case (cred.Status.ClientCertificateData == "") != (cred.Status.ClientKeyData == ""):
		return nil, errors.New("exec plugin returned only certificate or key, not both")
	}
	c := &execCreds{token: cred.Status.Token}
	if ts := cred.Status.ExpirationTimestamp; ts != nil {
		t, err := time.Parse(time.RFC3339, *ts)
		if err != nil {
			return nil, errors.New("exec plugin returned an expirationTimestamp that is not an RFC 3339 time")
		}
		c.expiry = t
	}
	if cred.Status.ClientCertificateData != "" {
		cert, err := tls.X509KeyPair([]byte(cred.Status.ClientCertificateData), []byte(cred.Status.ClientKeyData))
		if err != nil {
			return nil, fmt.Errorf("exec plugin: failed parsing client key/certificate: %w", err)
		}
		c.cert = &cert
	}
	return c, nil
}

// jsonError drops the offending value a type error names.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("%s is a JSON %s", te.Field, te.Value)
	}
	return err
}

// execRoundTripper adds the plugin's token to requests that carry no
// Authorization, and drops credentials the server refuses.
type execRoundTripper struct {
	auth *execAuth
	next http.RoundTripper
}

func (r *execRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return r.next.RoundTrip(req)
	}
	c, err := r.auth.get(req.Context())
	if err != nil {
		return nil, fmt.Errorf("getting credentials: %w", err)
	}
	if c.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		r.auth.refused(c)
	}
	return resp, err
}

// limitedBuffer keeps at most max bytes and fails the write beyond.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("more than %d bytes of output", b.max)
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return strings.ToValidUTF8(string(b.buf), "") }
