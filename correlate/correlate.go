// Package correlate owns what graceguard remembers: per user (per IdP and
// DN) the recent legitimate refreshes, the addresses seen, the grace reuses;
// per OpenUnison session id the addresses seen. It turns each event into a
// Context (the event plus the facts as they stood just before it) for the
// rules to judge. It must not know about rule syntax, and it keeps every
// history bounded by TTLs and caps, counting what it evicts. "Just before"
// is by log time, whatever order the store learned events in: watchers
// sharing a store learn each other's events late, so an address, a country
// or a network first seen after an event is not among its facts though it
// was learned first.
//
// One subtlety shapes the Correlator: OpenUnison logs a grace reuse as an
// [AzSuccess] on the token endpoint followed by the [ExpiredRefreshTokenUsed]
// line for the same request (same thread, same bracketed id). That AzSuccess
// is not a legitimate refresh, and learning it would teach the history the
// replaying address. So a token_ok waits briefly (Config.PairWindow of log
// time) until its thread moves on; if the grace-reuse line arrives first,
// the two are one request and the token_ok is dropped.
//
// Three stores hold the history: Memory, in process (checkpointed by the
// watcher); Redis, shared by the watchers of several replicas, with the
// same semantics (one test suite runs against both; the session table is
// the same direct-mapped table in both, where a new session takes an older
// one's slot); and Failover, Redis in front of a Memory store that learns
// everything too, so analysis goes on when Redis does not answer.
package correlate

