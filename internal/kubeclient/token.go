package kubeclient

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// tokenReread is how often a token file is read again: client-go's period.
// A bound service account token is replaced by the kubelet well before it
// expires, so a minute is early enough.
const tokenReread = time.Minute

// tokenSource is a bearer token, read again from its file as it rotates.
// When the file cannot be read (it is being replaced), the last token read
// is used.
type tokenSource struct {
	path string
	now  func() time.Time

	mu     sync.Mutex
	token  string
	readAt time.Time // zero: read the file at the next request
}

func newTokenSource(token, path string) *tokenSource {
	return &tokenSource{token: token, path: path, now: time.Now}
}

func (s *tokenSource) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path != "" && (s.readAt.IsZero() || s.now().Sub(s.readAt) >= tokenReread) {
		if tok, err := readToken(s.path); err == nil {
			s.token, s.readAt = tok, s.now()
		}
	}
	return s.token
}

// expire makes the next request read the file again, after a 401 to a
// request sent at sent with a token read before.
func (s *tokenSource) expire(sent time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readAt.Before(sent) {
		s.readAt = time.Time{}
	}
}

// readToken reads a token file, without the newline editors leave.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("the token file " + path + " is empty")
	}
	return tok, nil
}

// bearer adds the token to requests that carry no Authorization.
type bearer struct {
	src  *tokenSource
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return b.next.RoundTrip(req)
	}
	sent := b.src.now()
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+b.src.get())
	resp, err := b.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		b.src.expire(sent)
	}
	return resp, err
}
