package idp

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxFormBytes bounds a token request body; a refresh request is a few
// hundred bytes, so anything near this is not a client talking OAuth.
const maxFormBytes = 16 << 10

const (
	grantPassword = "password"
	grantRefresh  = "refresh_token"
)

// tokenRequest is a parsed token endpoint request. It holds secrets
// (clientSecret, refreshToken, password): it is never logged or printed.
type tokenRequest struct {
	grantType    string
	clientID     string
	clientSecret string
	basic        bool // the client authenticated with HTTP Basic
	refreshToken string
	username     string
	password     string
}

// oauthError is an RFC 6749 section 5.2 error response plus the WARN message
// OpenIDConnectIdP logs before its AzFail line ("" logs AzFail alone).
// Descriptions and messages are fixed text: they never echo request input.
type oauthError struct {
	status int
	code   string
	desc   string
	warn   string
	trace  string
	// basicChallenge asks for WWW-Authenticate: RFC 6749 section 5.2 wants
	// it on invalid_client when the client used the Authorization header.
	basicChallenge bool
}

func invalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc, warn: "Invalid token request: " + desc}
}

// parseTokenRequest parses the body and headers of a token request. It is
// the one place request bytes become values, and it is fuzzed.
func parseTokenRequest(contentType, authorization string, body []byte) (tokenRequest, *oauthError) {
	var req tokenRequest
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return req, invalidRequest("content type must be application/x-www-form-urlencoded")
	}
	if len(body) > maxFormBytes {
		return req, invalidRequest("request body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return req, invalidRequest("malformed form body")
	}
	// RFC 6749 section 3.2: parameters must not be included more than once.
	for _, v := range form {
		if len(v) > 1 {
			return req, invalidRequest("repeated parameter")
		}
	}
	req.grantType = form.Get("grant_type")
	req.clientID = form.Get("client_id")
	req.clientSecret = form.Get("client_secret")
	req.refreshToken = form.Get("refresh_token")
	req.username = form.Get("username")
	req.password = form.Get("password")

	switch req.grantType {
	case "":
		return req, invalidRequest("missing grant_type")
	case grantRefresh:
		if req.refreshToken == "" {
			return req, invalidRequest("missing refresh_token")
		}
	case grantPassword:
		if req.username == "" || !form.Has("password") {
			return req, invalidRequest("missing username or password")
		}
	default:
		return req, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type",
			desc: "grant_type must be password or refresh_token", warn: "Unsupported grant_type"}
	}

	if authorization != "" {
		id, secret, ok := parseBasic(authorization)
		if !ok {
			return req, &oauthError{status: http.StatusUnauthorized, code: "invalid_client",
				desc: "malformed Authorization header", warn: "Invalid client credentials", basicChallenge: true}
		}
		// RFC 6749 section 2.3: one authentication method per request.
		if form.Has("client_secret") {
			return req, invalidRequest("more than one client authentication method")
		}
		if req.clientID != "" && req.clientID != id {
			return req, invalidRequest("client_id does not match the Authorization header")
		}
		req.clientID, req.clientSecret, req.basic = id, secret, true
	}
	if req.clientID == "" {
		return req, &oauthError{status: http.StatusUnauthorized, code: "invalid_client",
			desc: "client authentication required", warn: "Invalid client credentials"}
	}
	return req, nil
}

// parseBasic reads client_secret_basic credentials. RFC 6749 section 2.3.1
// form-encodes the id and secret before Basic encoding them, and
// golang.org/x/oauth2 (client-go) does so.
func parseBasic(h string) (id, secret string, ok bool) {
	scheme, enc, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	rid, rsecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(rid); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(rsecret); err != nil {
		return "", "", false
	}
	return id, secret, true
}
