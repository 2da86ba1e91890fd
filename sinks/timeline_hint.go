package sinks

import (
	"strings"

	"github.com/graceguard/graceguard/alert"
)

// timelineHint is the responder's next step: the command that shows the
// user's history around the alert (refreshes, reuses, refusals, places).
// The DN is quoted for a POSIX shell.
func timelineHint(a alert.Alert) string {
	user := a.User
	if i := strings.Index(user, "; "); i >= 0 {
		user = user[:i] // a shared address names several users; start with the first
	}
	return "graceguard timeline '" + strings.ReplaceAll(user, "'", `'\''`) + "' LOG…"
}
