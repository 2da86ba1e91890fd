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
	"strconv"
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

// maxBody bounds what is read of a response: a page of the metadata of a
// user's sessions, a few hundred bytes each.
const maxBody = 8 << 20

// pageSize is how many sessions one list or deletecollection names: as
// kubectl's --chunk-size, 500. A page of metadata, managedFields and all,
// is a few hundred kilobytes: far under maxBody, and one request bounded
// in the API server's work too (a deletecollection of a whole large
// collection can outlast the server's request timeout).
const pageSize = 500

// maxNames bounds the names kept of one listing or deletion (a few MB):
// the sessions past it are counted, not named.
const maxNames = 100_000

// maxPages bounds the requests of one listing or deletion: a million
// sessions of one user, or a server that answers a continue token forever.
const maxPages = 2_000

// ErrDeletedUncounted says a deletecollection succeeded but its answer,
// which names the sessions deleted, could not be read (past maxBody, cut,
// malformed). The API server answers success only once the objects are
// deleted: the sessions are ended, not counted.
var ErrDeletedUncounted = errors.New("sessions deleted; the API server's answer naming the deleted sessions was not read")

// Names is what a listing or a deletion found: how many sessions, and the
// names of the first of them (by name, as the API server orders them) up
// to a cap, so that one user's sessions cannot take graceguard's memory.
type Names struct {
	Count int      // every session listed or deleted
	Names []string // the first up to the cap
}

// Unnamed is how many of the sessions counted were not named.
func (n Names) Unnamed() int { return n.Count - len(n.Names) }

func (n *Names) add(l metaList, maxNames int) {
	n.Count += len(l.Items)
	for _, it := range l.Items[:min(len(l.Items), max(maxNames-len(n.Names), 0))] {
		n.Names = append(n.Names, it.Metadata.Name)
	}
}

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
	// pageSize, maxNames and maxPages are the constants but in tests.
	pageSize           int64
	maxNames, maxPages int

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
	return &API{http: hc, base: base, maxBody: maxBody, pageSize: pageSize, maxNames: maxNames, maxPages: maxPages}, nil
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
	if !kubeclient.IsVersionName(v) {
		return "", fmt.Errorf("discovery of %s: the version served is no version name (a lower-case DNS label, as v1 or v1beta1)", Group)
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

// metaList is a page of objects of which only the names are read, and
// the token for the next page.
type metaList struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"items"`
}

// page asks for one page of the user's sessions (metadata only) from the
// start, or after another page with its continue token.
func (a *API) page(ctx context.Context, method string, u *url.URL, cont string) (metaList, error) {
	pu := *u
	q := pu.Query()
	q.Set("limit", strconv.FormatInt(a.pageSize, 10))
	if cont != "" {
		q.Set("continue", cont)
	}
	pu.RawQuery = q.Encode()
	var l metaList
	err := a.do(ctx, method, &pu, nil, metadataOnly, &l)
	return l, err
}

// List names the user's sessions, reading their metadata only, a page at
// a time, as kubectl and client-go's pager list: limit, then each page's
// continue token until a page has none.
//
// A token expires (410 Gone, reason Expired) when etcd compacts the
// revision the list is read at, every five minutes by default, so a list
// that spans a compaction meets it however fast it is. client-go's pager
// then lists everything in one request, without limit; here that answer
// is the one past maxBody that paging exists to avoid, and the token the
// 410 carries continues an inconsistent list (sessions made or deleted
// meanwhile may be missed or counted). List starts again from the first
// page, once, for a consistent count; a second expiry is an error that
// says so, which the Responder retries.
func (a *API) List(ctx context.Context, namespace, dnHash string) (Names, error) {
	u, err := a.sessionsURL(ctx, namespace, dnHash)
	if err != nil {
		return Names{}, err
	}
	var out Names
	cont, restarted := "", false
	for pages := 1; ; pages++ {
		if pages > a.maxPages {
			return Names{}, fmt.Errorf("list sessions: stopped after %d pages (%d sessions), the most one listing may take", a.maxPages, out.Count)
		}
		l, err := a.page(ctx, http.MethodGet, u, cont)
		switch {
		case err != nil && cont != "" && kubeclient.IsStatus(err, http.StatusGone) && !restarted:
			out, cont, restarted = Names{}, "", true
			continue
		case err != nil && cont != "" && kubeclient.IsStatus(err, http.StatusGone):
			return Names{}, fmt.Errorf("list sessions: the continue token expired twice, the second time %d sessions in: %w", out.Count, err)
		case err != nil:
			return Names{}, fmt.Errorf("list sessions: %w", err)
		}
		out.add(l, a.maxNames)
		if cont = l.Metadata.Continue; cont == "" {
			return out, nil
		}
	}
}

// DeleteAll deletes the user's sessions as OpenUnison does at logout, with
// deletecollection, and names those deleted, a page at a time. The API
// server answers a deletecollection with the objects it deleted, as it
// does a list: asked, as for the list, for their metadata only, since in
// full their specs hold the tokens. Without a limit that answer names all
// of a user's sessions at once, past maxBody for a user with very many;
// with one, kube-apiserver's generic registry deletes one page and
// answers it with the page's continue token, which the next call passes
// to delete the next (kubernetes/kubernetes#80877, #90743: each object is
// deleted, and named, once). So every answer is a page, and the count is
// exact.
//
// A token that expires is not passed again, nor the one the 410 carries
// for the inconsistent rest (which would pass over a session made
// meanwhile before its key): the next call starts afresh, and deletes
// only what is left, each session still once (OidcSessions have no
// finalizers to keep a deleted one listed). A page whose answer could not be read
// (cut, malformed, past maxBody) was deleted but neither named nor
// followed by its token: the next call starts afresh too, and the error
// wraps ErrDeletedUncounted once nothing is left. Two such answers in a
// row leave it unknown whether any session is left: an error the
// Responder retries. On any error the Names are those deleted before it.
func (a *API) DeleteAll(ctx context.Context, namespace, dnHash string) (Names, error) {
	u, err := a.sessionsURL(ctx, namespace, dnHash)
	if err != nil {
		return Names{}, err
	}
	var (
		out    Names
		cont   string
		unread error // the first answer not read
		run    int   // answers not read in a row
	)
	for pages := 1; ; pages++ {
		if pages > a.maxPages {
			return out, fmt.Errorf("delete sessions: stopped after %d pages (%d sessions deleted), the most one deletion may take", a.maxPages, out.Count)
		}
		l, err := a.page(ctx, http.MethodDelete, u, cont)
		var ue *unreadError
		switch {
		case errors.As(err, &ue) && run > 0:
			return out, fmt.Errorf("delete sessions: %d deleted, and two answers in a row were not read, so some may be left: %w", out.Count, err)
		case errors.As(err, &ue):
			if unread == nil {
				unread = err
			}
			cont, run = "", run+1
			continue
		case err != nil && cont != "" && kubeclient.IsStatus(err, http.StatusGone):
			cont = ""
			continue
		case err != nil && out.Count > 0:
			return out, fmt.Errorf("delete sessions: %d deleted, then: %w", out.Count, err)
		case err != nil:
			return out, fmt.Errorf("delete sessions: %w", err)
		}
		run = 0
		out.add(l, a.maxNames)
		if cont = l.Metadata.Continue; cont == "" {
			break
		}
	}
	if unread != nil {
		return out, fmt.Errorf("%w: %w", ErrDeletedUncounted, unread)
	}
	return out, nil
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
