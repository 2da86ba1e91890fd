package idp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A refresh token is a 128-bit random selector followed by a 256-bit random
// secret, base64url without padding. The selector finds the record without
// touching the secret; the secret's SHA-256 is then compared in constant
// time. Looking a token up by its own hash in a map would compare secrets in
// variable time, which is what the split avoids.
const (
	selectorLen = 16
	secretLen   = 32
	tokenRawLen = selectorLen + secretLen
	// TokenLen is the length of a refresh token as the token endpoint issues it.
	TokenLen = (tokenRawLen*8 + 5) / 6
)

type selector [selectorLen]byte

type rawToken struct {
	sel    selector
	secret [secretLen]byte
}

func (t rawToken) String() string {
	var raw [tokenRawLen]byte
	copy(raw[:], t.sel[:])
	copy(raw[selectorLen:], t.secret[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

func parseToken(s string) (rawToken, bool) {
	var t rawToken
	if len(s) != TokenLen {
		return t, false
	}
	var raw [tokenRawLen]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(s))
	if err != nil || n != tokenRawLen {
		return t, false
	}
	copy(t.sel[:], raw[:selectorLen])
	copy(t.secret[:], raw[selectorLen:])
	return t, true
}

func newToken(rnd io.Reader) (rawToken, error) {
	var t rawToken
	var raw [tokenRawLen]byte
	if _, err := io.ReadFull(rnd, raw[:]); err != nil {
		return t, fmt.Errorf("random token: %w", err)
	}
	copy(t.sel[:], raw[:selectorLen])
	copy(t.secret[:], raw[selectorLen:])
	return t, nil
}

// newSessionID makes an id the shape of OpenUnison's web-session id:
// "f" followed by 40 hex characters.
func newSessionID(rnd io.Reader) (string, error) {
	var raw [20]byte
	if _, err := io.ReadFull(rnd, raw[:]); err != nil {
		return "", fmt.Errorf("random session id: %w", err)
	}
	var b [41]byte
	b[0] = 'f'
	hex.Encode(b[1:], raw[:])
	return string(b[:]), nil
}

// tokenRecord is one refresh token the store knows: the session's current
// one, or a rotated-out one kept for the grace period and for reuse
// detection. hash and sess never change; the rest is guarded by sess.mu.
type tokenRecord struct {
	sel  selector
	hash [sha256.Size]byte
	sess *session

	rotatedAt time.Time // zero while current
	sealed    []byte    // the successor tokens, sealed under this token's secret
	evicted   bool      // dropped from the session's history
}

type session struct {
	id       string // the OIDC session id (sid claim, --session-id oidc)
	user     *User
	clientID string
	expires  atomic.Int64 // unix nanoseconds; slides on every rotation

	mu         sync.Mutex
	current    *tokenRecord
	retired    []*tokenRecord // oldest first, at most store.maxRetired
	idTokenExp time.Time      // of the id_token issued with current
	dead       bool           // expired, swept or revoked
}

// refreshOutcome is what a refresh_token grant did; each has its own log lines.
type refreshOutcome int

const (
	outcomeRotated    refreshOutcome = iota // current token: rotated, AzSuccess
	outcomeGraceReuse                       // rotated-out token inside grace: AzSuccess + ExpiredRefreshTokenUsed
	outcomeUnknown                          // "Session does not exist from refresh_token"
	outcomeExpired                          // "Session expired"
	outcomeRevoked                          // reuse outside grace with revoke-on-reuse: session revoked
)

type refreshResult struct {
	outcome    refreshOutcome
	sess       *session
	refresh    rawToken
	idToken    string
	idTokenExp time.Time
}

// minter signs a new id_token for a session; the store calls it under the
// session's lock so that the rotation and the tokens it hands out are one step.
type minter func(s *session, now time.Time) (idToken string, exp time.Time, err error)

var errStoreFull = errors.New("session store full")

// store holds sessions and refresh tokens. Lock order: session.mu before
// store.mu, never the other way round.
type store struct {
	rnd         io.Reader
	maxSessions int
	maxRetired  int

	mu       sync.RWMutex
	tokens   map[selector]*tokenRecord
	sessions map[string]*session

	logins, rotations, reuses, expired, swept, revoked, full atomic.Uint64
	ended                                                    atomic.Uint64 // deleted from the session store
}

func newStore(rnd io.Reader, maxSessions, maxRetired int) *store {
	return &store{
		rnd:         rnd,
		maxSessions: maxSessions,
		maxRetired:  maxRetired,
		tokens:      make(map[selector]*tokenRecord),
		sessions:    make(map[string]*session),
	}
}

// create starts a session for a user logged in with a password and returns
// its first refresh token and id_token.
func (st *store) create(now time.Time, ttl time.Duration, user *User, clientID string, mint minter) (refreshResult, error) {
	id, err := newSessionID(st.rnd)
	if err != nil {
		return refreshResult{}, err
	}
	tok, err := newToken(st.rnd)
	if err != nil {
		return refreshResult{}, err
	}
	s := &session{id: id, user: user, clientID: clientID}
	s.expires.Store(now.Add(ttl).UnixNano())
	idTok, exp, err := mint(s, now)
	if err != nil {
		return refreshResult{}, err
	}
	rec := &tokenRecord{sel: tok.sel, hash: sha256.Sum256(tok.secret[:]), sess: s}
	s.current, s.idTokenExp = rec, exp

	if !st.insert(s, rec) {
		// Make room the way the sweeper would, then try once more.
		st.sweep(now)
		if !st.insert(s, rec) {
			st.full.Add(1)
			return refreshResult{}, errStoreFull
		}
	}
	st.logins.Add(1)
	return refreshResult{outcome: outcomeRotated, sess: s, refresh: tok, idToken: idTok, idTokenExp: exp}, nil
}

func (st *store) insert(s *session, rec *tokenRecord) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sessions) >= st.maxSessions {
		return false
	}
	st.sessions[s.id] = s
	st.tokens[rec.sel] = rec
	return true
}

