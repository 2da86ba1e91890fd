package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// signer signs id_tokens. ES256 is the default because a P-256 signature
// costs tens of microseconds where RS256 with a 2048-bit key costs about a
// millisecond, and the token endpoint is meant to sustain thousands of
// refreshes per second on a laptop; RS256 (OpenUnison's algorithm) is used
// when --signing-key is an RSA key.
//
// go-jose describes the key (JWKS, RFC 7638 thumbprint); the compact JWS
// itself is assembled here from a precomputed header, because on the
// refresh path go-jose's reflective JSON and copies cost as much as a
// third of the ECDSA signature itself.
type signer struct {
	alg    jose.SignatureAlgorithm
	kid    string
	key    crypto.Signer
	header string // base64url of the protected header, with the trailing '.'
	jwks   []byte // the JSON Web Key Set document served at <issuer>/certs
	pub    jose.JSONWebKey
}

// generateSigningKey makes a fresh P-256 key for ES256.
func generateSigningKey() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return k, nil
}

// LoadSigningKey reads a PEM private key: PKCS#8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). P-256 keys sign ES256,
// RSA keys of at least 2048 bits sign RS256.
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	k, err := parseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// parseSigningKey parses a PEM private key; see LoadSigningKey.
func parseSigningKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // certificates, EC PARAMETERS, …
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		if _, err := algorithmFor(key); err != nil {
			return nil, err
		}
		return key.(crypto.Signer), nil
	}
}

func algorithmFor(key any) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits: want at least 2048", k.N.BitLen())
		}
		return jose.RS256, nil
	default:
		return "", fmt.Errorf("key type %T: want an ECDSA P-256 or RSA key", key)
	}
}

func newSigner(key crypto.Signer) (*signer, error) {
	alg, err := algorithmFor(key)
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(alg), pub.KeyID, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("marshal JWS header: %w", err)
	}
	return &signer{alg: alg, kid: pub.KeyID, key: key, header: base64.RawURLEncoding.EncodeToString(hdr) + ".", jwks: jwks, pub: pub}, nil
}

// idClaims are the id_token's claims.
type idClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	Expiry    int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	ID        string `json:"jti"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	SessionID string `json:"sid,omitempty"`
}

func (s *signer) sign(c *idClaims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	enc := base64.RawURLEncoding
	sigLen := 64
	if s.alg == jose.RS256 {
		sigLen = s.key.Public().(*rsa.PublicKey).Size()
	}
	b := make([]byte, 0, len(s.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(sigLen))
	b = append(b, s.header...)
	b = enc.AppendEncode(b, payload)
	digest := sha256.Sum256(b)
	var sig []byte
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("sign id_token: %w", err)
		}
		// JWS wants R and S as fixed 32-byte big-endian halves (RFC 7518 3.4).
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil {
			return "", fmt.Errorf("sign id_token: %w", err)
		}
	default:
		return "", fmt.Errorf("sign id_token: key type %T", s.key)
	}
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	return string(b), nil
}
