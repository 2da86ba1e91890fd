package idp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/internal/redact"
)

// SourceMode is how a Client makes a request come from a chosen address.
type SourceMode string

const (
	// SourceBind binds the local end of the TCP connection to the address.
	// On Linux every address of 127.0.0.0/8 is local, so one machine can
	// play many loopback clients; the IdP sees the real TCP peer.
	SourceBind SourceMode = "bind"
	// SourceXFF sends the address in X-Forwarded-For. The IdP believes it
	// only when the client's real address is in its --trusted-proxies.
	SourceXFF SourceMode = "xff"
)

// ParseSourceMode parses "bind", "xff" or "auto" (returned as "").
func ParseSourceMode(s string) (SourceMode, error) {
	switch s {
	case "auto", "":
		return "", nil
	case string(SourceBind), string(SourceXFF):
		return SourceMode(s), nil
	}
	return "", fmt.Errorf("source mode %q: want auto, bind or xff", s)
}

// ClientOptions configures a Client.
type ClientOptions struct {
	ClientID     string      // default "kubernetes"
	ClientSecret string      // sent with client_secret_post when set
	Source       SourceMode  // default SourceXFF
	TLSConfig    *tls.Config // for an https issuer with a private CA
	Timeout      time.Duration
	// IdleConnsPerAddr bounds idle keep-alive connections per source address.
	IdleConnsPerAddr int
	// UserAgent is sent with every request; empty sends Go's default
	// (Go-http-client/1.1), which is what client-go's oidc refresh sends.
	UserAgent string
	// DialAddr, when set, is the HOST:PORT every connection goes to
	// instead of the issuer's: a proxy in front of the IdP, as DNS would
	// send clients to an ingress. URLs and Host headers stay the issuer's.
	DialAddr string
}

