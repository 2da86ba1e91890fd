// Package geo owns what graceguard knows about where an address is: lookups
// in MaxMind-format City and ASN databases (GeoLite2, GeoIP2, DB-IP and any
// other database that declares a City or ASN type), a bounded cache in front
// of them, great-circle distance and travel speed that allows for the
// databases' accuracy radii.
//
// It must not know about events, users, rules or alerts: correlate asks it
// about addresses and places and builds the rule environment from the
// answers. It must not fail late either: a database that cannot be read, is
// damaged or holds the wrong kind of records is refused by Open, so a bad
// file stops graceguard at start instead of surfacing at the first replay.
//
// Databases are read with the maxminddb reader and records decoded with
// geoip2-golang's models (ASN, Location) rather than through geoip2.Reader,
// whose City and ASN methods accept only a fixed list of database type
// names: a DB-IP or home-made database that declares a City layout under
// another name would be refused although its records decode the same way.
// The rest of a City record is walked by hand for speed (see cityRecord).
package geo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Info is what the databases say of one address. Strings are empty and
// numbers zero where a database does not know or was not given.
type Info struct {
	Country  string  // ISO 3166-1 alpha-2 code of the country the address is in
	City     string  // the city's English name
	Lat, Lon float64 // degrees; meaningful only when HasLocation
	RadiusKm int     // accuracy radius around Lat, Lon; 0 when the database gives none
	ASN      uint    // autonomous system number
	Org      string  // the autonomous system's organisation

	// HasLocation says Lat and Lon are known. A record may name a country
	// without coordinates, and an ASN database has none at all; without
	// this, such an address would sit at 0°, 0° and look like a jump.
	HasLocation bool
}

// DefaultCacheSize is how many addresses a DB remembers unless told
// otherwise: far more than the distinct client addresses an IdP's token
// endpoint sees in an hour, at roughly 150 bytes each.
const DefaultCacheSize = 16384

// Config says which databases to open and how many lookups to remember.
type Config struct {
	City string // path of a City database; "" for none
	ASN  string // path of an ASN database; "" for none

	// CityData and ASNData, when not nil, are the databases' bytes (a
	// database built into the binary, say); City and ASN then only name them
	// in messages.
	CityData, ASNData []byte

	CacheSize int // addresses remembered; 0 means DefaultCacheSize
}

// ErrNoDatabase is returned by Open when neither database is given.
var ErrNoDatabase = errors.New("no GeoIP database given (want a City database, an ASN database or both)")

// DB answers lookups from a City database, an ASN database or both. It is
// safe for concurrent use. A nil *DB knows nothing: Lookup reports false,
// so callers without databases need no special case.
type DB struct {
	city, asn *database
	cache     *cache
	errors    atomic.Uint64
}

// database is one opened and verified file.
type database struct {
	reader *maxminddb.Reader
	source Source
}

// Source describes one database a DB reads.
type Source struct {
	Kind  string    // "city" or "asn"
	Path  string    // as given to Open
	Type  string    // the database_type it declares, e.g. GeoLite2-City
	Built time.Time // its build time, from its metadata
}

// Open opens a City database, an ASN database or both ("" skips one) with
// the default cache size. See OpenConfig.
func Open(cityPath, asnPath string) (*DB, error) {
	return OpenConfig(Config{City: cityPath, ASN: asnPath})
}

