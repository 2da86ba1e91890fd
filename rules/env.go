package rules

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/parser"
)

// Env is the environment a rule's expressions see. Names are lower-case and
// stable; the README documents them. Pointers are nil where a fact is
// unknown (no refresh before, no GeoIP database, a private address), so rules
// test them against nil first.
//
// Every member is a pointer: expr reads struct members by reflection and
// would copy a struct value into an interface on every access.
type Env struct {
	Event   *EventEnv   `expr:"event"`
	Geo     *GeoEnv     `expr:"geo"`
	Prev    *PrevEnv    `expr:"prev"`
	User    *UserEnv    `expr:"user"`
	Session *SessionEnv `expr:"session"`
	Travel  *TravelEnv  `expr:"travel"`
	// Takeover is set on a refused refresh attributed to users whose
	// refresh chain just moved to another client (chain-takeover).
	Takeover *TakeoverEnv `expr:"takeover"`
}

// EventEnv is the event being judged.
type EventEnv struct {
	Kind    string    `expr:"kind"` // grace_reuse, token_ok, token_fail or login: the kinds rules judge (judgedKinds)
	Time    time.Time `expr:"time"`
	User    string    `expr:"user"`
	IP      string    `expr:"ip"`
	Session string    `expr:"session"`
	IdP     string    `expr:"idp"`
	URL     string    `expr:"url"`
	Source  string    `expr:"source"`
	Tag     string    `expr:"tag"`     // OpenUnison's bracketed event: AzSuccess, ExpiredRefreshTokenUsed, …
	Message string    `expr:"message"` // the message text
	// What attribution found (package attribute). ip is the client when
	// known; peer is what OpenUnison logged; via the proxy; attribution is
	// "" (not attributed), direct, joined, ambiguous or unattributed;
	// candidates the possible clients of an ambiguous match.
	Peer        string   `expr:"peer"`
	Agent       string   `expr:"agent"`
	Via         string   `expr:"via"`
	Attribution string   `expr:"attribution"`
	Candidates  []string `expr:"candidates"`
	// DistinctFromPrev: on an ambiguous grace reuse, attribution proved
	// its client is not the client of the refresh that rotated its token
	// (two requests, two records, different clients), though not which
	// candidate each was.
	DistinctFromPrev bool `expr:"distinct_from_prev"`
	// Reason is, on a token_fail, the WARN that opened the refusal on the
	// same thread ("Session does not exist from refresh_token", "Session
	// expired"); "" when none did.
	Reason string `expr:"reason"`
}

// GeoEnv is what the GeoIP databases say of an address.
type GeoEnv struct {
	Country  string  `expr:"country"`
	City     string  `expr:"city"`
	Lat      float64 `expr:"lat"`
	Lon      float64 `expr:"lon"`
	RadiusKm int     `expr:"radius_km"`
	ASN      int     `expr:"asn"`
	Org      string  `expr:"org"`
}

// PrevEnv is the user's most recent legitimate refresh before the event.
type PrevEnv struct {
	IP      string    `expr:"ip"`
	Time    time.Time `expr:"time"`
	Session string    `expr:"session"`
	Geo     *GeoEnv   `expr:"geo"`
	// The refresh's client as attribution found it.
	Peer        string `expr:"peer"`
	Agent       string `expr:"agent"`
	Attribution string `expr:"attribution"`
}

// UserEnv is the user's history.
type UserEnv struct {
	IPs       []string `expr:"ips"`
	IPSeen    bool     `expr:"ip_seen"`
	Countries []string `expr:"countries"`
	ASNs      []int    `expr:"asns"`
	Reuses10m int      `expr:"reuses_10m"`
	Reuses1h  int      `expr:"reuses_1h"`
	// ReusesForeign1h counts the hour's reuses (this one included) from
	// another client than the refresh that rotated their token: zero while
	// every reuse is a tool racing its own refresh.
	ReusesForeign1h int       `expr:"reuses_foreign_1h"`
	FirstSeen       time.Time `expr:"first_seen"`
}

