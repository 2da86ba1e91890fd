package geo

import (
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The generated databases (see testdb); tests never read anything outside
// the repository.
const (
	cityDB = "../testdata/geoip/graceguard-test-city.mmdb"
	asnDB  = "../testdata/geoip/graceguard-test-asn.mmdb"
)

func openTest(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := OpenConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLookup(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB})
	london := Info{Country: "GB", City: "London", Lat: 51.5074, Lon: -0.1278, RadiusKm: 20, ASN: 64501, Org: "Example Broadband UK", HasLocation: true}
	tests := []struct {
		ip     string
		want   Info
		wantOK bool
	}{
		{"198.51.100.23", london, true},
		{"::ffff:198.51.100.23", london, true}, // IPv4-mapped is the IPv4 address
		{"2001:db8:1::42", london, true},
		{"192.0.2.66", Info{Country: "AU", City: "Sydney", Lat: -33.8688, Lon: 151.2093, RadiusKm: 100, ASN: 65537, Org: "Example Cloud AU", HasLocation: true}, true},
		{"192.0.2.99", Info{Country: "BR", City: "São Paulo", Lat: -23.5505, Lon: -46.6333, RadiusKm: 100, ASN: 65538, Org: "Example Telecom BR", HasLocation: true}, true},
		{"203.0.113.7", Info{Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, RadiusKm: 10, ASN: 64500, Org: "Example Corp", HasLocation: true}, true},
		{"203.0.113.63", Info{Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, RadiusKm: 10, ASN: 64500, Org: "Example Corp", HasLocation: true}, true},
		{"198.51.100.77", Info{Country: "DE", City: "Potsdam", Lat: 52.3906, Lon: 13.0645, RadiusKm: 20, ASN: 64503, Org: "Example Kabel DE", HasLocation: true}, true},
		{"2001:db8:85a3::8a2e:370:7334", Info{Country: "CA", City: "Toronto", Lat: 43.6532, Lon: -79.3832, RadiusKm: 20, ASN: 64507, Org: "Example Fibre CA", HasLocation: true}, true},
		{"2001:db8:ffff::66", Info{Country: "SG", City: "Singapore", Lat: 1.3521, Lon: 103.8198, RadiusKm: 50, ASN: 65539, Org: "Example Cloud SG", HasLocation: true}, true},
		// Only the ASN database knows it: no location, so no travel.
		{"203.0.113.99", Info{ASN: 64506, Org: "Example Transit"}, true},
		// Only the City database knows it.
		{"192.0.2.130", Info{Country: "ZA", City: "Johannesburg", Lat: -26.2041, Lon: 28.0473, RadiusKm: 200, HasLocation: true}, true},
		// Unmapped ranges.
		{"203.0.113.128", Info{}, false},
		{"198.51.100.200", Info{}, false},
		{"2001:db8:2::1", Info{}, false},
		{"8.8.8.8", Info{}, false},
		// Never asked: they say nothing about where a client is.
		{"10.1.2.3", Info{}, false},
		{"127.0.0.1", Info{}, false},
		{"100.64.0.1", Info{}, false},
		{"::", Info{}, false},
		{"224.0.0.251", Info{}, false},
		{"255.255.255.255", Info{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			// Twice: the cached answer must be the database's answer.
			for range 2 {
				got, ok := db.Lookup(netip.MustParseAddr(tt.ip))
				if got != tt.want || ok != tt.wantOK {
					t.Fatalf("Lookup(%s) = %+v, %v; want %+v, %v", tt.ip, got, ok, tt.want, tt.wantOK)
				}
			}
		})
	}
}

func TestLookupOneDatabase(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.66")
	city := openTest(t, Config{City: cityDB})
	if got, ok := city.Lookup(ip); !ok || got.City != "Sydney" || got.ASN != 0 || got.Org != "" {
		t.Errorf("City only: %+v, %v", got, ok)
	}
	asn := openTest(t, Config{ASN: asnDB})
	if got, ok := asn.Lookup(ip); !ok || got.ASN != 65537 || got.City != "" || got.HasLocation {
		t.Errorf("ASN only: %+v, %v", got, ok)
	}
	if got, ok := asn.Lookup(netip.MustParseAddr("192.0.2.130")); ok {
		t.Errorf("ASN only, a range with only a City record: %+v, want nothing", got)
	}
}

func TestNilDBKnowsNothing(t *testing.T) {
	var db *DB
	if info, ok := db.Lookup(netip.MustParseAddr("192.0.2.66")); ok || info != (Info{}) {
		t.Errorf("nil DB: %+v, %v", info, ok)
	}
	if db.Stats() != (Stats{}) || db.Sources() != nil || db.Close() != nil {
		t.Error("nil DB: want zero Stats, no Sources, nil Close")
	}
}

