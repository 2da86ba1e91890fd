package alert

import "strconv"

// Response is what graceguard did about an alert beyond telling people:
// today, ending the user's OpenUnison sessions (package respond). It is
// the alert's "response" key, null when nothing was attempted.
type Response struct {
	// Action is what was asked: "end_sessions".
	Action string `json:"action"`
	// Status is how it went: "ended", "dry_run" (nothing deleted; Sessions
	// says how many would have been), "failed", "held_back" (HeldBack says
	// why), "excluded" (a break-glass user) or "pending" (still being
	// tried when the alert left; the outcome is logged and counted).
	Status   string `json:"status"`
	DryRun   bool   `json:"dry_run"`
	Sessions int    `json:"sessions"` // sessions ended, or that a dry run would end
	// Trigger says why: the severity gate or the rule that asked.
	Trigger   string `json:"trigger"`
	Namespace string `json:"namespace,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	Error     string `json:"error,omitempty"`
	HeldBack  string `json:"held_back,omitempty"`
}

// Response statuses.
const (
	ResponseEnded    = "ended"
	ResponseDryRun   = "dry_run"
	ResponseFailed   = "failed"
	ResponseHeldBack = "held_back"
	ResponseExcluded = "excluded"
	ResponsePending  = "pending"
)

// Text is the response in a few words for people: "sessions ended: 2",
// "sessions ended: 2 (dry run)", "sessions not ended: …".
func (r *Response) Text() string {
	if r == nil {
		return ""
	}
	switch r.Status {
	case ResponseEnded:
		return "sessions ended: " + strconv.Itoa(r.Sessions)
	case ResponseDryRun:
		return "sessions ended: " + strconv.Itoa(r.Sessions) + " (dry run)"
	case ResponseFailed:
		return "sessions not ended: " + r.Error
	case ResponseHeldBack:
		return "sessions not ended: held back (" + r.HeldBack + ")"
	case ResponseExcluded:
		return "sessions not ended: excluded user"
	case ResponsePending:
		return "ending sessions…"
	}
	return r.Status
}
