// Package timeline owns one user's history as a responder reads it after an
// alert: the user's refreshes, grace reuses, refused refreshes and logins in
// log order, each with its client, agent, proxy, place and the interval
// from the one before, and the alerts each raised. It builds the history
// from the Contexts the pipeline judges and writes it as text or JSON lines;
// it must not judge anything itself (rules do) nor read files (the caller
// runs the pipeline).
package timeline

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// MaxEntries bounds a timeline; past it the oldest entries go (counted in
// Dropped): a responder wants the latest, and a service account refreshing
// all month would otherwise grow without end.
const MaxEntries = 100_000

// Entry is one event of the user's.
type Entry struct {
	Time     time.Time     `json:"time"`
	What     string        `json:"what"` // refresh, reuse, refused, failed, login
	IP       string        `json:"ip"`
	Agent    string        `json:"agent,omitempty"`
	Via      string        `json:"via,omitempty"`
	Place    string        `json:"place,omitempty"` // "London, GB AS64501"; empty without GeoIP or for private addresses
	Flags    []string      `json:"flags,omitempty"` // new-ip, private, from-<ip>, new-asn, travel=…, chain-moved-to=<ip>, ambiguous:one-of=…
	Interval time.Duration `json:"-"`               // since the user's previous entry (set by Finish); 0 for the first
	Reason   string        `json:"reason,omitempty"`
	Source   string        `json:"source"`
	Alerts   []string      `json:"alerts,omitempty"` // "severity rule"
}

// Timeline collects one user's entries.
type Timeline struct {
	User    string
	Entries []Entry // in the order observed until Finish; then in log order
	Dropped int
	// Max is the cap on Entries; zero means MaxEntries.
	Max int
	// oldest is, once Entries holds Cap entries, the index of the oldest
	// entry: a full timeline is a ring, each new entry taking the oldest's
	// place, so a user with millions of refreshes costs the same per entry
	// as one with a few (shifting all 100,000 down by one for each new
	// entry made a long service account's timeline run for hours).
	oldest int
}

// New returns an empty timeline of user: a DN, or a uid (matched as the
// DN's "uid=<uid>," prefix).
func New(user string) *Timeline { return &Timeline{User: user} }

// Cap is how many entries the timeline keeps: Max, or MaxEntries.
func (t *Timeline) Cap() int {
	if t.Max > 0 {
		return t.Max
	}
	return MaxEntries
}

// matches reports whether a DN is the timeline's user.
func (t *Timeline) matches(dn string) bool {
	if strings.EqualFold(dn, t.User) {
		return true
	}
	return !strings.Contains(t.User, "=") && len(dn) > len(t.User)+5 &&
		strings.EqualFold(dn[:4], "uid=") && strings.EqualFold(dn[4:4+len(t.User)], t.User) && dn[4+len(t.User)] == ','
}

// Observe is a pipeline.Observer: it keeps the judged events of the user,
// a refused refresh attributed to the user (chain-takeover) included.
func (t *Timeline) Observe(c *correlate.Context, alerts []alert.Alert) {
	ev := c.Event
	mine := t.matches(ev.User)
	if c.Takeover != nil {
		mine = false
		for _, m := range c.Takeover.Moves {
			mine = mine || t.matches(m.User.DN)
		}
	}
	if !mine {
		return
	}
	e := Entry{Time: ev.Time, What: what(ev), IP: addr(ev), Agent: ev.Agent, Via: ev.Via, Reason: ev.Reason,
		Source: fmt.Sprintf("%s:%d", ev.FileName(), ev.Offset), Place: place(c.Geo), Flags: flags(c)}
	if c.Takeover != nil {
		// Geo is the moving client's there; the refused client's is PrevGeo.
		e.Place = place(c.PrevGeo)
	}
	for _, a := range alerts {
		e.Alerts = append(e.Alerts, a.Severity.String()+" "+a.Rule)
	}
	if len(t.Entries) >= t.Cap() {
		t.Entries[t.oldest] = e
		t.oldest = (t.oldest + 1) % len(t.Entries)
		t.Dropped++
		return
	}
	t.Entries = append(t.Entries, e)
}

