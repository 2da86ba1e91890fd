package respond

import (
	"context"
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
	"github.com/graceguard/graceguard/internal/retry"
)

// Group is OpenUnison's API group; its oidc-sessions resource is the
// Kubernetes session store.
const Group = "openunison.tremolo.io"

// UserLabel labels an OidcSession with the SHA-1 of its user's DN.
const UserLabel = "tremolo.io/user-dn"

// metadataOnly asks the API server for the objects' metadata alone
// (PartialObjectMetadataList): the spec holds the session's tokens, which
// graceguard must never hold, let alone log.
const metadataOnly = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

// requestTimeout bounds one API request; the retries bound the whole.
const requestTimeout = 10 * time.Second

// maxBody bounds what is read of a response: the metadata of a user's
// sessions, a few hundred bytes each.
const maxBody = 8 << 20

// ErrDeletedUncounted says a deletecollection succeeded but its answer,
// which names the sessions deleted, could not be read (past maxBody, cut,
// malformed). The API server answers success only once the objects are
// deleted: the sessions are ended, not counted.
var ErrDeletedUncounted = errors.New("sessions deleted; the API server's answer naming the deleted sessions was not read")

// unreadError is a success status whose body could not be read or
// decoded: what was asked was done, what the answer said is lost.
type unreadError struct{ err error }

func (e *unreadError) Error() string { return e.err.Error() }
func (e *unreadError) Unwrap() error { return e.err }

// APIError is a response of the API server other than success.
type APIError = kubeclient.StatusError

// retryAfterError is an API answer that said when to ask again: its
// Retry-After, read whatever the status (classify decides which to
// honour).
type retryAfterError struct {
	*APIError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.APIError }

// API ends sessions through the Kubernetes API. It finds the version of
// openunison.tremolo.io the server prefers by discovery, once it has
// answered, and never decodes more of an OidcSession than its metadata.
type API struct {
	http    *http.Client
	base    *url.URL
	maxBody int64 // of an answer read; maxBody but in tests

	mu      sync.Mutex
	version string // found by discovery; "" until then
}

// NewAPI makes an API with the credentials cfg names (the pod's service
// account in a cluster, else a kubeconfig's).
func NewAPI(cfg *kubeclient.Config) (*API, error) {
	hc, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	base, err := cfg.ServerURL()
	if err != nil {
		return nil, fmt.Errorf("kubernetes API server address: %w", err)
	}
	return &API{http: hc, base: base, maxBody: maxBody}, nil
}

// Version is the served version of openunison.tremolo.io, found by
// discovery (the group's preferred version) on first use.
func (a *API) Version(ctx context.Context) (string, error) {
	a.mu.Lock()
	v := a.version
	a.mu.Unlock()
	if v != "" {
		return v, nil
	}
	var group struct {
		Versions []struct {
			Version string `json:"version"`
		} `json:"versions"`
		PreferredVersion struct {
			Version string `json:"version"`
		} `json:"preferredVersion"`
	}
	if err := a.do(ctx, http.MethodGet, a.url("apis", Group), nil, "application/json", &group); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
			ae.Msg = Group + " is not served: is OpenUnison's session store (its CRDs) installed?"
		}
		return "", fmt.Errorf("discovery of %s: %w", Group, err)
	}
	v = group.PreferredVersion.Version
	if v == "" && len(group.Versions) > 0 {
		v = group.Versions[0].Version
	}
	if v == "" {
		return "", fmt.Errorf("discovery of %s: no version served", Group)
	}
	a.mu.Lock()
	a.version = v
	a.mu.Unlock()
	return v, nil
}

func (a *API) url(parts ...string) *url.URL {
	u := *a.base
	u.Path = path.Join(append([]string{"/", a.base.Path}, parts...)...)
	return &u
}

func (a *API) sessionsURL(ctx context.Context, namespace, dnHash string) (*url.URL, error) {
	v, err := a.Version(ctx)
	if err != nil {
		return nil, err
	}
	u := a.url("apis", Group, v, "namespaces", namespace, "oidc-sessions")
	u.RawQuery = url.Values{"labelSelector": {UserLabel + "=" + dnHash}}.Encode()
	return u, nil
}

// metaList is a list of objects of which only the names are read.
type metaList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"items"`
}

func (l metaList) names() []string {
	out := make([]string, len(l.Items))
	for i, it := range l.Items {
		out[i] = it.Metadata.Name
	}
	return out
}

// List names the user's sessions, reading their metadata only.
func (a *API) List(ctx context.Context, namespace, dnHash string) ([]string, error) {
	u, err := a.sessionsURL(ctx, namespace, dnHash)
	if err != nil {
		return nil, err
	}
	var l metaList
	if err := a.do(ctx, http.MethodGet, u, nil, metadataOnly, &l); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return l.names(), nil
}

// DeleteAll deletes the user's sessions as OpenUnison does at logout,
// with one deletecollection, and names those deleted. The API server
// answers with them, as it does with a list: asked, as for the list, for
// their metadata only, since in full their specs hold the tokens, and a
// user's many sessions could pass maxBody. Its error wraps
// ErrDeletedUncounted when the sessions were deleted but not named.
func (a *API) DeleteAll(ctx context.Context, namespace, dnHash string) ([]string, error) {
	u, err := a.sessionsURL(ctx, namespace, dnHash)
	if err != nil {
		return nil, err
	}
	var l metaList
	if err := a.do(ctx, http.MethodDelete, u, nil, metadataOnly, &l); err != nil {
		var unread *unreadError
		if errors.As(err, &unread) {
			return nil, fmt.Errorf("%w: %w", ErrDeletedUncounted, err)
		}
		return nil, fmt.Errorf("delete sessions: %w", err)
	}
	return l.names(), nil
}

func (a *API) do(ctx context.Context, method string, u *url.URL, body io.Reader, accept string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	// One byte past the cap tells an answer over it from one that fits.
	data, err := io.ReadAll(io.LimitReader(resp.Body, a.maxBody+1))
	switch {
	case err != nil && ok:
		return &unreadError{fmt.Errorf("%s response: %w", method, err)}
	case err != nil:
		return err
	case int64(len(data)) > a.maxBody && ok:
		return &unreadError{fmt.Errorf("%s response over %d bytes", method, a.maxBody)}
	}
	if !ok {
		ae := apiError(resp.StatusCode, data)
		explain(ae)
		if after, ok := retry.After(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &retryAfterError{ae, after}
		}
		return ae
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &unreadError{fmt.Errorf("decode %s response: %w", method, err)}
	}
	return nil
}

// explain adds to a refusal what the operator can do about it: the alert
// and the log say why the sessions were not ended. The Status's own
// message says what was refused (for a 403, the user, the verb and the
// resource) but not what to change; it never holds the token.
func explain(ae *APIError) {
	var hint string
	switch ae.Code {
	case http.StatusUnauthorized:
		hint = "the API server does not accept graceguard's credentials: an expired or revoked token, or another cluster's"
	case http.StatusForbidden:
		hint = "graceguard needs list, delete and deletecollection on oidc-sessions." + Group + " in OpenUnison's namespace: see the Role of deploy/components/revoke"
	default:
		return
	}
	if ae.Msg == "" || ae.Msg == http.StatusText(ae.Code) {
		ae.Msg = hint
		return
	}
	ae.Msg += " (" + hint + ")"
}

// apiError keeps the Status's message, not the body: a body that is not a
// Status could be anything, and is not repeated.
func apiError(code int, body []byte) *APIError { return kubeclient.NewStatusError(code, body) }