func TestLookupInvalidAndZonedAddresses(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB})
	if _, ok := db.Lookup(netip.Addr{}); ok {
		t.Error("zero Addr found")
	}
	zoned := netip.MustParseAddr("2001:db8:85a3::1%eth0")
	if got, ok := db.Lookup(zoned); !ok || got.City != "Toronto" {
		t.Errorf("zoned address: %+v, %v", got, ok)
	}
}

func TestIsPrivate(t *testing.T) {
	tests := map[string]bool{
		"10.0.0.1": true, "172.16.5.4": true, "172.31.255.255": true, "192.168.1.1": true,
		"127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"169.254.169.254": true, "fe80::1": true, "ff02::1": true, "224.0.0.1": true,
		"100.64.0.0": true, "100.127.255.255": true, "0.0.0.0": true, "::": true,
		"fc00::1": true, "fd12:3456::1": true, "::ffff:10.0.0.1": true, "::ffff:100.64.1.1": true,
		// Global, or documentation space the test databases map.
		"100.63.255.255": false, "100.128.0.0": false, "172.32.0.1": false, "8.8.8.8": false,
		"192.0.2.66": false, "2001:db8::1": false, "2606:4700::1111": false,
	}
	for ip, want := range tests {
		if got := IsPrivate(netip.MustParseAddr(ip)); got != want {
			t.Errorf("IsPrivate(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestSources(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB})
	src := db.Sources()
	if len(src) != 2 || src[0].Kind != "city" || src[0].Type != "GraceGuard-Test-City" || src[0].Path != cityDB ||
		src[1].Kind != "asn" || src[1].Type != "GraceGuard-Test-ASN" || src[0].Built.Year() != 2026 {
		t.Errorf("Sources() = %+v", src)
	}
}

func TestOpenBytes(t *testing.T) {
	data, err := os.ReadFile(cityDB)
	if err != nil {
		t.Fatal(err)
	}
	db := openTest(t, Config{CityData: data})
	if got, ok := db.Lookup(netip.MustParseAddr("198.51.100.40")); !ok || got.City != "Paris" {
		t.Errorf("from bytes: %+v, %v", got, ok)
	}
	_, err = OpenConfig(Config{CityData: data[:len(data)/2]})
	if err == nil || !strings.Contains(err.Error(), "GeoIP City database (built-in): ") {
		t.Errorf("damaged bytes: %v, want an error naming the built-in database", err)
	}
}

// TestOpenRefuses checks every way a database can be bad is refused at open,
// naming the file and saying what is wrong.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	city, err := os.ReadFile(cityDB)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), city...)
	// The first node of the search tree: its records now point outside
	// the tree and the data section.
	for i := range 6 {
		flipped[i] = 0xff
	}
	// A record's control byte in the data section: "Sydney" is a 6-byte
	// string (0x46) and now claims to be a map of 30 entries (0xfe).
	badRecord := append([]byte(nil), city...)
	at := bytes.Index(badRecord, []byte("Sydney"))
	if at < 1 || badRecord[at-1] != 0x46 {
		t.Fatalf("no Sydney string in %s", cityDB)
	}
	badRecord[at-1] = 0xfe
	meta := bytes.LastIndex(city, []byte("\xab\xcd\xefMaxMind.com"))
	cutData := append(append([]byte(nil), city[:meta-200]...), city[meta:]...)
	noRead := write("noread.mmdb", city)
	if err := os.Chmod(noRead, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		city     string
		asn      string
		path     string // the file the error must name
		wantText string
		wantIs   error
	}{
		{"missing", filepath.Join(dir, "nope.mmdb"), "", "nope.mmdb", "no such file", fs.ErrNotExist},
		{"directory", dir, "", dir, "is a directory", nil},
		{"empty", write("empty.mmdb", nil), "", "empty.mmdb", "empty", nil},
		{"text file", write("notes.txt", []byte("this is not a database\n")), "", "notes.txt", "not a MaxMind DB file", nil},
		{"truncated to 100 bytes", write("t100.mmdb", city[:100]), "", "t100.mmdb", "not a MaxMind DB file", nil},
		{"truncated before the metadata", write("thalf.mmdb", city[:len(city)-300]), "", "thalf.mmdb", "not a MaxMind DB file", nil},
		{"truncated in the tree", write("ttree.mmdb", city[200:]), "", "ttree.mmdb", "damaged database", nil},
		{"search tree overwritten", write("flipped.mmdb", flipped), "", "flipped.mmdb", "damaged database", nil},
		{"a record damaged", write("record.mmdb", badRecord), "", "record.mmdb", "damaged database", nil},
		{"data section cut short", write("cutdata.mmdb", cutData), "", "cutdata.mmdb", "damaged database", nil},
		{"ASN database as City", asnDB, "", asnDB, `"GraceGuard-Test-ASN" database, not a City database`, nil},
		{"City database as ASN", "", cityDB, cityDB, `"GraceGuard-Test-City" database, not an ASN database`, nil},
		{"good City, bad ASN", cityDB, write("bad-asn.mmdb", []byte("x")), "bad-asn.mmdb", "GeoIP ASN database", nil},
		{"device", "/dev/null", "", "/dev/null", "not a regular file", nil},
	}
	if os.Geteuid() != 0 { // root reads anything
		tests = append(tests, struct {
			name, city, asn, path, wantText string
			wantIs                          error
		}{"unreadable", noRead, "", "noread.mmdb", "permission denied", fs.ErrPermission})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(tt.city, tt.asn)
			if err == nil {
				db.Close()
				t.Fatal("opened; want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.path) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q: want it to name %s and say %q", msg, tt.path, tt.wantText)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", msg, tt.wantIs)
			}
		})
	}
}