// SessionEnv is what is known of the event's OpenUnison session id.
type SessionEnv struct {
	IPs    []string `expr:"ips"`
	IPSeen bool     `expr:"ip_seen"`
}

// TravelEnv relates the event to the previous refresh in space and time.
type TravelEnv struct {
	Seconds    float64 `expr:"seconds"`
	DistanceKm float64 `expr:"distance_km"`
	BeyondKm   float64 `expr:"beyond_km"` // the distance less both accuracy radii
	SpeedKmh   float64 `expr:"speed_kmh"` // over beyond_km
	// PairSeen counts, on a refresh, the user's earlier refreshes between
	// the same two places within a week: pairs a user keeps travelling are
	// two devices, not a journey.
	PairSeen int `expr:"pair_seen"`
}

// TakeoverEnv relates a refused refresh to the chain that moved away from
// its client. ip, time, agent and via are the moving refresh's (the thief,
// if the chain was taken); prev_ip and prev_time the refresh before it from
// the refused client; refused_* the refused request. With several users
// behind the refused client's address (an office NAT) users names them all
// and the rest describe the most recent move.
type TakeoverEnv struct {
	Users        []string  `expr:"users"`
	IP           string    `expr:"ip"`
	Time         time.Time `expr:"time"`
	Agent        string    `expr:"agent"`
	Via          string    `expr:"via"`
	PrevIP       string    `expr:"prev_ip"`
	PrevTime     time.Time `expr:"prev_time"`
	RefusedIP    string    `expr:"refused_ip"`
	RefusedTime  time.Time `expr:"refused_time"`
	RefusedAgent string    `expr:"refused_agent"`
	Seconds      float64   `expr:"seconds"` // from the moving refresh to the refusal
}

// NewEnv builds the environment for one Context.
func NewEnv(c *correlate.Context) *Env {
	var b envBuffer
	return b.fill(c)
}

// envBuffer holds an Env and everything it points at, so an Engine can
// rebuild the environment for every event without allocating it anew.
type envBuffer struct {
	env     Env
	event   EventEnv
	prev    PrevEnv
	user    UserEnv
	session SessionEnv
	geo     GeoEnv
	prevGeo GeoEnv
	travel  TravelEnv
	take    TakeoverEnv
}

func (b *envBuffer) fill(c *correlate.Context) *Env {
	ev := c.Event
	b.event = EventEnv{
		Kind: ev.Kind.String(), Time: ev.Time, User: ev.User, IP: addrString(ev.IP),
		Session: ev.Session, IdP: ev.IdP, URL: ev.URL, Source: ev.FileName(), Tag: ev.Tag, Message: ev.Message,
		Peer: addrString(ev.Peer), Agent: ev.Agent, Via: ev.Via, Attribution: ev.Attribution.String(),
		Candidates: addrStrings(ev.Candidates), DistinctFromPrev: ev.DistinctFromPrev,
		Reason: ev.Reason,
	}
	b.user = UserEnv{
		IPs: addrStrings(c.UserIPs), IPSeen: c.IPSeen, Reuses10m: c.Reuses10m, Reuses1h: c.Reuses1h, ReusesForeign1h: c.ForeignReuses1h,
		FirstSeen: c.FirstSeen, Countries: c.Countries, ASNs: ints(c.ASNs),
	}
	b.session = SessionEnv{IPs: addrStrings(c.SessionIPs), IPSeen: c.SessionIP}
	b.env = Env{Event: &b.event, User: &b.user, Session: &b.session}
	if g := c.Geo; g != nil {
		b.geo = geoEnv(g)
		b.env.Geo = &b.geo
	}
	if p := c.Prev; p != nil {
		b.prev = PrevEnv{IP: addrString(p.IP), Time: p.Time, Session: p.Session, Peer: addrString(p.Peer),
			Agent: p.Agent, Attribution: p.Attribution.String()}
		if g := c.PrevGeo; g != nil {
			b.prevGeo = geoEnv(g)
			b.prev.Geo = &b.prevGeo
		}
		b.env.Prev = &b.prev
	}
	if tr := c.Travel; tr != nil {
		b.travel = TravelEnv{Seconds: tr.Seconds, DistanceKm: tr.DistanceKm, BeyondKm: tr.BeyondKm, SpeedKmh: tr.SpeedKmh,
			PairSeen: c.TravelPairSeen}
		b.env.Travel = &b.travel
	}
	if t := c.Takeover; t != nil {
		b.take = takeoverEnv(t, ev)
		b.env.Takeover = &b.take
	}
	return &b.env
}