import (
	"context"
	"net/netip"
	"time"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// Store keeps history. Apply records what one observation teaches and returns
// the facts as they stood before it, in one step, so a shared store (Redis)
// can do it atomically for several replicas.
type Store interface {
	Apply(ctx context.Context, obs Observation) (Facts, error)
}

// BatchStore is a Store that applies many observations, in order, at the
// cost of one: a shared store, where each call is a round trip. facts[i]
// is filled for each observation that needs facts.
type BatchStore interface {
	Store
	ApplyBatch(ctx context.Context, batch []Observation, facts []Facts) error
}

// Action is what an observation teaches the history.
type Action uint8

// The actions.
const (
	// Refresh: a legitimate token refresh (or first code exchange): learn the
	// refresh, the address and the session.
	Refresh Action = iota + 1
	// Reuse: a grace-period reuse: count it, remember the session address,
	// but never learn the address as the user's own.
	Reuse
	// Login: an interactive authentication: learn the address.
	Login
	// Look: learn nothing (a failed refresh); return the facts.
	Look
)

// Observation is the part of an event a Store needs.
type Observation struct {
	User    UserID
	Session string // OpenUnison's session id; "" or "null" for none
	Time    time.Time
	IP      netip.Addr
	Action  Action
	// Country and ASN are where the event's address is, when known; a
	// refresh or login teaches them as the user's.
	Country string
	ASN     uint
	// NeedFacts asks for the Facts; without it the store only learns, which
	// is all a refresh that no rule judges needs.
	NeedFacts bool
	// Source and Offset say where the event was logged (the source's
	// identity, as in alert ids). A shared store names what it learns by
	// them, so that a restarted watcher re-reading lines the store already
	// learned from does not count them twice. Empty: no such guarantee.
	Source string
	Offset int64
	// Digest is a hash of the record's text (0: unknown). A copytruncate
	// keeps the source's identity and starts offsets at 0 again, so a new
	// record can be logged at an old one's offset: the digest tells them
	// apart, as the record's text does in alert ids.
	Digest uint64
	// Agent and Attribution are what attribution (package attribute) found
	// of the event's client; a refresh teaches them with its address.
	Agent       string
	Attribution parser.Attribution
	Peer        netip.Addr // what OpenUnison logged, when attribution ran
	// sightsKnown says which of the event's address, country and network
	// the memory store held for the user already, first seen at or before
	// the event: Failover's local store notes it before the shared store
	// learns the event, which then need not trim the user's sights for
	// them (they were there, unless Redis lost them). Their first sights
	// are written all the same: one Redis lost (the cap, an expiry, the
	// keys) and got back with no first sight would read as seen before any
	// event, a thief's address first seen after a reuse included.
	sightsKnown sightBits
	// sessionNew says the memory store held no address of the event's
	// session before it (kubectl's sessions: a fresh id every request).
	// The shared store then writes the session's slot as this watcher
	// knows it, with no read: nearly always another session's slot, which
	// it takes. Where another watcher wrote addresses of it, they are lost
	// for good: a later write of it that a local store knows merges only
	// the addresses of that write's events (TestWatchersShareASessionsAddresses),
	// and the HSET's reply counts the slot as evicted.
	sessionNew bool
}

// sightBits name an event's sights: its address, country and network.
type sightBits uint8

const (
	sightIP sightBits = 1 << iota
	sightCountry
	sightASN
)

// RefreshFact is a legitimate refresh remembered for a user.
type RefreshFact struct {
	Time    time.Time
	IP      netip.Addr // the client when attribution found it
	Session string
	// Agent and Attribution say who made the refresh, as attribution found
	// it: the rotating refresh's user agent and how its address was known.
	// Zero for refreshes learned before attribution ran (old checkpoints).
	Agent       string
	Attribution parser.Attribution
	Peer        netip.Addr // what OpenUnison logged for it
}

// Facts are what the history knew just before an event.
type Facts struct {
	Prev      *RefreshFact // the user's most recent legitimate refresh at or before the event
	UserIPs   []netip.Addr // distinct addresses the user was seen at within the IP TTL, most recent first, first seen at or before the event
	IPSeen    bool         // the event's address is among UserIPs
	FirstSeen time.Time    // when the user was first seen (zero for a new user)
	Reuses10m int          // grace reuses in the 10 minutes up to the event, this one included
	Reuses1h  int          // the same over an hour
	// ForeignReuses1h counts the reuses of the hour up to the event (this
	// one included) whose client was not the client of the refresh that
	// rotated the token (Prev as it stood then): not a tool racing its own
	// refresh. A reuse with no refresh known before it is not counted: there
	// is nothing to compare.
	ForeignReuses1h int
	SessionIPs      []netip.Addr // addresses seen with the event's session id
	SessionIP       bool         // the event's address is among SessionIPs
	Countries       []string     // countries the user was seen in, most recent first, first seen at or before the event
	ASNs            []uint       // networks the user was seen on, most recent first, first seen at or before the event
}

// Context is an event with the facts it is judged by.
type Context struct {
	Event *parser.Event
	Facts
	// Geo and PrevGeo are what the GeoIP databases say of the event's and the
	// previous refresh's addresses; nil without a database or for private
	// addresses. Travel relates the two; nil unless both are located.
	Geo, PrevGeo *geo.Info
	Travel       *geo.Trip
	// TravelPairSeen counts, when Travel is set on a refresh, how often the
	// user's consecutive refreshes went between these two places before
	// (within PlacePairWindow): places a user keeps using at the same time
	// (two devices) are learned.
	TravelPairSeen int
	// Takeover is set on a refused refresh attributed to users whose chain
	// just moved away from its client; the Context's Event is then the
	// refused request's [AzFail], its User the users' DNs, and Geo and
	// PrevGeo place the moving client (To) and the refused one.
	Takeover *Takeover
}

// GeoLookup places addresses; *geo.DB is one.
type GeoLookup interface {
	Lookup(netip.Addr) (geo.Info, bool)
}

// UserID names a user in the history: DNs are only unique within one IdP.
type UserID struct {
	IdP, DN string
}

// UserOf returns the history key of an event's user.
func UserOf(ev *parser.Event) UserID { return UserID{IdP: ev.IdP, DN: ev.User} }