// Finish puts the entries in log order and sets their intervals. Events
// are judged in log order but for refreshes, which wait a moment for a
// grace-reuse twin, so a login or refusal can be judged before a refresh
// logged just ahead of it.
func (t *Timeline) Finish() {
	if t.oldest > 0 {
		t.Entries = append(t.Entries[t.oldest:len(t.Entries):len(t.Entries)], t.Entries[:t.oldest]...)
		t.oldest = 0
	}
	slices.SortStableFunc(t.Entries, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	for i := range t.Entries {
		t.Entries[i].Interval = 0
		if i > 0 {
			t.Entries[i].Interval = t.Entries[i].Time.Sub(t.Entries[i-1].Time)
		}
	}
}

func what(ev *parser.Event) string {
	switch ev.Kind {
	case parser.KindTokenOK:
		return "refresh"
	case parser.KindGraceReuse:
		return "reuse"
	case parser.KindLogin:
		return "login"
	case parser.KindTokenFail:
		if ev.Reason != "" {
			return "refused"
		}
		return "failed"
	}
	return ev.Kind.String()
}

func addr(ev *parser.Event) string {
	if !ev.IP.IsValid() {
		return "-"
	}
	return ev.IP.String()
}

func place(g *geo.Info) string {
	if g == nil {
		return ""
	}
	var parts []string
	switch {
	case g.City != "" && g.Country != "":
		parts = append(parts, g.City+", "+g.Country)
	case g.Country != "":
		parts = append(parts, g.Country)
	}
	if g.ASN != 0 {
		parts = append(parts, fmt.Sprintf("AS%d", g.ASN))
	}
	return strings.Join(parts, " ")
}

// flags are the facts a responder looks for first.
func flags(c *correlate.Context) []string {
	if t := c.Takeover; t != nil {
		return takeoverFlags(t)
	}
	ev := c.Event
	if !ev.IP.IsValid() || ev.Kind == parser.KindTokenFail {
		return nil
	}
	out := attributionFlags(ev)
	if geo.IsPrivate(ev.IP) {
		out = append(out, "private")
	}
	return append(out, changeFlags(c)...)
}

func takeoverFlags(t *correlate.Takeover) []string {
	var out []string
	for _, m := range t.Moves {
		out = append(out, "chain-moved-to="+m.To.String())
	}
	if len(t.Moves) > 1 {
		out = append(out, fmt.Sprintf("shared-address=%d-users", len(t.Moves)))
	}
	return out
}

// attributionFlags say when the address shown is the proxy's, not the
// client's.
func attributionFlags(ev *parser.Event) []string {
	switch ev.Attribution {
	case parser.AttrAmbiguous:
		cands := make([]string, len(ev.Candidates))
		for i, c := range ev.Candidates {
			cands[i] = c.String()
		}
		return []string{"ambiguous:one-of=" + strings.Join(cands, ",")}
	case parser.AttrUnattributed:
		return []string{"unattributed:proxy-log-missing"}
	}
	return nil
}

// changeFlags are what is new for the user: address, network, speed.
func changeFlags(c *correlate.Context) []string {
	var out []string
	ev := c.Event
	if len(c.UserIPs) > 0 && !c.IPSeen {
		out = append(out, "new-ip")
	}
	if c.Prev != nil && c.Prev.IP != ev.IP {
		out = append(out, "from-"+c.Prev.IP.String())
	}
	if g := c.Geo; g != nil && g.ASN != 0 && len(c.ASNs) > 0 && !containsUint(c.ASNs, g.ASN) {
		out = append(out, "new-asn")
	}
	if tr := c.Travel; tr != nil && tr.SpeedKmh > 900 && tr.BeyondKm > 0 {
		out = append(out, fmt.Sprintf("travel=%.0fkm/h", tr.SpeedKmh))
	}
	return out
}

func containsUint(s []uint, v uint) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// WriteText writes one line per entry, aligned for reading.
func (t *Timeline) WriteText(w io.Writer) error {
	t.Finish()
	var b strings.Builder
	if t.Dropped > 0 {
		fmt.Fprintf(&b, "(%d earlier entries dropped)\n", t.Dropped)
	}
	for _, e := range t.Entries {
		iv := "-"
		if e.Interval > 0 {
			iv = "+" + alert.HumanDuration(e.Interval)
		}
		fmt.Fprintf(&b, "%s  %-7s  %-15s  %8s", e.Time.UTC().Format(alert.TimeFormat), e.What, e.IP, iv)
		for _, s := range []string{e.Place, quoteAgent(e.Agent), via(e.Via), e.Reason, strings.Join(e.Flags, " ")} {
			if s != "" {
				b.WriteString("  ")
				b.WriteString(s)
			}
		}
		if len(e.Alerts) > 0 {
			b.WriteString("  ALERT " + strings.Join(e.Alerts, ", "))
		}
		fmt.Fprintf(&b, "  [%s]\n", e.Source)
	}
	if len(t.Entries) == 0 {
		b.WriteString(t.NothingFound() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func quoteAgent(a string) string {
	if a == "" {
		return ""
	}
	return fmt.Sprintf("agent=%q", a)
}

func via(v string) string {
	if v == "" {
		return ""
	}
	return "via " + v
}

type jsonEntry struct {
	Time       string `json:"time"`
	IntervalMs *int64 `json:"interval_ms"`
	Entry
}

// WriteJSON writes one object per entry and line.
func (t *Timeline) WriteJSON(w io.Writer) error {
	t.Finish()
	enc := json.NewEncoder(w)
	for _, e := range t.Entries {
		j := jsonEntry{Entry: e, Time: e.Time.UTC().Format(alert.TimeFormat)}
		if e.Interval > 0 {
			ms := e.Interval.Milliseconds()
			j.IntervalMs = &ms
		}
		if err := enc.Encode(j); err != nil {
			return err
		}
	}
	return nil
}

// NothingFound says that the logs held nothing of the user: the text
// format's whole output then, and what the JSON format's reader is told
// beside its empty output.
func (t *Timeline) NothingFound() string {
	return fmt.Sprintf("no refresh, reuse, refusal or login of %s in the logs", t.User)
}