func TestOpenNothing(t *testing.T) {
	if _, err := Open("", ""); !errors.Is(err, ErrNoDatabase) {
		t.Errorf("Open(\"\", \"\") = %v, want ErrNoDatabase", err)
	}
	if _, err := OpenConfig(Config{City: cityDB, CacheSize: -1}); err == nil {
		t.Error("negative cache size accepted")
	}
}

func TestDeclares(t *testing.T) {
	tests := []struct {
		typ       string
		city, asn bool
	}{
		{"GeoLite2-City", true, false},
		{"GeoIP2-City", true, false},
		{"GeoIP2-City-Europe", true, false},
		{"GeoIP2-Precision-City", true, false},
		{"DBIP-City-Lite", true, false},
		{"DBIP-Location (compat=City)", true, false},
		{"GeoIP2-Enterprise", true, false},
		{"DBIP-ISP (compat=Enterprise)", true, false},
		{"GeoLite2-ASN", false, true},
		{"DBIP-ASN-Lite (compat=GeoLite2-ASN)", false, true},
		{"GeoIP2-ISP", false, true},
		{"GraceGuard-Test-City", true, false},
		{"GraceGuard-Test-ASN", false, true},
		{"GeoLite2-Country", false, false},
		{"GeoIP2-Anonymous-IP", false, false},
		{"GeoIP2-Connection-Type", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := declares(kindCity, tt.typ); got != tt.city {
			t.Errorf("%q as City: %v, want %v", tt.typ, got, tt.city)
		}
		if got := declares(kindASN, tt.typ); got != tt.asn {
			t.Errorf("%q as ASN: %v, want %v", tt.typ, got, tt.asn)
		}
	}
}

func TestValidLatLon(t *testing.T) {
	nan := func() float64 { var z float64; return z / z }()
	tests := []struct {
		lat, lon float64
		want     bool
	}{
		{0, 0, true}, {90, 180, true}, {-90, -180, true}, {51.5, -0.12, true},
		{90.01, 0, false}, {0, -180.5, false}, {nan, 0, false}, {0, nan, false},
	}
	for _, tt := range tests {
		if got := validLatLon(tt.lat, tt.lon); got != tt.want {
			t.Errorf("validLatLon(%v, %v) = %v", tt.lat, tt.lon, got)
		}
	}
}

func TestCacheStats(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB, CacheSize: 4})
	for _, ip := range []string{"192.0.2.66", "192.0.2.66", "198.51.100.23", "10.0.0.1", "203.0.113.200", "203.0.113.200"} {
		db.Lookup(netip.MustParseAddr(ip))
	}
	// The private address is never looked up; the unmapped one is
	// remembered like any other.
	want := Stats{Hits: 2, Misses: 3, Entries: 3, Capacity: 4}
	if got := db.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// TestCacheEviction checks the CLOCK policy: at capacity, an address hit
