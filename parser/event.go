// Package parser turns the bytes of OpenUnison's log into Events.
//
// It owns the log4j2 line grammar OpenUnison writes (`[%d][%t] %-5p %c{1} - %m%n`),
// the shape of the AccessLog and OpenIDConnectIdP messages, the container
// runtimes' wrappers (CRI with partial lines, docker json-file, `kubectl logs
// --timestamps`) and the joining of multi-line records such as Java stack
// traces. It keeps no state across records beyond the record being joined and
// must not keep any across users: correlation belongs to package correlate.
//
// Two entry points serve two speeds. Classify tells the Kind of a record
// without allocating, so a scanner can skip the ~97% of a busy log that is
// noise at memory speed; Parse fills every field of an Event. The two agree on
// Kind for every input (a fuzz test holds them to it).
package parser

import (
	"net/netip"
	"time"
)

// Kind is what a record means for replay detection.
type Kind uint8

// The kinds of DESIGN.md. KindOther covers every record that is not one of
// the four events correlation learns from or alerts on.
const (
	KindOther      Kind = iota
	KindGraceReuse      // [ExpiredRefreshTokenUsed]: a rotated-out refresh token used inside the grace period
	KindTokenOK         // [AzSuccess] on the token endpoint with a real user: a refresh (or first code exchange)
	KindTokenFail       // [AzFail] on the token endpoint
	KindLogin           // [AuSuccess]: a completed authentication
	numKinds
)

var kindNames = [numKinds]string{"other", "grace_reuse", "token_ok", "token_fail", "login"}

// Kinds lists every kind, in a stable order for reports.
func Kinds() []Kind { return []Kind{KindGraceReuse, KindTokenOK, KindTokenFail, KindLogin, KindOther} }

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText writes the kind's stable name, as alerts and rules see it.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's stable name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, name := range kindNames {
		if name == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return &UnknownKindError{Name: string(b)}
}

// UnknownKindError reports a kind name that does not exist.
type UnknownKindError struct{ Name string }

func (e *UnknownKindError) Error() string {
	return "unknown event kind " + quote(e.Name) + " (want one of grace_reuse, token_ok, token_fail, login, other)"
}

// Event is one OpenUnison log record, parsed.
type Event struct {
	Time    time.Time // from the record, read in the parser's location (OpenUnison prints no zone)
	Kind    Kind
	Level   string // INFO, WARN, ERROR, DEBUG, …
	Logger  string // last segment of the logger name: AccessLog, OpenIDConnectIdP, …
	Thread  string // Undertow worker, e.g. "XNIO-1 task-1"
	Tag     string // the bracketed event: AzSuccess, AuFail, ExpiredRefreshTokenUsed, …; empty for plain messages
	App     string // the AccessLog application, e.g. k8sidp
	URL     string // request URL (no query string)
	IdP     string // <name> of /auth/idp/<name>/…
	User    string // user DN
	Message string // the free text: NONE, "Expired token used within grace period", a WARN's text
	IP      netip.Addr
	Session string // OpenUnison's bracketed web-session id; may be "null"
	Source  string // file or pod the record came from
	// SourceID names the source for alert ids where its name can change
	// (a followed file is renamed by rotation); empty means Source.
	SourceID string
	Offset   int64  // byte offset of the record in its source
	Raw      string // the whole record, continuation lines included
}

// AnonymousDN is the DN OpenUnison logs for requests without a user.
const AnonymousDN = "uid=Anonymous,o=Tremolo"