func takeoverEnv(t *correlate.Takeover, refused *parser.Event) TakeoverEnv {
	m := t.Moves[0]
	out := TakeoverEnv{IP: addrString(m.To), Time: m.ToTime, Agent: m.ToAgent, Via: m.ToVia,
		PrevIP: addrString(m.From), PrevTime: m.FromTime, RefusedIP: addrString(refused.IP),
		RefusedTime: refused.Time, RefusedAgent: refused.Agent, Seconds: refused.Time.Sub(m.ToTime).Seconds()}
	for _, mv := range t.Moves {
		if !slices.Contains(out.Users, mv.User.DN) {
			out.Users = append(out.Users, mv.User.DN)
		}
	}
	return out
}

func geoEnv(g *geo.Info) GeoEnv {
	return GeoEnv{Country: g.Country, City: g.City, Lat: g.Lat, Lon: g.Lon, RadiusKm: g.RadiusKm, ASN: int(g.ASN), Org: g.Org}
}

func ints(us []uint) []int {
	if len(us) == 0 {
		return nil
	}
	out := make([]int, len(us))
	for i, u := range us {
		out[i] = int(u)
	}
	return out
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func addrStrings(as []netip.Addr) []string {
	if len(as) == 0 {
		return nil
	}
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = addrString(a)
	}
	return out
}

// The helpers rules can call.

// inCIDR reports whether ip lies in cidr; a malformed argument is false, not
// an error, so a rule never stops the pipeline on one odd address. A
// string literal given as the cidr never gets here malformed
// (checkLiterals refuses the rule when it is compiled); any other cidr
// still can (computed at run time, a variable, the items of a list walked
// with any(…, in_cidr(event.ip, #))), and then !in_cidr(...) is true for
// every address, which a rule built that way must guard against itself.
func inCIDR(ip, cidr string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	p, ok := prefixes.get(cidr)
	return ok && p.Contains(addr.Unmap())
}

// isPrivate reports whether ip is private, loopback, link-local, carrier-grade
// NAT (100.64.0.0/10) or unspecified: addresses that say nothing about where
// a client is.
func isPrivate(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return IsPrivateAddr(addr)
}

// IsPrivateAddr is isPrivate for a parsed address: geo's definition, so
// is_private is true exactly where geo is nil for want of a place.
func IsPrivateAddr(a netip.Addr) bool { return geo.IsPrivate(a) }

// prefixCache keeps parsed CIDRs: rules name a handful of constants, so a
// small bounded cache turns every call after the first into a map lookup.
type prefixCache struct {
	mu sync.Mutex
	m  map[string]prefixEntry
}

type prefixEntry struct {
	p  netip.Prefix
	ok bool
}

const maxCachedPrefixes = 1024

var prefixes = &prefixCache{m: make(map[string]prefixEntry)}

func (c *prefixCache) get(cidr string) (netip.Prefix, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, hit := c.m[cidr]; hit {
		return e.p, e.ok
	}
	p, err := parsePrefix(cidr)
	e := prefixEntry{p: p, ok: err == nil}
	if len(c.m) >= maxCachedPrefixes {
		clear(c.m)
	}
	c.m[cidr] = e
	return e.p, e.ok
}

// parsePrefix reads in_cidr's range: a CIDR, or a bare address as its own
// /32 or /128. The run time and the compile-time check share it so that
// what a check accepts is exactly what a rule matches against.
func parsePrefix(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		a, aerr := netip.ParseAddr(cidr)
		if aerr != nil {
			return netip.Prefix{}, err
		}
		if p, err = a.Prefix(a.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return p.Masked(), nil
}