// OpenConfig opens and fully verifies the databases c names. Every error
// names the file: a missing or unreadable file, one that is not a MaxMind DB,
// damaged data anywhere in it, or a database of the wrong kind (an ASN
// database given as the City database, a Country database, …).
func OpenConfig(c Config) (*DB, error) {
	if c.City == "" && c.ASN == "" && c.CityData == nil && c.ASNData == nil {
		return nil, ErrNoDatabase
	}
	if c.CacheSize < 0 {
		return nil, fmt.Errorf("GeoIP cache size %d: must not be negative", c.CacheSize)
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	db := &DB{cache: newCache(c.CacheSize)}
	var err error
	if c.City != "" || c.CityData != nil {
		if db.city, err = openDatabase(kindCity, c.City, c.CityData); err != nil {
			return nil, err
		}
	}
	if c.ASN != "" || c.ASNData != nil {
		if db.asn, err = openDatabase(kindASN, c.ASN, c.ASNData); err != nil {
			return nil, err
		}
	}
	return db, nil
}

const (
	kindCity = "city"
	kindASN  = "asn"
)

// maxDatabaseSize refuses something that is obviously not a GeoIP database
// before reading it all; the largest commercial databases are a few hundred
// megabytes.
const maxDatabaseSize = 4 << 30

func openDatabase(kind, path string, data []byte) (d *database, err error) {
	name := path
	if name == "" {
		name = "(built-in)"
	}
	wrap := func(err error) error {
		return fmt.Errorf("GeoIP %s database %s: %w", kindTitle(kind), name, err)
	}
	if data == nil {
		// The file is read into memory rather than mapped: a database
		// rewritten in place while mapped kills the process with SIGBUS,
		// and a private copy cannot change after it has been verified.
		if data, err = readDatabaseFile(path); err != nil {
			return nil, wrap(err)
		}
	}
	// The reader and verifier are bounds-checked and fuzzed upstream, but
	// this is a file from outside: if some corner still panics, it must be a
	// refused database and not a crash at start.
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, wrap(fmt.Errorf("damaged database (the reader failed: %v)", p))
		}
	}()
	if !bytes.Contains(data, metadataMarker) {
		return nil, wrap(errors.New("not a MaxMind DB file, or one cut short (it has no metadata section at its end)"))
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, wrap(fmt.Errorf("damaged database: %w", err))
	}
	typ := r.Metadata.DatabaseType
	if !declares(kind, typ) {
		return nil, wrap(fmt.Errorf("it is a %q database, not %s", typ, kindArticle(kind)))
	}
	if len(r.Metadata.Description) == 0 {
		// Verify insists on a description and would call the file damaged;
		// say what is actually missing to whoever built it.
		return nil, wrap(errors.New("its metadata has no description, which the verifier requires; write the database with one"))
	}
	if err := r.Verify(); err != nil {
		return nil, wrap(fmt.Errorf("damaged database: %w", err))
	}
	if err := checkRecords(kind, typ, r); err != nil {
		return nil, wrap(err)
	}
	return &database{reader: r, source: Source{
		Kind: kind, Path: path, Type: typ, Built: r.Metadata.BuildTime().UTC(),
	}}, nil
}

// recordSample is how many records Open decodes, at most, looking for one
// of the kind the database declares.
const recordSample = 256

// checkRecords refuses a database none of whose first records holds what
// graceguard reads from a database of its kind. declares matches a type
// name by a word, and a vendor's own layout can carry the word: IPinfo's
// "ipinfo country_asn.mmdb" holds flat records ("asn": "AS64496") that
// decode to nothing as MaxMind's ASN records, so every lookup would come
// back empty and no ASN rule ever fire, with nothing said. One record of
// the kind is enough (a real database has networks it knows little of);
// a database with no records at all has nothing to judge.
func checkRecords(kind, typ string, r *maxminddb.Reader) error {
	seen := 0
	for res := range r.Networks() {
		if res.Err() != nil {
			break // Verify walked the tree; let lookups count what is off
		}
		seen++
		if holdsKind(kind, res) {
			return nil
		}
		if seen == recordSample {
			break
		}
	}
	if seen == 0 {
		return nil
	}
	what := "an ASN (autonomous_system_number or autonomous_system_organization)"
	if kind == kindCity {
		what = "a place (country.iso_code, city.names.en or location)"
	}
	if seen == recordSample {
		return fmt.Errorf("it declares %q, but none of its first %d records holds %s", typ, seen, what)
	}
	return fmt.Errorf("it declares %q, but none of its %d records holds %s", typ, seen, what)
}

