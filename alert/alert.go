// Package alert owns the Alert object every sink receives and its
// encodings: the JSON of DESIGN.md (stable keys, one object per line), the
// Elastic Common Schema document (ecs.go) and the one-line text for people. It decides nothing: rules fill alerts,
// sinks deliver them.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Severity orders alerts; rules set it, sinks filter on it.
type Severity uint8

// The severities, least to most severe.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"", "info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) && s > 0 {
		return severityNames[s]
	}
	return "unknown"
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(n, name) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", name)
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name, and "unknown", which MarshalText
// writes for the zero severity: an alert it wrote must read back (the
// sinks' journal rewrites what it loaded, and dropped such a line on the
// next load). Users' severities go through ParseSeverity, which refuses it.
func (s *Severity) UnmarshalText(b []byte) error {
	if string(b) == "unknown" {
		*s = 0
		return nil
	}
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Geo is what a GeoIP database says of an address.
// Lat and Lon are absent where the databases give no location (an address
// known only to an ASN database), rather than a misleading 0°, 0°.
type Geo struct {
	Country  string   `json:"country,omitempty"`
	City     string   `json:"city,omitempty"`
	Lat      *float64 `json:"lat,omitempty"`
	Lon      *float64 `json:"lon,omitempty"`
	RadiusKm int      `json:"radius_km,omitempty"`
	ASN      uint     `json:"asn,omitempty"`
	Org      string   `json:"org,omitempty"`
}

// Alert is one rule's verdict on one event. The JSON keys are a contract
// (README, DESIGN.md): every key is always present, null where unknown.
type Alert struct {
	ID          string
	Time        time.Time
	Rule        string
	Description string // the rule's description, for sinks that show it; not in the JSON
	Severity    Severity
	Summary     string
	User        string
	IP          string
	PrevIP      string    // "" when no refresh is known
	PrevTime    time.Time // zero when no refresh is known
	Session     string
	IdP         string
	URL         string
	Source      string
	Geo         *Geo
	PrevGeo     *Geo
	DistanceKm  *float64
	SpeedKmh    *float64
	IntervalMs  *int64
	Raw         string

	// What attribution found, when a proxy was involved (empty otherwise,
	// and then absent from the JSON): IP and PrevIP are the clients, Peer
	// and PrevPeer what OpenUnison logged, Via the proxy, Agent and
	// PrevAgent the user agents, Candidates the possible clients of an
	// ambiguous match.
	Peer        string
	PrevPeer    string
	Via         string
	Agent       string
	PrevAgent   string
	Attribution string
	Candidates  []string
	// RevokeRule is the rule's "revoke:" setting, which overrides the
	// severity gate of package respond; nil when the rule says nothing.
	// Not in the JSON: Response.Trigger says what decided.
	RevokeRule *bool
	Response   *Response
}

// ID derives an alert id from the rule, the identity of the source, the
// record's offset in it and the record itself. Reading the same record again
// (a restart, a re-scan) yields the same id, so sinks can drop the repeat.
// The record's text is in it because an offset alone does not name a record:
// a copytruncate keeps the file's identity and starts offsets again at 0, so
// a new record at an old offset would otherwise take an old alert's id and
// be dropped as its duplicate. The offset stays in it so identical lines at
// two places are two alerts.
func ID(rule, sourceID string, offset int64, raw string) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(sourceID))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(offset, 10)))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// TimeFormat is RFC 3339 with milliseconds, the alert's time format.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

type jsonAlert struct {
	ID         string    `json:"id"`
	Time       string    `json:"time"`
	Rule       string    `json:"rule"`
	Severity   Severity  `json:"severity"`
	Summary    string    `json:"summary"`
	User       string    `json:"user"`
	IP         *string   `json:"ip"`
	PrevIP     *string   `json:"prev_ip"`
	PrevTime   *string   `json:"prev_time"`
	Session    *string   `json:"session"`
	IdP        string    `json:"idp"`
	URL        string    `json:"url"`
	Source     string    `json:"source"`
	Geo        *Geo      `json:"geo"`
	PrevGeo    *Geo      `json:"prev_geo"`
	DistanceKm *float64  `json:"distance_km"`
	SpeedKmh   *float64  `json:"speed_kmh"`
	IntervalMs *int64    `json:"interval_ms"`
	Raw        string    `json:"raw"`
	Response   *Response `json:"response"`
	// Present only when a proxy was involved.
	Peer        string   `json:"peer,omitempty"`
	PrevPeer    string   `json:"prev_peer,omitempty"`
	Via         string   `json:"via,omitempty"`
	Agent       string   `json:"agent,omitempty"`
	PrevAgent   string   `json:"prev_agent,omitempty"`
	Attribution string   `json:"attribution,omitempty"`
	Candidates  []string `json:"candidates,omitempty"`
}

// MarshalJSON writes DESIGN.md's alert object, times in UTC: the keys of
// jsonAlert, in its order (json.go writes it).
func (a Alert) MarshalJSON() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 512+len(a.Raw)+len(a.Summary)))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (a *Alert) UnmarshalJSON(b []byte) error {
	var j jsonAlert
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return fmt.Errorf("alert time: %w", err)
	}
	*a = Alert{
		ID: j.ID, Time: t, Rule: j.Rule, Severity: j.Severity, Summary: j.Summary, User: j.User,
		IP: deref(j.IP), PrevIP: deref(j.PrevIP), Session: deref(j.Session), IdP: j.IdP, URL: j.URL,
		Source: j.Source, Geo: j.Geo, PrevGeo: j.PrevGeo, DistanceKm: j.DistanceKm, SpeedKmh: j.SpeedKmh,
		IntervalMs: j.IntervalMs, Raw: j.Raw, Response: j.Response, Peer: j.Peer, PrevPeer: j.PrevPeer, Via: j.Via, Agent: j.Agent,
		PrevAgent: j.PrevAgent, Attribution: j.Attribution, Candidates: j.Candidates,
	}
	if j.PrevTime != nil {
		if a.PrevTime, err = time.Parse(time.RFC3339Nano, *j.PrevTime); err != nil {
			return fmt.Errorf("alert prev_time: %w", err)
		}
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ClientText names a client as people read it: "203.0.113.9 via
// ingress-nginx 10.1.67.12, curl/8.5.0"; just the address when no proxy
// was involved.
func ClientText(ip, via, agent string) string {
	s := ip
	if s == "" {
		s = "-"
	}
	if via != "" {
		s += " via " + via
	}
	if agent != "" {
		s += ", " + agent
	}
	return s
}

// ClientOf is the alert's client in words; an ambiguous one lists its
// candidates.
func (a Alert) ClientOf() string {
	if len(a.Candidates) > 0 {
		return "one of " + strings.Join(a.Candidates, ", ") + " (ambiguous) via " + a.Via
	}
	return ClientText(a.IP, a.Via, a.Agent)
}

// HasPrev reports whether the alert names a previous refresh: by its
// client, or, where attribution could not tell that client (no PrevIP), by
// what OpenUnison logged for it (PrevPeer).
func (a Alert) HasPrev() bool { return a.PrevIP != "" || a.PrevPeer != "" }

// PrevClientOf is the previous refresh's client in words; one attribution
// could not tell (no PrevIP) is named by what OpenUnison logged.
func (a Alert) PrevClientOf() string {
	if a.PrevIP == "" && a.PrevPeer != "" {
		return ClientText("an unknown client", "proxy "+a.PrevPeer, a.PrevAgent)
	}
	return ClientText(a.PrevIP, "", a.PrevAgent)
}
