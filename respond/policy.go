package respond

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/graceguard/graceguard/alert"
)

// MinSeverity is the lowest severity the gate may be set to: below it a
// false positive would log people out too often. A rule's "revoke: true"
// still asks for any severity: its author decided.
const MinSeverity = alert.High

// DNHash is OpenUnison's label value for a user: the SHA-1 of the DN, in
// hex. (SHA-1 because OpenUnison chose it; it names, it does not protect.)
func DNHash(dn string) string {
	h := sha1.Sum([]byte(dn))
	return hex.EncodeToString(h[:])
}

// trigger says why an alert asks to end its user's sessions, "" when it
// does not: a rule's own revoke: setting first, else the severity gate.
func trigger(a alert.Alert, gate alert.Severity) string {
	if a.RevokeRule != nil {
		if *a.RevokeRule {
			return fmt.Sprintf("rule %s asks (revoke: true)", a.Rule)
		}
		return ""
	}
	if gate != 0 && a.Severity >= gate {
		return fmt.Sprintf("severity %s ≥ %s", a.Severity, gate)
	}
	return ""
}

// Excluder holds the users whose sessions are never ended (break-glass
// accounts): exact DNs or path.Match patterns, compared without regard to
// case, as LDAP compares DNs. A backslash is the DN's own (an RFC 4514
// escape: "cn=Larsen\, Priya"), not the pattern's, and '*' and '?'
// match a '/' as any other character of a DN.
type Excluder struct {
	exact, patterns []string // patterns as path.Match reads them
}

// NewExcluder checks the patterns.
func NewExcluder(patterns []string) (*Excluder, error) {
	e := &Excluder{}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		g := strings.ReplaceAll(slashless(p), `\`, `\\`)
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("exclusion %q: %w", p, err)
		}
		e.exact, e.patterns = append(e.exact, p), append(e.patterns, g)
	}
	return e, nil
}

// slashless hides a DN's slashes from path.Match, whose '*' stops at them.
func slashless(s string) string { return strings.ReplaceAll(s, "/", "\x00") }

// Excluded reports whether dn is one of the excluded users.
func (e *Excluder) Excluded(dn string) bool {
	dn = strings.ToLower(dn)
	name := slashless(dn)
	for i, p := range e.patterns {
		if ok, _ := path.Match(p, name); ok || e.exact[i] == dn {
			return true
		}
	}
	return false
}