// holdsKind reports whether a record decodes, as Lookup decodes it, to
// something of kind.
func holdsKind(kind string, res maxminddb.Result) bool {
	if kind == kindCity {
		var c cityRecord
		return res.Decode(&c) == nil && (c.Country != "" || c.City != "" || c.Location.HasCoordinates())
	}
	var n geoip2.ASN
	return res.Decode(&n) == nil && (n.AutonomousSystemNumber != 0 || n.AutonomousSystemOrganization != "")
}

// metadataMarker starts the metadata section every MaxMind DB ends with:
// without it the file is something else altogether, which deserves a plainer
// message than a damaged database.
var metadataMarker = []byte("\xab\xcd\xefMaxMind.com")

func readDatabaseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	switch {
	case st.IsDir():
		return nil, errors.New("is a directory")
	case !st.Mode().IsRegular():
		// A device or pipe could be endless.
		return nil, errors.New("not a regular file")
	case st.Size() == 0:
		return nil, errors.New("file is empty")
	case st.Size() > maxDatabaseSize:
		return nil, fmt.Errorf("%d bytes is too large for a GeoIP database", st.Size())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, unwrapPath(err)
	}
	return data, nil
}

// unwrapPath drops the *fs.PathError layer, whose text repeats the path the
// caller's message already names; errors.Is still sees the cause.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// declares reports whether a database_type names records of kind. Vendors
// spell types their own way (GeoLite2-City, GeoIP2-City-Europe,
// DBIP-City-Lite, "DBIP-ASN-Lite (compat=GeoLite2-ASN)"), so the name is
// matched by the word it must contain. Enterprise databases hold City records
// and more; ISP databases hold the ASN fields at the top level. Country
// databases are refused as City databases: they have no coordinates, so a
// travel speed could never be computed and the user should know at start.
func declares(kind, typ string) bool {
	t := strings.ToLower(typ)
	switch kind {
	case kindCity:
		return strings.Contains(t, "city") || strings.Contains(t, "enterprise")
	case kindASN:
		return strings.Contains(t, "asn") ||
			(strings.Contains(t, "isp") && !strings.Contains(t, "enterprise"))
	}
	return false
}

func kindTitle(kind string) string {
	if kind == kindCity {
		return "City"
	}
	return "ASN"
}

func kindArticle(kind string) string {
	if kind == kindCity {
		return "a City database"
	}
	return "an ASN database"
}

// Sources describes the databases db reads, City first.
func (db *DB) Sources() []Source {
	if db == nil {
		return nil
	}
	var out []Source
	for _, d := range []*database{db.city, db.asn} {
		if d != nil {
			out = append(out, d.source)
		}
	}
	return out
}

// Close releases the databases; db must not be used afterwards.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	var errs []error
	for _, d := range []*database{db.city, db.asn} {
		if d != nil {
			errs = append(errs, d.reader.Close())
		}
	}
	return errors.Join(errs...)
}

// Lookup says what the databases know of a. It reports false when they know
// nothing: for addresses that say nothing about where a client is (see
// IsPrivate, and any other address that is not global unicast) without
// asking the databases, and for addresses neither database holds.
func (db *DB) Lookup(a netip.Addr) (Info, bool) {
	if db == nil || !a.IsValid() {
		return Info{}, false
	}
	a = a.Unmap().WithZone("")
	if IsPrivate(a) || !a.IsGlobalUnicast() {
		return Info{}, false
	}
	s := db.cache.shard(a)
	if info, ok, hit := s.get(a); hit {
		return info, ok
	}
	info, ok := db.resolve(a)
	s.put(a, info, ok)
	return info, ok
}