// since the hand last passed survives and an unused one goes.
func TestCacheEviction(t *testing.T) {
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	c := newCache(3)
	s := c.shard(addr(0))
	for i := range 3 {
		s.put(addr(i), Info{ASN: uint(i)}, true)
	}
	s.get(addr(0)) // used: gets a second chance
	s.put(addr(3), Info{ASN: 3}, true)
	tests := []struct {
		i       int
		present bool
	}{{0, true}, {1, false}, {2, true}, {3, true}}
	for _, tt := range tests {
		info, _, hit := s.get(addr(tt.i))
		if hit != tt.present || (hit && info.ASN != uint(tt.i)) {
			t.Errorf("address %d: hit %v (ASN %d), want present %v", tt.i, hit, info.ASN, tt.present)
		}
	}
	if s.evictions != 1 || len(s.entries) != 3 || len(s.index) != 3 {
		t.Errorf("evictions %d, entries %d, index %d; want 1, 3, 3", s.evictions, len(s.entries), len(s.index))
	}
	// A put for an address already present changes nothing.
	s.put(addr(2), Info{ASN: 99}, true)
	if info, _, _ := s.get(addr(2)); info.ASN != 2 {
		t.Errorf("second put replaced the entry: ASN %d", info.ASN)
	}
}

// TestCacheBounded floods the cache with distinct addresses: it must never
// hold more than its capacity, and every answer must still be right.
func TestCacheBounded(t *testing.T) {
	const capacity = 2048 // sharded
	db := openTest(t, Config{City: cityDB, ASN: asnDB, CacheSize: capacity})
	for i := range 20000 {
		a := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if i%7 == 0 {
			a = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		}
		info, ok := db.Lookup(a)
		if wantOK := a.As4()[2] == 100 && a.As4()[3] < 192; ok != wantOK {
			t.Fatalf("Lookup(%s) = %+v, %v", a, info, ok)
		}
	}
	st := db.Stats()
	if st.Entries > st.Capacity || st.Capacity < capacity || st.Capacity > capacity+16 || st.Evictions == 0 {
		t.Errorf("Stats() = %+v: want at most %d entries and evictions", st, capacity)
	}
	if st.Hits+st.Misses != 20000 {
		t.Errorf("hits+misses = %d, want 20000", st.Hits+st.Misses)
	}
}

// TestConcurrentLookups is for the race detector: many goroutines share one
// DB with a cache small enough to evict all the time.
func TestConcurrentLookups(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB, CacheSize: 8})
	ips := []string{"198.51.100.23", "192.0.2.66", "203.0.113.7", "2001:db8:ffff::66", "203.0.113.99", "192.0.2.200", "198.51.100.77", "192.0.2.99", "203.0.113.80", "2001:db8:85a3::1"}
	want := make([]Info, len(ips))
	for i, ip := range ips {
		want[i], _ = db.resolve(netip.MustParseAddr(ip))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 500 {
				i := (g + n) % len(ips)
				if got, _ := db.Lookup(netip.MustParseAddr(ips[i])); got != want[i] {
					t.Errorf("Lookup(%s) = %+v, want %+v", ips[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	if st := db.Stats(); st.Hits+st.Misses != 4000 || st.Entries > 8 || st.Errors != 0 {
		t.Errorf("Stats() = %+v", st)
	}
}

// TestSampleLogStory checks the test databases tell the sample logs' story:
// every replay is a geo jump (over 900 km/h, beyond both accuracy radii) and
// a user moving between office and home in one metro area is not.
func TestSampleLogStory(t *testing.T) {
	db := openTest(t, Config{City: cityDB, ASN: asnDB})
	tests := []struct {
		who      string
		from, to string
		elapsed  time.Duration
		jump     bool
		newASN   bool
	}{
		{"jjackson's token replayed", "198.51.100.23", "192.0.2.66", 2401 * time.Millisecond, true, true},
		{"kwatson's token replayed", "198.51.100.40", "192.0.2.99", 1300 * time.Millisecond, true, true},
		{"v6user's token replayed", "2001:db8:85a3::8a2e:370:7334", "2001:db8:ffff::66", 3251 * time.Millisecond, true, true},
		{"Alice Smith goes home", "203.0.113.50", "198.51.100.77", time.Minute, false, true},
		{"mmosley's client-go race", "203.0.113.7", "203.0.113.7", 43 * time.Millisecond, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			from, ok1 := db.Lookup(netip.MustParseAddr(tt.from))
			to, ok2 := db.Lookup(netip.MustParseAddr(tt.to))
			trip, ok3 := Travel(from, to, tt.elapsed)
			if !ok1 || !ok2 || !ok3 {
				t.Fatalf("no travel from %+v to %+v", from, to)
			}
			jump := trip.SpeedKmh > 900 && trip.BeyondKm > 0
			if jump != tt.jump || (from.ASN != to.ASN) != tt.newASN {
				t.Errorf("%s (AS%d) → %s (AS%d): %+v; want jump %v, another network %v",
					from.City, from.ASN, to.City, to.ASN, trip, tt.jump, tt.newASN)
			}
		})
	}
}
