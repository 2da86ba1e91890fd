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