// refresh performs the refresh_token grant's state transition. Everything
// that decides the outcome happens under the session's lock, so two
// concurrent uses of one current token see one rotation and one rotated-out
// token, never two rotations. The clock is read under that lock too, so a
// request that waited for it is judged at the time it is served.
//
// logged is called exactly once with the outcome, still under the lock
// when there is a session: the log then shows a rotation before any reuse
// of the token it rotated out, as a detector reading it expects.
func (st *store) refresh(tok rawToken, clientID string, clock func() time.Time, grace, ttl time.Duration, revokeOnReuse bool, mint minter, logged func(refreshResult)) (refreshResult, error) {
	st.mu.RLock()
	rec := st.tokens[tok.sel]
	st.mu.RUnlock()
	hash := sha256.Sum256(tok.secret[:])
	if rec == nil || subtle.ConstantTimeCompare(hash[:], rec.hash[:]) != 1 {
		res := refreshResult{outcome: outcomeUnknown}
		logged(res)
		return res, nil
	}
	s := rec.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := st.refreshLocked(s, rec, tok, clientID, clock(), grace, ttl, revokeOnReuse, mint)
	if err == nil {
		logged(res)
	}
	return res, err
}

func (st *store) refreshLocked(s *session, rec *tokenRecord, tok rawToken, clientID string, now time.Time, grace, ttl time.Duration, revokeOnReuse bool, mint minter) (refreshResult, error) {
	if s.dead || rec.evicted || s.clientID != clientID {
		return refreshResult{outcome: outcomeUnknown}, nil
	}
	if now.UnixNano() >= s.expires.Load() {
		st.removeLocked(s)
		st.expired.Add(1)
		return refreshResult{outcome: outcomeExpired, sess: s}, nil
	}
	if rec == s.current {
		return st.rotateLocked(s, rec, tok, now, ttl, mint)
	}
	// A rotated-out token: OpenUnison's isStillInGracePeriod is
	// rotation time + grace in the future.
	if grace > 0 && now.Before(rec.rotatedAt.Add(grace)) {
		res, ok := st.currentFromLocked(s, rec, tok)
		if !ok {
			return refreshResult{outcome: outcomeUnknown}, nil
		}
		st.reuses.Add(1)
		return res, nil
	}
	if revokeOnReuse {
		st.removeLocked(s)
		st.revoked.Add(1)
		return refreshResult{outcome: outcomeRevoked, sess: s}, nil
	}
	return refreshResult{outcome: outcomeUnknown, sess: s}, nil
}

func (st *store) rotateLocked(s *session, rec *tokenRecord, tok rawToken, now time.Time, ttl time.Duration, mint minter) (refreshResult, error) {
	next, err := newToken(st.rnd)
	if err != nil {
		return refreshResult{}, err
	}
	idTok, exp, err := mint(s, now)
	if err != nil {
		return refreshResult{}, err
	}
	sealed, err := seal(tok, next, idTok)
	if err != nil {
		return refreshResult{}, err
	}
	rec.rotatedAt, rec.sealed = now, sealed
	nrec := &tokenRecord{sel: next.sel, hash: sha256.Sum256(next.secret[:]), sess: s}
	s.retired = append(s.retired, rec)
	var drop *tokenRecord
	if len(s.retired) > st.maxRetired {
		drop = s.retired[0]
		drop.evicted, drop.sealed = true, nil
		s.retired = append(s.retired[:0], s.retired[1:]...)
	}
	s.current, s.idTokenExp = nrec, exp
	s.expires.Store(now.Add(ttl).UnixNano())

	st.mu.Lock()
	st.tokens[nrec.sel] = nrec
	if drop != nil {
		delete(st.tokens, drop.sel)
	}
	st.mu.Unlock()
	st.rotations.Add(1)
	return refreshResult{outcome: outcomeRotated, sess: s, refresh: next, idToken: idTok, idTokenExp: exp}, nil
}

