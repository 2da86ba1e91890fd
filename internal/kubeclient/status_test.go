package kubeclient

import (
	"fmt"
	"strings"
	"testing"
)

func TestStatusError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"a Status", `{"kind":"Status","message":"pods is forbidden"}`, "kubernetes API: 403 Forbidden: pods is forbidden"},
		{"no Status: the body is not repeated", "<html>Authorization: Basic aHVudGVyMg==</html>", "kubernetes API: 403 Forbidden"},
		{"a long message is cut", `{"message":"` + strings.Repeat("x", 1000) + `"}`, "kubernetes API: 403 Forbidden: " + strings.Repeat("x", maxStatusMsg) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewStatusError(403, []byte(tt.body))
			if err.Error() != tt.want {
				t.Errorf("got %q, want %q", err, tt.want)
			}
			if !IsStatus(fmt.Errorf("wrapped: %w", err), 403) || IsStatus(err, 404) {
				t.Error("IsStatus does not see the code through wrapping")
			}
		})
	}
}

func TestIsVersionName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{"v1", true}, {"v1beta1", true}, {"v2alpha1", true}, {"a-b", true},
		{"", false}, {"..", false}, {".", false}, {"v1/..", false}, {"../../api/v1", false},
		{"V1", false}, {"1v", false}, {"v1-", false}, {"v1?watch=1", false}, {"%2e%2e", false},
		{strings.Repeat("v", 63), true}, {strings.Repeat("v", 64), false},
	} {
		if got := IsVersionName(tt.v); got != tt.want {
			t.Errorf("IsVersionName(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
