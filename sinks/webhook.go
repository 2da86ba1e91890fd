package sinks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/graceguard/graceguard/internal/durable"
)

// WebhookOptions configure a Webhook sink.
type WebhookOptions struct {
	URL Secret // where alerts are POSTed; its path or query often is the credential
	// Headers are added to every request (an Authorization header, a
	// tenant). Their values are treated as secrets.
	Headers map[string]string
	// Secret, when set, signs each body with HMAC-SHA256; the signature is
	// sent as "sha256=<hex>" in SignatureHeader.
	Secret          Secret
	SignatureHeader string        // X-Graceguard-Signature
	Timeout         time.Duration // per request; 10s
}

// defaultSignatureHeader carries the HMAC-SHA256 of the body.
const defaultSignatureHeader = "X-Graceguard-Signature"

// Webhook POSTs each alert as the alert JSON (README's schema), one
// request per alert so receivers get exactly the object scan --format json
// prints. The alert id is also sent as X-Graceguard-Alert-Id, an
// idempotency key for receivers that de-duplicate.
type Webhook struct {
	opt   WebhookOptions
	http  *http.Client
	scrub *scrubber
	// posted remembers the alerts of a group already accepted, so a retry
	// after the second of three requests failed does not post the first
	// again.
	mu     sync.Mutex
	posted *durable.RecentIDs
}

// newWebhook checks opt and returns a Webhook sink.
func newWebhook(opt WebhookOptions) (*Webhook, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.SignatureHeader == "" {
		opt.SignatureHeader = defaultSignatureHeader
	}
	w := &Webhook{opt: opt, http: newHTTPClient(opt.Timeout), posted: durable.NewRecentIDs(1024)}
	w.scrub = newScrubber(opt.URL.Reveal(), opt.Secret.Reveal())
	for _, v := range opt.Headers {
		w.scrub.add(v)
	}
	if opt.URL == "" {
		return nil, errors.New("webhook: needs a URL")
	}
	if err := checkHTTPURL(opt.URL.Reveal()); err != nil {
		return nil, fmt.Errorf("webhook: URL %s: %w", opt.URL, w.scrub.wrap(err))
	}
	for _, k := range slices.Sorted(maps.Keys(opt.Headers)) {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("webhook: header name %q is not a valid HTTP header name", k)
		}
		// Go's client refuses such a value at every send, which would be
		// retried until max_age: better refused at the start. The value is
		// a secret, so only where it is wrong is said.
		if !httpguts.ValidHeaderFieldValue(opt.Headers[k]) {
			return nil, fmt.Errorf("webhook: header %s: its value holds a line break or another control character", k)
		}
	}
	return w, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || bytes.ContainsRune([]byte(`"(),/:;<=>?@[\]{}`), c) {
			return false
		}
	}
	return true
}

// String names the sink without its secret.
func (w *Webhook) String() string { return "webhook " + w.opt.URL.String() }

// Send implements Sink. An alert the receiver refuses for good does not
// keep the group's other alerts from being posted: the refusal is returned
// once they were, and the Dispatcher dead-letters only what the receiver
// did not take (hasDelivered).
func (w *Webhook) Send(ctx context.Context, group []alert.Alert) error {
	var refused error
	for _, a := range group {
		if w.hasDelivered(a.ID) {
			continue
		}
		if err := w.post(ctx, a); err != nil {
			if v, _ := classify(err); v == giveUp {
				if refused == nil {
					refused = err
				}
				continue
			}
			return err
		}
		w.mu.Lock()
		w.posted.Add(a.ID)
		w.mu.Unlock()
	}
	return refused
}

// The Dispatcher asks a webhook which alerts of a group it gave up on the
// receiver took (splitDelivered).
var _ partialSender = (*Webhook)(nil)

// hasDelivered reports whether the receiver already took the alert id (an
// earlier attempt at its group), so that a group given up on dead-letters
// only the alerts it did not take.
func (w *Webhook) hasDelivered(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return id != "" && w.posted.Has(id)
}

