package kubeclient

// IsVersionName reports whether v can be an API version (v1, v1beta1): a
// DNS-1035 label, as Kubernetes requires. A version found by discovery
// becomes a segment of later requests' paths, and one that is not a label
// ("..", or one with a slash) would send them elsewhere in the API.
func IsVersionName(v string) bool {
	if len(v) == 0 || len(v) > 63 || v[0] < 'a' || v[0] > 'z' || v[len(v)-1] == '-' {
		return false
	}
	for i := range len(v) {
		if c := v[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
