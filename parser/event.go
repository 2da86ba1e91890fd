// Package parser turns the bytes of OpenUnison's log, and of the proxies in
// front of it, into Events.
//
// It owns the log4j2 line grammar OpenUnison writes (`[%d][%t] %-5p %c{1} - %m%n`),
// the shape of the AccessLog and OpenIDConnectIdP messages, the container
// runtimes' wrappers (CRI with partial lines, docker json-file, `kubectl logs
// --timestamps`) and the joining of multi-line records such as Java stack
// traces. It keeps no state across records beyond the record being joined and
// must not keep any across users: correlation belongs to package correlate.
//
// It owns the proxies' access-log formats too (proxy*.go): ingress-nginx's
// upstreaminfo and its older variant, its JSON formats with operators' key
// names (JSONKeys), Envoy's and Istio's text formats, Envoy Gateway's and
// Istio's JSON,
// Traefik's CLF and JSON. A source is found to be a proxy's from its lines,
// inside any wrapper, and its records are then its lines. Only requests to
// an IdP's token endpoint become KindProxy events, with a ProxyRecord; every
// other line of a proxy, which carries the whole cluster's traffic, is other
// after one search. Matching a proxy record to OpenUnison's record of the
// same request belongs to package attribute, not here. X-Forwarded-For is
// read here in two ways (forwarded.go), as the proxy that read it did: as
// Envoy reads it for the lines of Envoy's formats that log no peer, and as
// nginx's realip module reads it (LastForwarded) for package idp's
// stand-in proxy and bundled IdP, which walk it past their trusted hops.
//
// Two entry points serve two speeds. Classify tells the Kind of a record
// without allocating, so a scanner can skip the ~97% of a busy log that is
// noise at memory speed; Parse (or ParseInto, in place) fills every field of
// an Event. The two agree on Kind for every input Parse accepts (a fuzz test
// holds them to it). A record that says what it is (a grace reuse's tag, a
// token request's URL, a login's tag) and then breaks the grammar, cut short
// or garbled, is no noise: Classify names its kind and Parse rejects it with
// a SyntaxError at the column where it broke, so a scan names it where
// dropping it would leave a reuse unjudged and unsaid. SplitCandidates
// walks a block of plain log with Classify's rules, ruling most log4j2 lines
// out by their last byte before reading a header (FuzzSplitCandidates holds
// it to the plain walk and ClassifyLine).
package parser

import (
	"cmp"
	"fmt"
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
	// KindProxy is a proxy's access-log record of a request to OpenUnison's
	// token endpoint (/auth/idp/<name>/token); Proxy holds what it says.
	// Package attribute joins it to OpenUnison's record of the same request;
	// it is never judged by itself.
	KindProxy
	// KindRefusal is OpenIDConnectIdP's WARN that opens a refused refresh
	// ("Session does not exist from refresh_token", "Session expired"): the
	// anonymous [AzFail] on the same thread that follows closes it.
	KindRefusal
	numKinds
)

// NumKinds is the number of kinds, for arrays indexed by Kind.
const NumKinds = int(numKinds)

var kindNames = [numKinds]string{"other", "grace_reuse", "token_ok", "token_fail", "login", "proxy", "refusal"}

// Kinds lists every kind, in a stable order for reports.
func Kinds() []Kind {
	return []Kind{KindGraceReuse, KindTokenOK, KindTokenFail, KindLogin, KindRefusal, KindProxy, KindOther}
}

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
	return "unknown event kind " + quote(e.Name) + " (want one of grace_reuse, token_ok, token_fail, login, refusal, proxy, other)"
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
	// (a followed file is renamed by rotation); empty means Source
	// (SourceKey).
	SourceID string
	// File is the file the record was read from where Source names the
	// log it is a rotated generation of (scan reads openunison.log.1 as
	// openunison.log's, so that a request's lines meet across a rotation);
	// empty means Source (FileName).
	File   string
	Offset int64  // byte offset of the record in its source
	Raw    string // the whole record, continuation lines included

	// Reason is, on a token_fail, the WARN text that opened the refusal on
	// the same thread ("Session does not exist from refresh_token"); set by
	// correlation, empty when none preceded it.
	Reason string

	// What attribution (package attribute) knows of a token-endpoint event.
	// IP is then the client when known: the proxy's client when joined, the
	// peer itself when the peer is no proxy; Peer keeps what OpenUnison
	// logged. Zero values mean "not attributed" (scan without proxies,
	// events of other kinds).
	Peer        netip.Addr
	Agent       string       // the client's User-Agent, from the proxy's record
	Via         string       // the proxy, e.g. "ingress-nginx 10.1.67.12"; empty for direct
	Attribution Attribution  // how IP was found
	Candidates  []netip.Addr // the possible clients of an ambiguous match
	// DistinctFromPrev is set on an ambiguous grace reuse when attribution
	// proved its client is not the client of the refresh that rotated its
	// token (the user's latest token_ok before it), though not which
	// candidate each request was: the two requests had to be two of the
	// same few proxy records, and every way to share those records out
	// gives them different clients.
	DistinctFromPrev bool

	// Proxy is set on KindProxy records only.
	Proxy *ProxyRecord
}

