package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
)

// takeoverAlert turns an alert on a refused refresh into one about the
// chain that moved: ip is the client that took the chain, prev_ip and
// prev_time the user's refresh before it from the client now refused; the
// alert's time stays the refusal's (when the taking showed), session and
// the first line of raw are the moving refresh's, raw's second the refusal's. Every user whose chain moved away from the refused client
// is named.
func takeoverAlert(a *alert.Alert, t *TakeoverEnv, c *correlate.Context) {
	a.IP, a.PrevIP, a.PrevTime, a.IntervalMs = t.IP, t.PrevIP, t.PrevTime, nil
	a.Geo, a.PrevGeo, a.DistanceKm, a.SpeedKmh = alertGeo(c.Geo), alertGeo(c.PrevGeo), nil, nil
	if m := c.Takeover.Moves; len(m) > 0 {
		// The refused request's session id is a fresh one, meaningless;
		// the moving refresh's is the one to look for.
		a.Session = m[0].ToSession
		if m[0].ToRaw != "" {
			a.Raw = m[0].ToRaw + "\n" + a.Raw
		}
	}
	a.Summary = takeoverSummary(t)
}

func takeoverSummary(t *TakeoverEnv) string {
	var b strings.Builder
	who := t.Users[0]
	if len(t.Users) > 1 {
		who = fmt.Sprintf("one of %d users behind %s (%s)", len(t.Users), t.RefusedIP, strings.Join(t.Users, "; "))
	}
	fmt.Fprintf(&b, "refresh chain taken: %s refreshed from %s%s at %s; %s later its client %s%s was refused (session does not exist)",
		who, t.IP, agentText(t.Agent), t.Time.UTC().Format(alert.TimeFormat),
		alert.HumanDuration(time.Duration(t.Seconds*float64(time.Second))), t.RefusedIP, agentText(t.RefusedAgent))
	return b.String()
}

func agentText(agent string) string {
	if agent == "" {
		return ""
	}
	return " (" + agent + ")"
}