// resolve asks the databases, bypassing the cache.
func (db *DB) resolve(a netip.Addr) (Info, bool) {
	var info Info
	if db.city != nil && db.city.holds(a) {
		var c cityRecord
		if err := db.city.reader.Lookup(a).Decode(&c); err != nil {
			// Verify passed at open, so this is not expected; count it
			// rather than fail an event over one address.
			db.errors.Add(1)
		} else {
			info.Country, info.City = c.Country, c.City
			if l := c.Location; l.HasCoordinates() && validLatLon(*l.Latitude, *l.Longitude) {
				info.Lat, info.Lon, info.HasLocation = *l.Latitude, *l.Longitude, true
				info.RadiusKm = int(l.AccuracyRadius)
			}
		}
	}
	if db.asn != nil && db.asn.holds(a) {
		var n geoip2.ASN
		if err := db.asn.reader.Lookup(a).Decode(&n); err != nil {
			db.errors.Add(1)
		} else {
			info.ASN, info.Org = n.AutonomousSystemNumber, n.AutonomousSystemOrganization
		}
	}
	ok := info.Country != "" || info.City != "" || info.HasLocation || info.ASN != 0 || info.Org != ""
	return info, ok
}

// cityRecord is the part of a City record graceguard reads. Decoding the
// whole geoip2.City by reflection (continent, three countries, subdivisions,
// each named in eight languages, postal code, traits) costs more than the
// rest of a lookup together, on every lookup that misses the cache; so the
// record is walked by hand, only the English city name and the country code
// are read, and the location goes through geoip2's generated decoder.
type cityRecord struct {
	City     string // English name
	Country  string // ISO code
	Location geoip2.Location
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *cityRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachKey(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "city":
			return eachKey(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
				if string(key) != "names" {
					return v.Skip()
				}
				return readKey(v, "en", &r.City)
			})
		case "country":
			return readKey(v, "iso_code", &r.Country)
		case "location":
			return r.Location.UnmarshalMaxMindDBCursor(v)
		}
		return v.Skip()
	})
}

// maxNameSize bounds a name or code read from a record, as geoip2's own
// models do, so a hostile database cannot make a lookup allocate much.
const maxNameSize = 1024

// readKey reads the string at key in the map at c into dst, skipping the
// rest of the map.
func readKey(c mmdbdata.Cursor, key string, dst *string) (mmdbdata.Cursor, error) {
	return eachKey(c, func(k []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(k) != key {
			return v.Skip()
		}
		s, next, err := v.ReadStringMaxSize(maxNameSize)
		*dst = s
		return next, mmdbdata.NormalizeUnmarshalError[string](err)
	})
}

// eachKey calls f for each entry of the map at c; f consumes the value and
// returns the cursor after it. It returns the cursor after the map.
func eachKey(c mmdbdata.Cursor, f func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	entries, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[map[string]any](err)
	}
	next := entries.First()
	for range entries.Len() {
		key, value, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		if next, err = f(key, value); err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("decoding %s: %w", key, err)
		}
	}
	return entries.End(next)
}

// holds reports whether the database can hold a at all: an IPv4-only
// database cannot hold an IPv6 address, and the reader treats asking as an
// error.
func (d *database) holds(a netip.Addr) bool {
	return a.Is4() || d.reader.Metadata.IPVersion != 4
}

// validLatLon refuses coordinates no place has (and NaN, which fails every
// comparison): a database can be structurally sound and still say nonsense,
// and a NaN distance would poison every speed computed from it.
func validLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// cgnat is carrier-grade NAT space (RFC 6598): shared by many customers of
// one carrier, so it says nothing about where a client is.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsPrivate reports whether a is private (RFC 1918, IPv6 unique local),
// loopback, link-local, carrier-grade NAT (100.64.0.0/10) or unspecified:
// addresses that say nothing about where a client is, so they have no geo.
// It is the definition behind the rules' is_private helper; IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry.
func IsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || cgnat.Contains(a)
}
