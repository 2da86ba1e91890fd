package idp

// OpenUnison's Kubernetes session store, which the grace period needs:
// each OIDC session an OidcSession object (openunison.tremolo.io) named
// x<session id>x and labelled with the SHA-1 of the user's DN. Deleting a
// user's objects (as OpenUnison does at logout, and graceguard watch
// --revoke does) ends the sessions: the provider consults the store on
// every refresh, so both the thief's copy of a refresh token and the
// victim's are then refused as OpenUnison refuses them.

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/graceguard/graceguard/internal/kubeclient"
)

// SessionStore is where sessions live beyond the provider's memory. The
// provider writes a session when a user logs in and asks whether it still
// exists before every refresh.
type SessionStore interface {
	Put(ctx context.Context, s SessionRecord) error
	Exists(ctx context.Context, id string) (bool, error)
}

// SessionRecord is what the store keeps of a session: never its tokens.
type SessionRecord struct {
	ID, ClientID, UserDN string
	Expires              time.Time
}

const (
	oidcGroup     = "openunison.tremolo.io"
	userDNLabel   = "tremolo.io/user-dn"
	kubeTimeout   = 5 * time.Second
	maxKubeAnswer = 1 << 20
)

// KubeSessions keeps sessions as OidcSession objects in a namespace of a
// Kubernetes API server.
type KubeSessions struct {
	http      *http.Client
	base      *url.URL
	namespace string

	mu      sync.Mutex
	version string
}

// NewKubeSessions makes a store in namespace with cfg's credentials.
func NewKubeSessions(cfg *kubeclient.Config, namespace string) (*KubeSessions, error) {
	hc, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	base, err := cfg.ServerURL()
	if err != nil {
		return nil, fmt.Errorf("kubernetes API server address: %w", err)
	}
	return &KubeSessions{http: hc, base: base, namespace: namespace}, nil
}

// userDNHash is the label OpenUnison puts on a user's sessions.
func userDNHash(dn string) string {
	h := sha1.Sum([]byte(dn))
	return hex.EncodeToString(h[:])
}

// Put creates the session's object.
func (k *KubeSessions) Put(ctx context.Context, s SessionRecord) error {
	v, err := k.discover(ctx)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": oidcGroup + "/" + v, "kind": "OidcSession",
		"metadata": map[string]any{"name": "x" + s.ID + "x", "labels": map[string]string{userDNLabel: userDNHash(s.UserDN)}},
		"spec":     map[string]any{"session_id": s.ID, "client_id": s.ClientID, "user_dn": s.UserDN, "expires": s.Expires.UTC().Format(time.RFC3339)},
	})
	code, err := k.do(ctx, http.MethodPost, k.url(v), body, nil)
	if err != nil {
		return err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("create OidcSession: %d %s", code, http.StatusText(code))
	}
	return nil
}

// Exists reports whether the session's object is still there.
func (k *KubeSessions) Exists(ctx context.Context, id string) (bool, error) {
	v, err := k.discover(ctx)
	if err != nil {
		return false, err
	}
	code, err := k.do(ctx, http.MethodGet, k.url(v, "x"+id+"x"), nil, nil)
	switch {
	case err != nil:
		return false, err
	case code == http.StatusOK:
		return true, nil
	case code == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("get OidcSession: %d %s", code, http.StatusText(code))
}

func (k *KubeSessions) url(version string, name ...string) string {
	u := *k.base
	u.Path = path.Join(append([]string{"/", k.base.Path, "apis", oidcGroup, version, "namespaces", k.namespace, "oidc-sessions"}, name...)...)
	return u.String()
}

// discover finds the group's preferred version once.
func (k *KubeSessions) discover(ctx context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.version != "" {
		return k.version, nil
	}
	u := *k.base
	u.Path = path.Join("/", k.base.Path, "apis", oidcGroup)
	var g struct {
		PreferredVersion struct {
			Version string `json:"version"`
		} `json:"preferredVersion"`
	}
	code, err := k.do(ctx, http.MethodGet, u.String(), nil, &g)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || g.PreferredVersion.Version == "" {
		return "", fmt.Errorf("discovery of %s: %d %s (is OpenUnison's session store installed?)", oidcGroup, code, http.StatusText(code))
	}
	if !kubeclient.IsVersionName(g.PreferredVersion.Version) {
		return "", fmt.Errorf("discovery of %s: the preferred version is no version name (a lower-case DNS label, as v1 or v1beta1)", oidcGroup)
	}
	k.version = g.PreferredVersion.Version
	return k.version, nil
}

// do sends a request; out, when set, receives a 200's JSON. Only the
// status and out are kept: an answer holds nothing else the IdP needs.
func (k *KubeSessions) do(ctx context.Context, method, u string, body []byte, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, kubeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("kubernetes API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKubeAnswer))
	if err != nil {
		return 0, fmt.Errorf("kubernetes API: %w", err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, errors.New("kubernetes API: an answer that is not JSON")
		}
	}
	return resp.StatusCode, nil
}

// storeSession writes a new session to the store; a session the store
// does not hold would be refused at its first refresh, so the login fails.
func (p *Provider) storeSession(ctx context.Context, s *session) error {
	if p.cfg.Sessions == nil {
		return nil
	}
	rec := SessionRecord{ID: s.id, ClientID: s.clientID, UserDN: s.user.DN, Expires: time.Unix(0, s.expires.Load())}
	if err := p.cfg.Sessions.Put(ctx, rec); err != nil {
		p.st.remove(s)
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// checkSession forgets the token's session when the store no longer holds
// it, so the refresh goes on to fail as for any unknown session:
// "Session does not exist from refresh_token" and an anonymous AzFail.
func (p *Provider) checkSession(ctx context.Context, tok rawToken) error {
	if p.cfg.Sessions == nil {
		return nil
	}
	s := p.st.lookup(tok)
	if s == nil {
		return nil
	}
	ok, err := p.cfg.Sessions.Exists(ctx, s.id)
	if err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	if !ok {
		p.st.remove(s)
		p.st.ended.Add(1)
	}
	return nil
}