// Tokens is a token endpoint's successful answer. It holds credentials:
// never log it.
type Tokens struct {
	IDToken      string `json:"id_token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

// TokenError is an OAuth error answer (RFC 6749 section 5.2).
type TokenError struct {
	Status      int
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("token endpoint: HTTP %d", e.Status)
	}
	return fmt.Sprintf("token endpoint: HTTP %d %s", e.Status, printableCode(e.Code))
}

// printableCode is an error code as the terminal may show it: RFC 6749
// keeps a code to printable ASCII but '"' and '\\'; anything else is the
// server's mistake or malice (an escape sequence, a second line), quoted.
func printableCode(code string) string {
	for i := 0; i < len(code); i++ {
		if c := code[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.QuoteToASCII(code)
		}
	}
	return code
}

// IsInvalidGrant reports whether err is the IdP refusing a grant (a rotated-
// out, unknown or expired refresh token, or a wrong password).
func IsInvalidGrant(err error) bool {
	var te *TokenError
	return errors.As(err, &te) && te.Code == "invalid_grant"
}

// Client talks to an OpenUnison-like token endpoint as kubectl would, from
// any source address it is asked to use. It is safe for concurrent use.
type Client struct {
	issuer   string
	tokenURL string
	opts     ClientOptions

	mu         sync.Mutex
	transports map[netip.Addr]*http.Client // by bound source address
	plain      *http.Client
}

// NewClient discovers the issuer's token endpoint and returns a Client.
func NewClient(ctx context.Context, issuer string, opts ClientOptions) (*Client, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.Source == "" {
		opts.Source = SourceXFF
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.IdleConnsPerAddr <= 0 {
		opts.IdleConnsPerAddr = 64
	}
	c := &Client{issuer: strings.TrimSuffix(issuer, "/"), opts: opts, transports: make(map[netip.Addr]*http.Client)}
	c.plain = c.newHTTPClient(netip.Addr{})
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := c.getJSON(ctx, c.issuer+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("discover %s: %w", redact.URL(c.issuer), err)
	}
	if doc.TokenEndpoint == "" {
		return nil, fmt.Errorf("discover %s: no token_endpoint", redact.URL(c.issuer))
	}
	c.tokenURL = doc.TokenEndpoint
	return c, nil
}

// Issuer is the issuer URL the client was made for.
func (c *Client) Issuer() string { return c.issuer }

// TokenURL is the discovered token endpoint.
func (c *Client) TokenURL() string { return c.tokenURL }

// ClientID is the OAuth client id the client presents.
func (c *Client) ClientID() string { return c.opts.ClientID }

// Login runs the password grant as username from the source address from
// (the zero Addr: whatever address the operating system picks).
func (c *Client) Login(ctx context.Context, from netip.Addr, username, password string) (Tokens, error) {
	return c.token(ctx, from, url.Values{"grant_type": {grantPassword}, "username": {username}, "password": {password}, "scope": {"openid"}})
}

// Refresh runs the refresh_token grant from the source address from.
func (c *Client) Refresh(ctx context.Context, from netip.Addr, refreshToken string) (Tokens, error) {
	return c.token(ctx, from, url.Values{"grant_type": {grantRefresh}, "refresh_token": {refreshToken}})
}

// Attempt is the outcome of one request of a Race.
type Attempt struct {
	Tokens Tokens
	Err    error
	Start  time.Time
	End    time.Time
}

// Race sends two refreshes of the same token from the same address at the
// same moment, as two kubectl processes sharing a kubeconfig do when their
// id_token expires together.
func (c *Client) Race(ctx context.Context, from netip.Addr, refreshToken string) [2]Attempt {
	var out [2]Attempt
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		wg.Go(func() {
			<-start
			out[i].Start = time.Now()
			out[i].Tokens, out[i].Err = c.Refresh(ctx, from, refreshToken)
			out[i].End = time.Now()
		})
	}
	close(start)
	wg.Wait()
	return out
}

// CloseIdleConnections closes every idle keep-alive connection.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plain.CloseIdleConnections()
	for _, hc := range c.transports {
		hc.CloseIdleConnections()
	}
}

func (c *Client) token(ctx context.Context, from netip.Addr, form url.Values) (Tokens, error) {
	form.Set("client_id", c.opts.ClientID)
	if c.opts.ClientSecret != "" {
		form.Set("client_secret", c.opts.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, fmt.Errorf("token request: %w", redact.Error(err, c.tokenURL))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.opts.UserAgent != "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	resp, err := c.do(req, from)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Tokens{}, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		te := &TokenError{Status: resp.StatusCode}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil {
			te.Code, te.Description = e.Error, e.Description
		}
		return Tokens{}, te
	}
	var t Tokens
	if err := json.Unmarshal(body, &t); err != nil {
		return Tokens{}, fmt.Errorf("token response: %w", err)
	}
	if t.RefreshToken == "" || t.IDToken == "" {
		return Tokens{}, errors.New("token response without refresh_token or id_token")
	}
	return t, nil
}

func (c *Client) getJSON(ctx context.Context, u string, v any) error {
	// u is the issuer's, which may hold a password or a query; the
	// errors of url.Parse and net/http quote it whole.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return redact.Error(err, u)
	}
	resp, err := c.plain.Do(req)
	if err != nil {
		return redact.Error(err, u)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", redact.URL(u), resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", redact.URL(u), err)
	}
	return nil
}

func (c *Client) do(req *http.Request, from netip.Addr) (*http.Response, error) {
	hc := c.plain
	if from.IsValid() {
		switch c.opts.Source {
		case SourceBind:
			hc = c.boundClient(from)
		case SourceXFF:
			req.Header.Set("X-Forwarded-For", from.String())
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The grant travels in the body, but the token endpoint is the
		// IdP's to name and url.Error quotes it: it may carry a password
		// or a query.
		return nil, fmt.Errorf("token request: %w", redact.Error(err, req.URL.String()))
	}
	return resp, nil
}

func (c *Client) boundClient(from netip.Addr) *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	hc, ok := c.transports[from]
	if !ok {
		hc = c.newHTTPClient(from)
		c.transports[from] = hc
	}
	return hc
}

func (c *Client) newHTTPClient(from netip.Addr) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice(), Zone: from.Zone()}
	}
	dial := d.DialContext
	if to := c.opts.DialAddr; to != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) { return d.DialContext(ctx, network, to) }
	}
	tr := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     c.opts.TLSConfig,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: c.opts.IdleConnsPerAddr,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: c.opts.Timeout}
}
