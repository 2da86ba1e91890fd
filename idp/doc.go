// Package idp is graceguard's bundled OpenUnison-like OpenID Connect provider,
// the OpenUnison-format log4j2 logger it writes its log with, its users file,
// a kubeconfig writer for `graceguard idp login`, a traffic simulator, and
// an ingress-nginx stand-in (Proxy): a reverse proxy that writes
// ingress-nginx's default access log and connects from its own address, so
// that the IdP behind it logs the proxy for every client, as OpenUnison
// behind an ingress controller does. A LogFile is a file for either log
// that can be reopened at its path after a rename rotation, as nginx
// reopens its logs on SIGUSR1.
//
// It is a test harness, not for production: it exists so that the whole loop
// (tokens → OpenUnison log → detection → alert) runs on one laptop, and so
// that end-to-end tests have an IdP that behaves like OpenUnison where it
// matters for replay detection:
//
//   - the token endpoint writes OpenUnison's log lines byte for byte
//     (openunison-logs.md), including the AzSuccess + ExpiredRefreshTokenUsed
//     pair of a grace-period reuse and the WARN + anonymous AzFail pairs;
//   - refresh tokens rotate on every refresh and a rotated-out token is
//     accepted until its rotation time + grace, returning the session's
//     current tokens unchanged;
//   - client-go's oidc auth-provider (kubectl) works against it.
//
// Where it departs from OpenUnison it does so on purpose and says so:
// rotation is atomic (OpenUnison reads then patches, so two concurrent uses
// of one current token can both rotate); errors are RFC 6749 JSON with RFC
// status codes (OpenUnison answers a bare 401); the client is authenticated
// before the token is looked at (OpenUnison skips the client secret check on
// a grace reuse); X-Forwarded-For is honoured from --trusted-proxies so the
// simulator can play several source addresses (OpenUnison never reads it).
//
// Refresh tokens are stored only as SHA-256 hashes. A grace reuse still has
// to hand back the session's current refresh token, which a hash cannot give:
// at rotation the successor tokens are sealed (AES-GCM) under a key derived
// from the rotated-out token itself, so only whoever presents that token can
// open them, and the server holds nothing it could leak in plaintext.
//
// The package must not import the analyzer (parser, correlate, rules): the
// harness has to produce what OpenUnison produces, not what graceguard
// happens to parse. Only the tests (package idp_test) feed its logs, and the
// proxy's and a real nginx's, to the parser and the pipeline.
package idp
