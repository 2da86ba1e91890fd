package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/redact"
)

func newIdpCmd(io streams, serve func(context.Context, *idpServeOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "idp",
		Short: "The bundled OpenUnison-like IdP (a test harness, not for production)",
		Long: `The bundled IdP behaves like OpenUnison's OpenID Connect provider where replay
detection cares: rotating one-time refresh tokens, a grace period, and OpenUnison's
log lines byte for byte. It is a test harness for graceguard, not for production.`,
	}
	cmd.AddCommand(newIdpServeCmd(io, serve), newIdpLoginCmd(io, nil))
	return cmd
}

type idpServeOptions struct {
	io           streams
	addr         string
	issuer       string
	grace        time.Duration
	idTokenTTL   time.Duration
	sessionTTL   time.Duration
	usersFile    string
	clientID     string
	clientSecret string
	// clientSecretFile holds the client secret (--client-secret-file).
	clientSecretFile string
	logFile          string
	trustedProxies   []string
	sessionID        string
	tlsCert          string
	tlsKey           string
	signingKey       string
	revokeOnReuse    bool
	maxSessions      int
	store            idpStoreFlags
	proxy            frontProxyFlags
	// ready, when set, receives the issuer once the IdP listens (tests).
	ready func(issuer string)
}

func newIdpServeCmd(io streams, runF func(context.Context, *idpServeOptions) error) *cobra.Command {
	o := &idpServeOptions{io: io}
	if runF == nil {
		runF = runIdpServe
	}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bundled IdP; its OpenUnison-format log goes to stdout",
		Long: `Serve runs an OpenID Connect provider shaped like OpenUnison's:

  discovery  <issuer>/.well-known/openid-configuration
  JWKS       <issuer>/certs
  token      <issuer>/token   (grants: password, refresh_token)

Refresh tokens rotate on every refresh. With --grace, a rotated-out token is
accepted until its rotation time + grace and answered with the session's current
tokens unchanged, logged as AzSuccess then [ExpiredRefreshTokenUsed], as
OpenUnison does; outside the window it is refused with invalid_grant.

The log (OpenUnison's log4j2 layout) goes to stdout, and also to --log FILE when
given; graceguard's own messages go to stderr. With --log, stdout is a copy: when
it fails (its reader gone, a full disk) that is said once on stderr and the file
goes on getting every line. Without --users the embedded demo
users are served: mmosley, jjackson, kalexander (password start123) and
sim0001..sim9999 (password simulate, for graceguard simulate).

With --proxy-listen, a reverse proxy in front of the IdP plays an ingress-nginx
controller: it writes ingress-nginx's default access log (upstreaminfo) to
--proxy-log, naming the client ($remote_addr: the TCP peer, or the
X-Forwarded-For address a loopback peer sends), and connects to the IdP from
--proxy-from without X-Forwarded-For, so the IdP logs the proxy's address for
every request, as OpenUnison behind an ingress does. The issuer is then the
proxy's URL.

On SIGUSR1 (nginx's signal to reopen its logs) serve reopens --log and
--proxy-log at their paths, made when missing: after logrotate renames them, a
postrotate that sends it moves the writes to new files, each line whole in one
file. A log that cannot be reopened is said on stderr and written on where it
was; the next SIGUSR1 tries again.

This is a test harness, not for production: it binds to loopback by default and
its demo passwords are public.`,
		Example: `  graceguard idp serve --grace 5s --log idp.log
  graceguard idp serve --addr 127.0.0.1:8443 --trusted-proxies 127.0.0.1 --session-id oidc
  graceguard idp serve --grace 5s --session-store kube --kubeconfig ~/.kube/lab --session-namespace openunison
  graceguard idp serve --grace 5s --log openunison.log --proxy-listen 127.0.0.1:8080 --proxy-log ingress.log`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.proxy.noteGiven(cmd)
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8443", "`HOST:PORT` to listen on")
	f.StringVar(&o.issuer, "issuer", "", "issuer `URL` (default http://<addr>/auth/idp/k8sIdp, https with --tls-cert)")
	f.DurationVar(&o.grace, "grace", 0, "how long a rotated-out refresh token stays usable (OpenUnison's grace_period_millis)")
	f.DurationVar(&o.idTokenTTL, "id-token-ttl", idp.DefaultIDTokenTTL, "id_token lifetime")
	f.DurationVar(&o.sessionTTL, "session-ttl", idp.DefaultSessionTTL, "session lifetime, extended by every refresh")
	f.StringVar(&o.usersFile, "users", "", "users YAML `FILE` (username, bcrypt password_hash, dn); default the embedded demo users")
	f.StringVar(&o.clientID, "client-id", idp.DefaultClientID, "OAuth client id")
	f.StringVar(&o.clientSecret, "client-secret", "", "OAuth client secret (default: a public client without one; a secret: prefer GRACEGUARD_CLIENT_SECRET or --client-secret-file)")
	f.StringVar(&o.clientSecretFile, "client-secret-file", "", secretFileFlag("OAuth client secret"))
	f.StringVar(&o.logFile, "log", "", "also append the OpenUnison-format log to `FILE` (reopened on SIGUSR1)")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxies", nil, "`CIDR`s whose X-Forwarded-For sets the client address (OpenUnison has no such option)")
	f.StringVar(&o.sessionID, "session-id", string(idp.SessionIDRequest), "what the log's trailing brackets hold: request (a new id per request, like OpenUnison with kubectl) or oidc (the OIDC session id)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "private key `FILE` for --tls-cert (PEM)")
	f.StringVar(&o.signingKey, "signing-key", "", "id_token signing key `FILE` (PEM): P-256 signs ES256, RSA signs RS256 (default: a new P-256 key)")
	f.BoolVar(&o.revokeOnReuse, "revoke-on-reuse", false, "revoke the whole session when a rotated-out token is used outside the grace period (as Auth0 and Okta do)")
	f.IntVar(&o.maxSessions, "max-sessions", idp.DefaultMaxSessions, "live sessions at most; expired ones are swept")
	o.store.addFlags(f)
	f.StringVar(&o.proxy.listen, "proxy-listen", "", "also serve an ingress-nginx-like reverse proxy in front of the IdP on `HOST:PORT`; the issuer is then its URL")
	o.proxy.addFlags(f)
	return cmd
}

func runIdpServe(ctx context.Context, o *idpServeOptions) error {
	// Before the logs are opened: a SIGUSR1 that comes while serve starts
	// (Go drops one nobody asked for) waits for the reopen loop.
	reopen := make(chan os.Signal, 1)
	notifyReopen(reopen)
	defer signal.Stop(reopen)

	cfg, tlsCfg, err := o.config()
	if err != nil {
		return err
	}
	var logs []*idp.LogFile
	var logOut io.Writer = o.io.out
	if o.logFile != "" {
		f, err := idp.OpenLogFile(o.logFile)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		defer f.Close()
		// stdout is then a copy of the log: a reader that goes (`| head`)
		// must not end the IdP, which Go's default for SIGPIPE on fd 1
		// does. Asked for, SIGPIPE makes the write fail with EPIPE
		// instead, which WithCopy says once.
		pipe := make(chan os.Signal, 1)
		signal.Notify(pipe, syscall.SIGPIPE)
		defer signal.Stop(pipe)
		logOut = f.WithCopy(o.io.out, "stdout", cfg.Diag)
		logs = append(logs, f)
	}
	cfg.Log = logOut

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return listenError("--addr", o.addr, err)
	}
	defer ln.Close()
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	front, err := o.startFront(ln, tlsCfg != nil, cfg.Diag)
	if err != nil {
		return err
	}
	if front != nil {
		defer front.close()
		logs = append(logs, front.log)
	}
	cfg.Issuer = o.issuer
	if cfg.Issuer == "" && front != nil {
		cfg.Issuer = defaultIssuer(front.ln.Addr(), false)
	} else if cfg.Issuer == "" {
		cfg.Issuer = defaultIssuer(ln.Addr(), tlsCfg != nil)
	}
	p, err := idp.New(cfg)
	if err != nil {
		return usageError{err}
	}
	// Ended, and waited for, before the deferred closes of the logs.
	reopenCtx, stopReopen := context.WithCancel(ctx)
	reopened := make(chan struct{})
	go func() {
		defer close(reopened)
		reopenLogs(reopenCtx, reopen, logs, cfg.Diag)
	}()
	defer func() { stopReopen(); <-reopened }()
	return o.serve(ctx, p, ln, front, cfg.Diag)
}