// currentFromLocked follows the sealed chain from a rotated-out token to the
// session's current tokens: each rotated-out record holds its successor
// sealed under its own secret, so presenting the old token is what unlocks
// the current one.
func (st *store) currentFromLocked(s *session, rec *tokenRecord, tok rawToken) (refreshResult, bool) {
	r, key := rec, tok
	for range len(s.retired) + 1 {
		next, idTok, err := open(key, r.sealed)
		if err != nil {
			return refreshResult{}, false
		}
		if next.sel == s.current.sel {
			return refreshResult{outcome: outcomeGraceReuse, sess: s, refresh: next, idToken: idTok, idTokenExp: s.idTokenExp}, true
		}
		r = nil
		for _, cand := range s.retired {
			if cand.sel == next.sel {
				r = cand
				break
			}
		}
		if r == nil {
			return refreshResult{}, false
		}
		key = next
	}
	return refreshResult{}, false
}

// removeLocked forgets a session and all its tokens; s.mu is held.
func (st *store) removeLocked(s *session) {
	s.dead = true
	st.mu.Lock()
	delete(st.sessions, s.id)
	delete(st.tokens, s.current.sel)
	for _, r := range s.retired {
		delete(st.tokens, r.sel)
		r.sealed = nil
	}
	st.mu.Unlock()
	s.retired = nil
}

// lookup finds the live session a token (current or rotated-out) belongs
// to, comparing its secret in constant time; nil when none.
func (st *store) lookup(tok rawToken) *session {
	st.mu.RLock()
	rec := st.tokens[tok.sel]
	st.mu.RUnlock()
	hash := sha256.Sum256(tok.secret[:])
	if rec == nil || subtle.ConstantTimeCompare(hash[:], rec.hash[:]) != 1 {
		return nil
	}
	return rec.sess
}

// remove forgets a session, unless it is already gone.
func (st *store) remove(s *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dead {
		st.removeLocked(s)
	}
}

// sweep removes expired sessions and returns how many.
func (st *store) sweep(now time.Time) int {
	cut := now.UnixNano()
	st.mu.RLock()
	var victims []*session
	for _, s := range st.sessions {
		if cut >= s.expires.Load() {
			victims = append(victims, s)
		}
	}
	st.mu.RUnlock()
	n := 0
	for _, s := range victims {
		s.mu.Lock()
		if !s.dead && cut >= s.expires.Load() {
			st.removeLocked(s)
			n++
		}
		s.mu.Unlock()
	}
	st.swept.Add(uint64(n))
	return n
}

func (st *store) size() (sessions, tokens int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.sessions), len(st.tokens)
}

// sealInfo separates the sealing key from any other use of the secret.
const sealInfo = "graceguard idp refresh-token seal v1"

func sealAEAD(key rawToken) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key.secret[:], key.sel[:], sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// A sealing key is derived from one token's secret and seals exactly one
// message (that token's successor), so a fixed nonce is safe.
var sealNonce [12]byte

func seal(key, next rawToken, idToken string) ([]byte, error) {
	aead, err := sealAEAD(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, tokenRawLen+len(idToken))
	plain = append(plain, next.sel[:]...)
	plain = append(plain, next.secret[:]...)
	plain = append(plain, idToken...)
	return aead.Seal(nil, sealNonce[:], plain, key.sel[:]), nil
}

func open(key rawToken, sealed []byte) (rawToken, string, error) {
	var next rawToken
	if sealed == nil {
		return next, "", errors.New("nothing sealed")
	}
	aead, err := sealAEAD(key)
	if err != nil {
		return next, "", err
	}
	plain, err := aead.Open(nil, sealNonce[:], sealed, key.sel[:])
	if err != nil {
		return next, "", fmt.Errorf("open sealed tokens: %w", err)
	}
	if len(plain) < tokenRawLen {
		return next, "", errors.New("sealed tokens too short")
	}
	copy(next.sel[:], plain[:selectorLen])
	copy(next.secret[:], plain[selectorLen:tokenRawLen])
	return next, string(plain[tokenRawLen:]), nil
}
