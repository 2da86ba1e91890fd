package parser

// OpenIDConnectIdP opens a refused refresh with a WARN naming why, on the
// thread whose anonymous [AzFail] closes it. Only the two reasons that say
// the refresh token's session is gone are refusals: "Invalid client_secret"
// and "Could not refresh token" are a misconfigured or broken client, not a
// chain that moved.
const (
	RefusalNoSession = "Session does not exist from refresh_token"
	RefusalExpired   = "Session expired"
)

// isRefusal reports whether an OpenIDConnectIdP message opens a refused
// refresh. Classify (on bytes) and Parse (on the string) both ask it, so the
// two agree by construction.
func isRefusal[T ~string | ~[]byte](msg T) bool {
	return hasPrefix(msg, RefusalNoSession) || hasPrefix(msg, RefusalExpired)
}

func hasPrefix[T ~string | ~[]byte](s T, p string) bool {
	return len(s) >= len(p) && string(s[:len(p)]) == p
}