// config checks the flags and reads the files they name (users, signing
// key, certificate), before anything listens.
func (o *idpServeOptions) config() (idp.Config, *tls.Config, error) {
	mode, err := idp.ParseSessionIDMode(o.sessionID)
	if err != nil {
		return idp.Config{}, nil, usageErrorf("--session-id: %v", err)
	}
	proxies, err := parsePrefixes(o.trustedProxies)
	if err != nil {
		return idp.Config{}, nil, usageErrorf("--trusted-proxies: %v", err)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return idp.Config{}, nil, usageErrorf("--tls-cert and --tls-key go together")
	}
	if o.issuer != "" {
		// idp.New checks the rest once the IdP listens; one that does not
		// parse is refused here, naming the flag, without url.Parse's
		// quotes of it.
		if _, err := url.Parse(o.issuer); err != nil {
			return idp.Config{}, nil, urlParseError("--issuer", o.issuer, err)
		}
	}
	if err := o.proxy.check(o.proxy.listen != "", "--proxy-listen"); err != nil {
		return idp.Config{}, nil, err
	}
	clientSecret := o.clientSecret
	if err := readSecretFlag("client-secret", &clientSecret, o.clientSecretFile); err != nil {
		return idp.Config{}, nil, err
	}
	if o.grace < 0 || o.idTokenTTL < time.Second || o.sessionTTL <= 0 || o.maxSessions <= 0 {
		return idp.Config{}, nil, usageErrorf("--grace must be >= 0, --id-token-ttl >= 1s, --session-ttl and --max-sessions > 0")
	}
	// idp.New refuses this too, in its Config's words, and only after
	// --addr is listened on.
	if o.grace > o.idTokenTTL {
		return idp.Config{}, nil, usageErrorf("--grace %s is longer than --id-token-ttl %s: a reuse late in the window would be answered with an id_token that has already expired; want --grace at most --id-token-ttl", o.grace, o.idTokenTTL)
	}
	cfg := idp.Config{
		Grace: o.grace, IDTokenTTL: o.idTokenTTL, SessionTTL: o.sessionTTL,
		ClientID: o.clientID, ClientSecret: clientSecret, TrustedProxies: proxies,
		SessionID: mode, RevokeOnReuse: o.revokeOnReuse, MaxSessions: o.maxSessions,
		Diag: slog.New(slog.NewTextHandler(o.io.errOut, nil)),
	}
	if cfg.Sessions, err = o.store.open(); err != nil {
		return cfg, nil, err
	}
	if err := o.loadFiles(&cfg); err != nil {
		return cfg, nil, err
	}
	if o.tlsCert == "" {
		return cfg, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return cfg, nil, usageErrorf("--tls-cert/--tls-key: %v", err)
	}
	return cfg, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// loadFiles reads --users and --signing-key into cfg.
func (o *idpServeOptions) loadFiles(cfg *idp.Config) error {
	var err error
	if o.usersFile != "" {
		if cfg.Users, err = idp.LoadUsers(o.usersFile); err != nil {
			return usageError{err}
		}
	}
	if o.signingKey != "" {
		if cfg.SigningKey, err = idp.LoadSigningKey(o.signingKey); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// startFront starts the ingress-nginx-like proxy of --proxy-listen in
// front of ln; nil without one.
func (o *idpServeOptions) startFront(ln net.Listener, https bool, diag *slog.Logger) (*runningProxy, error) {
	if o.proxy.listen == "" {
		return nil, nil
	}
	if https {
		return nil, usageErrorf("--proxy-listen serves plain http: it does not go with --tls-cert")
	}
	return o.proxy.start("--proxy-listen", o.proxy.listen, "http://"+ln.Addr().String(), diag)
}

// serve runs the IdP (and its front proxy) until ctx ends, then logs what
// it did.
func (o *idpServeOptions) serve(ctx context.Context, p *idp.Provider, ln net.Listener, front *runningProxy, diag *slog.Logger) error {
	if front != nil {
		go front.serve(ctx)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
		diag.Warn("listening beyond loopback: anyone who can reach this address can log in with the published demo passwords",
			"addr", ln.Addr().String())
	}
	if o.ready != nil {
		o.ready(p.Issuer())
	}
	err := p.Serve(ctx, ln)
	if front != nil {
		err = errors.Join(err, front.wait())
	}
	s := p.Stats()
	diag.Info("idp stopped", "logins", s.Logins, "rotations", s.Rotations, "grace_reuses", s.GraceReuses,
		"refused", s.Refused, "revoked", s.Revoked, "swept", s.Swept, "ended", s.Ended, "sessions", s.Sessions)
	if err != nil {
		return err
	}
	if err := p.LogErr(); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// defaultIssuer is http(s)://<listen address>/auth/idp/k8sIdp; a wildcard
// listen address is written as 127.0.0.1, since an issuer must be a URL
// clients can reach (pass --issuer when they reach it by another name).
func defaultIssuer(addr net.Addr, https bool) string {
	scheme := "http"
	if https {
		scheme = "https"
	}
	host := addr.String()
	if ap, err := netip.ParseAddrPort(host); err == nil && ap.Addr().IsUnspecified() {
		host = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
	}
	return scheme + "://" + host + idp.DefaultIssuerPath
}

// parsePrefixes reads CIDRs; a bare address means just that address.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

type idpLoginOptions struct {
	io                    streams
	issuer                string
	user                  string
	password              string
	passwordFile          string
	passwordStdin         bool
	kubeconfig            string
	server                string
	certificateAuthority  string
	insecureSkipTLSVerify bool
	idpCA                 string
	clientID              string
	clientSecret          string
	clientSecretFile      string
	userEntry             string
}

func newIdpLoginCmd(io streams, runF func(context.Context, *idpLoginOptions) error) *cobra.Command {
	o := &idpLoginOptions{io: io}
	if runF == nil {
		runF = runIdpLogin
	}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in with a password and write a kubeconfig user with the oidc auth-provider",
		Long: `Login runs the password grant against an IdP and writes (or merges into an
existing kubeconfig) a user with auth-provider: oidc holding idp-issuer-url,
client-id, id-token and refresh-token (and client-secret when given), as
OpenUnison's oulogin does. kubectl then refreshes the tokens itself.

With --server it also writes a cluster and a context and makes it current.
client-go hands auth-provider credentials only to https servers: an http
--server is refused, because kubectl would silently send no token to it.`,
		Example: `  graceguard idp login --issuer http://127.0.0.1:8443/auth/idp/k8sIdp \
      --user mmosley --password start123 --kubeconfig ./kubeconfig \
      --server https://127.0.0.1:6443 --certificate-authority api-ca.pem
  echo start123 | graceguard idp login --issuer … --user mmosley --password-stdin --kubeconfig ./kubeconfig`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runF(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.issuer, "issuer", "http://127.0.0.1:8443"+idp.DefaultIssuerPath, "issuer `URL`")
	f.StringVar(&o.user, "user", "", "username")
	f.StringVar(&o.password, "password", "", "password (visible to other local users in the process list; see --password-stdin, --password-file and GRACEGUARD_PASSWORD)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	f.StringVar(&o.passwordFile, "password-file", "", secretFileFlag("password"))
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` to write or merge into (default $KUBECONFIG's first file or ~/.kube/config)")
	f.StringVar(&o.server, "server", "", "also write a cluster and context for this API server `URL` (must be https)")
	f.StringVar(&o.certificateAuthority, "certificate-authority", "", "CA `FILE` for --server")
	f.BoolVar(&o.insecureSkipTLSVerify, "insecure-skip-tls-verify", false, "do not verify --server's certificate")
	f.StringVar(&o.idpCA, "idp-certificate-authority", "", "CA `FILE` for an https issuer; also written to the kubeconfig for kubectl's refreshes")
	f.StringVar(&o.clientID, "client-id", idp.DefaultClientID, "OAuth client id")
	f.StringVar(&o.clientSecret, "client-secret", "", "OAuth client secret, if the IdP has one (a secret: prefer GRACEGUARD_CLIENT_SECRET or --client-secret-file)")
	f.StringVar(&o.clientSecretFile, "client-secret-file", "", secretFileFlag("OAuth client secret"))
	f.StringVar(&o.userEntry, "kubeconfig-user", "", "name of the kubeconfig users entry (default <user>@<issuer host>)")
	return cmd
}

// caFile checks that path holds a PEM certificate and returns it absolute,
// with the pool it makes; an empty path stays empty.
func caFile(flag, path string) (string, *x509.CertPool, error) {
	if path == "" {
		return "", nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return "", nil, usageErrorf("%s: %v", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return "", nil, usageErrorf("%s %s: no PEM certificate", flag, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, usageErrorf("%s: %v", flag, err)
	}
	return abs, pool, nil
}

// readCredentials checks --user and reads the password (from stdin with
// --password-stdin, from a file with --password-file) and the client
// secret of --client-secret-file.
func (o *idpLoginOptions) readCredentials() error {
	if o.user == "" {
		return usageErrorf("--user is required")
	}
	if err := readSecretFlag("client-secret", &o.clientSecret, o.clientSecretFile); err != nil {
		return err
	}
	if o.passwordStdin && o.passwordFile != "" {
		return usageErrorf("--password-file and --password-stdin exclude each other")
	}
	if err := readSecretFlag("password", &o.password, o.passwordFile); err != nil {
		return err
	}
	if o.passwordStdin {
		if o.password != "" {
			return usageErrorf("--password and --password-stdin exclude each other")
		}
		line, err := bufio.NewReader(o.io.in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		o.password = strings.TrimRight(line, "\r\n")
	}
	if o.password == "" {
		return usageErrorf("--password, --password-file or --password-stdin is required")
	}
	return nil
}

// checkIssuerURL checks an --issuer (idp login, simulate): a mistyped one
// is the caller's to fix (exit 2), not an IdP that failed to answer
// discovery (exit 1, in Go's words: "unsupported protocol scheme").
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return urlParseError("--issuer", issuer, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("--issuer %q: want an http:// or https:// URL", redact.URL(issuer))
	}
	return nil
}

// urlParseError is the usage error for a URL flag url.Parse refused: the
// flag, the URL with its password, query values and fragment masked, and
// what is wrong in words. url.Parse's own error is not wrapped: it quotes
// the URL whole and, inside, the bytes at fault (`invalid port ":pa"
// after host` of https://u:pa/ss@host), which may be a password's.
// A string with no "://" is no URL of any scheme: that is what to say
// ("127.0.0.1:8443/auth" is refused for the colon of its port, which
// would only mislead).
func urlParseError(flag, raw string, err error) error {
	if !strings.Contains(raw, "://") {
		return usageErrorf("%s %q: want an http:// or https:// URL", flag, redact.URL(raw))
	}
	return usageErrorf("%s %q: %v", flag, redact.URL(raw), redact.ParseError(err))
}

// checkServerURL checks --server: client-go sends the tokens only over https.
func checkServerURL(server string) error {
	if server == "" {
		return nil
	}
	u, err := url.Parse(server)
	if err != nil {
		return urlParseError("--server", server, err)
	}
	if u.Host == "" {
		return usageErrorf("--server %q is not a URL", redact.URL(server))
	}
	if u.Scheme != "https" {
		return usageErrorf("--server %q: client-go sends auth-provider credentials only to https servers", redact.URL(server))
	}
	return nil
}

func runIdpLogin(ctx context.Context, o *idpLoginOptions) error {
	if err := o.readCredentials(); err != nil {
		return err
	}
	if err := checkIssuerURL(o.issuer); err != nil {
		return err
	}
	if err := checkServerURL(o.server); err != nil {
		return err
	}
	path := o.kubeconfig
	if path == "" {
		path = idp.DefaultKubeconfigPath()
	}
	// Before the login: a file that cannot take the user is the caller's
	// to fix (exit 2), and found after it, it cost a session whose tokens
	// were thrown away, logged by the IdP as any other.
	if err := idp.CheckKubeconfig(path); err != nil {
		return usageError{err}
	}
	if o.certificateAuthority != "" && o.server == "" {
		return usageErrorf("--certificate-authority is the CA of --server, which is not given")
	}
	// kubectl reads a relative path in a kubeconfig relative to the
	// kubeconfig's directory, not to where login ran: write absolute paths
	// of files that exist and hold a certificate, or kubectl fails later.
	var err error
	if o.certificateAuthority, _, err = caFile("--certificate-authority", o.certificateAuthority); err != nil {
		return err
	}
	var pool *x509.CertPool
	if o.idpCA, pool, err = caFile("--idp-certificate-authority", o.idpCA); err != nil {
		return err
	}
	var tlsCfg *tls.Config
	if pool != nil {
		tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := idp.NewClient(ctx, o.issuer, idp.ClientOptions{ClientID: o.clientID, ClientSecret: o.clientSecret, TLSConfig: tlsCfg})
	if err != nil {
		return err
	}
	toks, err := c.Login(ctx, netip.Addr{}, o.user, o.password)
	if err != nil {
		if idp.IsInvalidGrant(err) {
			return fmt.Errorf("login as %s: wrong username or password", o.user)
		}
		return fmt.Errorf("login as %s: %w", o.user, err)
	}
	names, err := idp.WriteKubeconfig(idp.KubeconfigOptions{
		Path: path, Issuer: c.Issuer(), ClientID: o.clientID, ClientSecret: o.clientSecret,
		Username: o.user, Tokens: toks, IdPCAFile: o.idpCA, UserEntry: o.userEntry,
		Server: o.server, CAFile: o.certificateAuthority, InsecureSkipTLSVerify: o.insecureSkipTLSVerify,
	})
	if err != nil {
		return err
	}
	if names.Context != "" {
		_, err = fmt.Fprintf(o.io.out, "wrote user %q and context %q (now current) to %s\n", names.User, names.Context, path)
	} else {
		_, err = fmt.Fprintf(o.io.out, "wrote user %q to %s\n", names.User, path)
	}
	return err
}