// Attribution says how an event's client address was found.
type Attribution uint8

// The attributions of DESIGN.md.
const (
	AttrNone         Attribution = iota // not a token-endpoint event, or attribution did not run
	AttrDirect                          // the peer OpenUnison logged is no proxy: it is the client
	AttrJoined                          // the proxy's record of the same request names the client
	AttrAmbiguous                       // several proxy records could be this request; Candidates holds their clients
	AttrUnattributed                    // the peer is a proxy and no record of it could be joined
)

var attributionNames = [...]string{"", "direct", "joined", "ambiguous", "unattributed"}

func (a Attribution) String() string {
	if int(a) < len(attributionNames) {
		return attributionNames[a]
	}
	return "unknown"
}

// MarshalText writes the attribution's stable name.
func (a Attribution) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an attribution's stable name.
func (a *Attribution) UnmarshalText(b []byte) error {
	for i, name := range attributionNames {
		if name == string(b) {
			*a = Attribution(i)
			return nil
		}
	}
	return fmt.Errorf("unknown attribution %q (want direct, joined, ambiguous or unattributed)", b)
}

// ProxyFormat names a proxy access-log format the parser recognises.
type ProxyFormat uint8

// The proxy formats of proxies.md.
const (
	ProxyUnknown      ProxyFormat = iota
	ProxyNginx                    // ingress-nginx default upstreaminfo (and the older [$the_real_ip] variant)
	ProxyNginxJSON                // ingress-nginx with a JSON log-format-upstream
	ProxyEnvoy                    // Envoy's default text format
	ProxyIstio                    // Istio's default text format (sidecars and gateways), and its JSON
	ProxyEnvoyGateway             // Envoy Gateway's default JSON
	ProxyTraefik                  // Traefik's CLF
	ProxyTraefikJSON              // Traefik's JSON
)

var proxyFormatNames = [...]string{"unknown", "ingress-nginx", "ingress-nginx-json", "envoy", "istio", "envoy-gateway", "traefik", "traefik-json"}

func (f ProxyFormat) String() string {
	if int(f) < len(proxyFormatNames) {
		return proxyFormatNames[f]
	}
	return "unknown"
}

// ProxyRecord is what a proxy's access-log record says of one request.
// Times follow proxies.md's "Timing": OpenUnison's line for the same
// request lies within [Start, End + Precision), the logged times being
// truncated to Precision (nginx's $time_local to the second). The event's
// Time is Start for Envoy, Istio, Envoy Gateway and Traefik, which log the
// start, and End for ingress-nginx, which logs when it wrote the line.
type ProxyRecord struct {
	Format    ProxyFormat
	Client    netip.Addr       // the client as the proxy saw it ($remote_addr, DOWNSTREAM_REMOTE_ADDRESS, ClientHost)
	XFF       string           // X-Forwarded-For as logged, when the format has it
	Agent     string           // User-Agent; empty when not logged
	Method    string           // POST, …
	Path      string           // request path without the query
	Status    int              // response code sent to the client
	Upstreams []netip.AddrPort // the upstream(s) tried, last one served ($upstream_addr, UPSTREAM_HOST, ServiceAddr)
	// UpstreamLocal is the proxy's own address towards the upstream
	// (UPSTREAM_LOCAL_ADDRESS): what OpenUnison logs as the peer, when the
	// format has it; invalid otherwise.
	UpstreamLocal netip.Addr
	RequestID     string        // x-request-id / $req_id, when logged
	Start         time.Time     // request start, when the format has it (Envoy, Traefik); else End − Duration
	End           time.Time     // when the proxy wrote the record (nginx $time_local / $msec); else Start + Duration
	Duration      time.Duration // request time as logged
	// Precision is the resolution of the logged time: time.Second for
	// $time_local, $time_iso8601 and Traefik's CLF, time.Millisecond for
	// $msec and Envoy's START_TIME, time.Nanosecond for Traefik's JSON.
	Precision time.Duration
}

// AnonymousDN is the DN OpenUnison logs for requests without a user.
const AnonymousDN = "uid=Anonymous,o=Tremolo"

// SourceKey names the event's source as alert ids, a watcher's clocks and
// attribution's holds do: SourceID, else File, else Source.
func (e *Event) SourceKey() string { return cmp.Or(e.SourceID, e.File, e.Source) }

// FileName names where the record is, as alerts and timelines show it with
// its offset: File, or Source when it has none.
func (e *Event) FileName() string { return cmp.Or(e.File, e.Source) }
