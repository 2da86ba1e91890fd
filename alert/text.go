package alert

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// TextOptions shape the one-line text form.
type TextOptions struct {
	Color bool // ANSI colours for a terminal
}

var severityColor = map[Severity]string{
	Info: "\x1b[2m", Low: "\x1b[36m", Medium: "\x1b[33m", High: "\x1b[31m", Critical: "\x1b[1;97;41m",
}

const colorReset = "\x1b[0m"

// WriteText writes a as one line a person can read at a glance:
//
//	2026-11-23T10:03:12.345Z HIGH     reuse-ip-mismatch uid=jjackson,ou=shadow,o=Tremolo 192.0.2.66 ← 198.51.100.23 1.9s earlier [pod-b.log:1234]
func WriteText(w io.Writer, a Alert, opt TextOptions) error {
	var b strings.Builder
	b.WriteString(formatTime(a.Time))
	b.WriteByte(' ')
	sev := fmt.Sprintf("%-8s", strings.ToUpper(a.Severity.String()))
	if c, ok := severityColor[a.Severity]; ok && opt.Color {
		sev = c + sev + colorReset
	}
	b.WriteString(sev)
	b.WriteByte(' ')
	b.WriteString(a.Rule)
	b.WriteByte(' ')
	b.WriteString(a.User)
	b.WriteByte(' ')
	b.WriteString(a.ClientOf())
	if a.HasPrev() {
		fmt.Fprintf(&b, " ← %s", a.PrevClientOf())
		if a.IntervalMs != nil {
			fmt.Fprintf(&b, " %s earlier", HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond))
		}
	}
	if place := travelText(a); place != "" {
		b.WriteString(" (")
		b.WriteString(place)
		b.WriteByte(')')
	}
	if a.Source != "" {
		fmt.Fprintf(&b, " [%s]", a.Source)
	}
	if r := a.Response.Text(); r != "" {
		b.WriteString(" → ")
		b.WriteString(r)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// travelText reads "London, GB → Milton, US: 7,700 km in 2 s" when geo is known.
func travelText(a Alert) string {
	if a.Geo == nil || a.PrevGeo == nil {
		return ""
	}
	s := placeOrUnknown(a.PrevGeo) + " → " + placeOrUnknown(a.Geo)
	if a.DistanceKm != nil && a.IntervalMs != nil {
		s += fmt.Sprintf(": %s km in %s", GroupThousands(int64(*a.DistanceKm+0.5)), HumanDuration(time.Duration(*a.IntervalMs)*time.Millisecond))
	}
	return s
}

func placeOrUnknown(g *Geo) string {
	if p := PlaceText(g); p != "" {
		return p
	}
	return "?"
}

// PlaceText is where an address is for people: "Sydney, AU", "AU", or ""
// when unknown. Every encoding of an alert for people uses it.
func PlaceText(g *Geo) string {
	if g == nil {
		return ""
	}
	switch {
	case g.City != "" && g.Country != "":
		return g.City + ", " + g.Country
	case g.Country != "":
		return g.Country
	}
	return ""
}

// HumanDuration rounds a duration for people: 42ms, 1.9s, 3m10s.
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "under 1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// GroupThousands writes n with commas between groups of three digits:
// 16,994. Alerts and summaries use it alike.
func GroupThousands(n int64) string {
	if n < 0 {
		return "-" + GroupThousands(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Cut shortens s to n runes, the last of them "…" when it had to cut; n of
// 1 or less leaves s whole. The demo's terminal lines and Slack's block
// limits use it alike.
func Cut(s string, n int) string {
	if n <= 1 || utf8.RuneCountInString(s) <= n {
		return s
	}
	kept := 0
	for i := range s {
		if kept == n-1 {
			return s[:i] + "…"
		}
		kept++
	}
	return s
}
