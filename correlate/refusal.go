package correlate

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Refusal says what of graceguard's settings a failure of the shared
// store says is wrong ("Redis refused the credentials"), or "" when the
// failure is not a refusal: Redis
// answered, and its answer will be the same until an operator changes the
// settings or the server (a password, an ACL, a database, a certificate).
// A failure to reach Redis (refused, reset or timed-out connections, a
// name that does not resolve) is not a refusal: Redis may come back by
// itself. It only classifies: what to do about a refusal (stop at start,
// keep degrading later) is the caller's, as retrying is (Failover's probe).
func Refusal(err error) string {
	if err == nil {
		return ""
	}
	var acl *aclError
	var verify *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch reply := redisReply(err); {
	case strings.HasPrefix(reply, "WRONGPASS "), strings.HasPrefix(reply, "NOAUTH "),
		// Redis 6 and later answer a one-argument AUTH so when no
		// password is set (go-redis's HELLO ... AUTH default is taken,
		// the batches' connection's AUTH is not).
		strings.HasPrefix(reply, "ERR AUTH <password> called without any password configured"):
		return "Redis refused the credentials"
	case errors.As(err, &acl), strings.HasPrefix(reply, "NOPERM "),
		// A command a script calls that the ACL forbids: Redis 7.0's
		// words, then 7.2's.
		strings.HasPrefix(reply, "ERR The user executing the script can't"),
		strings.HasPrefix(reply, "ERR ACL failure in script"):
		return "Redis refused a command (ACL)"
	case strings.HasPrefix(reply, "ERR DB index is out of range"), strings.HasPrefix(reply, "ERR invalid DB index"):
		return "Redis refused the database number"
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return "the server's certificate is not trusted"
	case errors.As(err, &record):
		// TLS spoken to a server that does not speak it: a rediss:// URL
		// for a plain Redis.
		return "the server does not speak TLS"
	}
	return ""
}

// redisReply is the error Redis answered that err carries, "" when it
// carries none. go-redis's IsAuthError and IsPermissionError are not used:
// they miss the batches' connection's replies wrapped in context, and fall
// back to the text of any error, where a host name is not Redis's answer.
func redisReply(err error) string {
	var re redis.Error
	if !errors.As(err, &re) {
		return ""
	}
	return re.Error()
}

// aclError is Check finding a command the store's scripts call that the
// ACL does not allow: Redis checks it only when a script runs it, which
// would fail the first event needing it, not the start.
type aclError struct{ command, key string }

func (e *aclError) Error() string {
	return "NOPERM this user has no permissions to run the '" + strings.ToLower(e.command) + "' command on " + e.key + " (graceguard's scripts call it)"
}