func (w *Webhook) post(ctx context.Context, a alert.Alert) error {
	body, err := a.MarshalJSON()
	if err != nil {
		return permanent(fmt.Errorf("webhook: encode alert %s: %w", a.ID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opt.URL.Reveal(), bytes.NewReader(body))
	if err != nil {
		return w.scrub.wrap(fmt.Errorf("webhook: %w", err))
	}
	keys := make([]string, 0, len(w.opt.Headers))
	for k := range w.opt.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		req.Header.Set(k, w.opt.Headers[k])
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "graceguard")
	req.Header.Set("X-Graceguard-Alert-Id", a.ID)
	if w.opt.Secret != "" {
		req.Header.Set(w.opt.SignatureHeader, sign(w.opt.Secret, body))
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return w.scrub.wrap(fmt.Errorf("webhook: %w", err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := newStatusError(resp, []byte(w.scrub.scrub(string(answer))), time.Now())
	return w.scrub.wrap(fmt.Errorf("webhook %s: alert %s: %w", w.opt.URL, a.ID, se))
}

// newHTTPClient is the client a sink posts with: it follows no redirect.
// Go's client turns a POST answered with 301, 302 or 303 into a GET without
// the body, so a receiver's redirect (http to https, say) would take an
// alert as delivered that never arrived; and a redirect to another host
// would carry the sink's secret headers and signed body there. The 3xx
// answer is returned as it is, a failure retried until max_age, and the
// log says to configure the URL it points to.
//
// Its transport is its own, a clone of Go's default (proxy settings from
// the environment, HTTP/2, timeouts): Close closes idle connections, and
// on the shared default it cut every other sink's keep-alive connection,
// failing a post that was about to reuse one.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: http.DefaultTransport.(*http.Transport).Clone(), CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// sign returns the signature header value for body: "sha256=" and the hex
// HMAC-SHA256 of body under secret. A receiver recomputes it over the raw
// body and compares in constant time (hmac.Equal).
func sign(secret Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Close implements Sink.
func (w *Webhook) Close(context.Context) error {
	w.http.CloseIdleConnections()
	return nil
}

// WebhookConfig is a webhook entry of the sinks: list.
type WebhookConfig struct {
	URL             Secret // from url: or --webhook-url
	URLFile         string
	Headers         map[string]string
	HeaderFiles     map[string]string // header name → file holding its value
	SecretFile      string
	SignatureHeader string
	Timeout         time.Duration
}

func (w *WebhookConfig) keys(*Config) map[string]setting {
	return map[string]setting{
		"url": {set: func(d *decoder, n *yaml.Node, path string) {
			if s, ok := d.str(n, path); ok {
				w.URL = Secret(s)
			}
		}},
		"url_file":         strField(&w.URLFile),
		"headers":          {set: func(d *decoder, n *yaml.Node, path string) { w.Headers = inlineHeaders(d, n, path) }},
		"header_files":     {set: func(d *decoder, n *yaml.Node, path string) { w.HeaderFiles = headerMap(d, n, path) }},
		"secret_file":      strField(&w.SecretFile),
		"secret":           inlineSecret("secret_file", ""), // no flag: a file alone
		"signature_header": strField(&w.SignatureHeader),
		"timeout":          durField(&w.Timeout),
	}
}

func (w *WebhookConfig) validate() []string {
	p := onlyOne(w.URL != "", w.URLFile != "", "url or url_file")
	p = append(p, urlProblems("url", w.URL.Reveal(), true)...)
	seen := map[string]string{}
	for _, hs := range []struct {
		key string
		m   map[string]string
	}{{"headers", w.Headers}, {"header_files", w.HeaderFiles}} {
		for _, k := range slices.Sorted(maps.Keys(hs.m)) {
			if !validHeaderName(k) {
				p = append(p, fmt.Sprintf("%s: header name %q is not a valid HTTP header name", hs.key, k))
				continue
			}
			c := http.CanonicalHeaderKey(k)
			if other, ok := seen[c]; ok {
				p = append(p, fmt.Sprintf("header %s is given by %s and by %s; keep one", c, other, hs.key))
			}
			seen[c] = hs.key
		}
	}
	return p
}

// credentialHeaders carry a credential whatever their value, so they are
// refused in headers: as token: is, and read from header_files instead.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization"}

// inlineHeaders reads headers:, refusing a credential header the way an
// inline token: is refused: config files get committed and pasted into
// tickets.
func inlineHeaders(d *decoder, n *yaml.Node, path string) map[string]string {
	m := headerMap(d, n, path)
	if n.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case slices.Contains(credentialHeaders, http.CanonicalHeaderKey(k.Value)):
			d.errf(k, path+"."+k.Value, "secrets are not read from the config file; put the value in a file and name that under header_files (header_files: {%s: /run/secrets/…})", k.Value)
			delete(m, k.Value)
		case !httpguts.ValidHeaderFieldValue(v.Value):
			d.errf(v, path+"."+k.Value, "the value holds a line break or another control character")
			delete(m, k.Value)
		}
	}
	return m
}

// headerMap reads headers: or header_files:, refusing a header named
// twice: YAML gives both, and the last one silently won (or, named in
// another case, the one net/http happened to send).
func headerMap(d *decoder, n *yaml.Node, path string) map[string]string {
	m := d.strMap(n, path)
	if n.Kind != yaml.MappingNode {
		return m
	}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		c := http.CanonicalHeaderKey(k.Value)
		f, ok := first[c]
		if !ok {
			first[c] = k
			continue
		}
		d.errf(k, path+"."+k.Value, "given twice (first as %s on line %d; header names ignore case)", f.Value, f.Line)
		if k.Value != f.Value {
			// Said here; validate would say it again as headers vs headers.
			delete(m, k.Value)
		}
	}
	return m
}

// headersFromFiles returns headers with each of files' headers added, its
// value read from its file (trimmed, as every *_file secret is).
func headersFromFiles(headers, files map[string]string) (map[string]string, error) {
	if len(files) == 0 {
		return headers, nil
	}
	all := maps.Clone(headers)
	if all == nil {
		all = map[string]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		v, err := readSecret("", files[k], "header_files."+k)
		if err != nil {
			return nil, err
		}
		all[k] = v.Reveal()
	}
	return all, nil
}

func (w *WebhookConfig) newSink() (Sink, error) {
	opt := WebhookOptions{URL: w.URL, SignatureHeader: w.SignatureHeader, Timeout: w.Timeout}
	var err error
	if opt.Headers, err = headersFromFiles(w.Headers, w.HeaderFiles); err != nil {
		return nil, err
	}
	if opt.URL, err = readSecret(opt.URL, w.URLFile, "url_file"); err != nil {
		return nil, err
	}
	if opt.Secret, err = readSecret("", w.SecretFile, "secret_file"); err != nil {
		return nil, err
	}
	return newWebhook(opt)
}

type webhookFlags struct{ url string }

func (f *webhookFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "webhook-url", "", "POST each alert's JSON to this `URL`")
}

func (f *webhookFlags) configs(minSev alert.Severity) ([]Config, []string) {
	if f.url == "" {
		return nil, nil
	}
	return []Config{{Type: TypeWebhook, Name: "webhook", Origin: "--webhook-url", MinSeverity: minSev,
		Sink: &WebhookConfig{URL: Secret(strings.TrimSpace(f.url))}}}, nil
}
