// Package testdb builds graceguard's test and demo GeoIP databases: a City
// and an ASN database in MaxMind DB format that place documentation address
// ranges (RFC 5737, RFC 3849) and documentation AS numbers (RFC 5398) in
// real cities, so tests and the demo see geo jumps without downloading
// anything. The places are invented; no real network is described.
//
// The output is deterministic (fixed build time, sorted keys), so the files
// committed under testdata/geoip can be checked byte for byte against a
// fresh build. It must stay free of graceguard's own packages: it describes
// a world, it does not judge it.
package testdb

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// The file names under testdata/geoip and the types the databases declare.
const (
	CityFile = "graceguard-test-city.mmdb"
	ASNFile  = "graceguard-test-asn.mmdb"
	CityType = "GraceGuard-Test-City"
	ASNType  = "GraceGuard-Test-ASN"
)

// BuildTime is the build time both databases declare: fixed, so a rebuild
// gives the same bytes.
var BuildTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Network is one range of the layout. A range with no City is left out of
// the City database and one with no ASN out of the ASN database, so the
// layout also holds ranges only one database knows.
type Network struct {
	Prefix      netip.Prefix
	City        string // English name; "" for no City record
	Country     string // ISO 3166-1 alpha-2
	CountryName string
	Continent   string // continent code: AF, AS, EU, NA, OC, SA
	Lat, Lon    float64
	RadiusKm    uint16 // accuracy radius, as MaxMind grades them
	TimeZone    string
	ASN         uint32 // 0 for no ASN record
	Org         string
	Story       string // who uses the range in the sample logs
}

// Layout is every mapped range, in address order. What it leaves out of
// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32 is mapped
// in neither database.
//
// The sample logs' story: users live in Europe and North America
// (198.51.100.0/24, the office in 203.0.113.0/24, IPv6 users in
// 2001:db8:1::/48 and 2001:db8:85a3::/48); every replay comes from another
// continent (192.0.2.0/24, 2001:db8:ffff::/48), thousands of kilometres
// beyond both accuracy radii a few seconds after the refresh it replays.
var Layout = []Network{
	{Prefix: pfx("192.0.2.0/26"), City: "Tokyo", Country: "JP", CountryName: "Japan", Continent: "AS",
		Lat: 35.6895, Lon: 139.6917, RadiusKm: 50, TimeZone: "Asia/Tokyo",
		ASN: 64510, Org: "Example Mobile JP"},
	{Prefix: pfx("192.0.2.64/27"), City: "Sydney", Country: "AU", CountryName: "Australia", Continent: "OC",
		Lat: -33.8688, Lon: 151.2093, RadiusKm: 100, TimeZone: "Australia/Sydney",
		ASN: 65537, Org: "Example Cloud AU", Story: "192.0.2.66 replays jjackson's token"},
	{Prefix: pfx("192.0.2.96/27"), City: "São Paulo", Country: "BR", CountryName: "Brazil", Continent: "SA",
		Lat: -23.5505, Lon: -46.6333, RadiusKm: 100, TimeZone: "America/Sao_Paulo",
		ASN: 65538, Org: "Example Telecom BR", Story: "192.0.2.99 replays kwatson's token"},
	{Prefix: pfx("192.0.2.128/26"), City: "Johannesburg", Country: "ZA", CountryName: "South Africa", Continent: "AF",
		Lat: -26.2041, Lon: 28.0473, RadiusKm: 200, TimeZone: "Africa/Johannesburg",
		Story: "City record, no ASN record"},
	{Prefix: pfx("198.51.100.0/27"), City: "London", Country: "GB", CountryName: "United Kingdom", Continent: "EU",
		Lat: 51.5074, Lon: -0.1278, RadiusKm: 20, TimeZone: "Europe/London",
		ASN: 64501, Org: "Example Broadband UK", Story: "198.51.100.23 jjackson at home"},
	{Prefix: pfx("198.51.100.32/27"), City: "Paris", Country: "FR", CountryName: "France", Continent: "EU",
		Lat: 48.8566, Lon: 2.3522, RadiusKm: 50, TimeZone: "Europe/Paris",
		ASN: 64502, Org: "Example Telecom FR", Story: "198.51.100.40 kwatson at home"},
	{Prefix: pfx("198.51.100.64/26"), City: "Potsdam", Country: "DE", CountryName: "Germany", Continent: "EU",
		Lat: 52.3906, Lon: 13.0645, RadiusKm: 20, TimeZone: "Europe/Berlin",
		ASN: 64503, Org: "Example Kabel DE", Story: "198.51.100.77 Alice Smith at home, 27 km from the office"},
	{Prefix: pfx("198.51.100.128/26"), City: "New York", Country: "US", CountryName: "United States", Continent: "NA",
		Lat: 40.7128, Lon: -74.0060, RadiusKm: 50, TimeZone: "America/New_York",
		ASN: 64504, Org: "Example Cable US"},
	{Prefix: pfx("203.0.113.0/26"), City: "Berlin", Country: "DE", CountryName: "Germany", Continent: "EU",
		Lat: 52.5200, Lon: 13.4050, RadiusKm: 10, TimeZone: "Europe/Berlin",
		ASN: 64500, Org: "Example Corp", Story: "the office: 203.0.113.7 mmosley, 203.0.113.50 Alice Smith"},
	{Prefix: pfx("203.0.113.64/27"), City: "Amsterdam", Country: "NL", CountryName: "Netherlands", Continent: "EU",
		Lat: 52.3676, Lon: 4.9041, RadiusKm: 5, TimeZone: "Europe/Amsterdam",
		ASN: 64505, Org: "Example Hosting NL", Story: "203.0.113.80 the on-call jump host"},
	{Prefix: pfx("203.0.113.96/27"),
		ASN: 64506, Org: "Example Transit", Story: "ASN record, no City record: 203.0.113.99 a probe"},
	{Prefix: pfx("2001:db8:1::/48"), City: "London", Country: "GB", CountryName: "United Kingdom", Continent: "EU",
		Lat: 51.5074, Lon: -0.1278, RadiusKm: 20, TimeZone: "Europe/London",
		ASN: 64501, Org: "Example Broadband UK", Story: "the London ISP over IPv6"},
	{Prefix: pfx("2001:db8:85a3::/48"), City: "Toronto", Country: "CA", CountryName: "Canada", Continent: "NA",
		Lat: 43.6532, Lon: -79.3832, RadiusKm: 20, TimeZone: "America/Toronto",
		ASN: 64507, Org: "Example Fibre CA", Story: "2001:db8:85a3::8a2e:370:7334 v6user"},
	{Prefix: pfx("2001:db8:ffff::/48"), City: "Singapore", Country: "SG", CountryName: "Singapore", Continent: "AS",
		Lat: 1.3521, Lon: 103.8198, RadiusKm: 50, TimeZone: "Asia/Singapore",
		ASN: 65539, Org: "Example Cloud SG", Story: "2001:db8:ffff::66 replays v6user's token"},
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var continentNames = map[string]string{
	"AF": "Africa", "AS": "Asia", "EU": "Europe", "NA": "North America", "OC": "Oceania", "SA": "South America",
}

// City builds the City database: records shaped as GeoLite2-City's (English
// names only), so any reader of that layout reads it.
func City() ([]byte, error) {
	return build(CityType, "graceguard test City database: documentation address ranges placed in real cities; not real data",
		func(n Network) mmdbtype.DataType {
			if n.City == "" {
				return nil
			}
			country := mmdbtype.Map{"iso_code": mmdbtype.String(n.Country), "names": en(n.CountryName)}
			return mmdbtype.Map{
				"city":      mmdbtype.Map{"names": en(n.City)},
				"continent": mmdbtype.Map{"code": mmdbtype.String(n.Continent), "names": en(continentNames[n.Continent])},
				"country":   country,
				"location": mmdbtype.Map{
					"accuracy_radius": mmdbtype.Uint16(n.RadiusKm),
					"latitude":        mmdbtype.Float64(n.Lat),
					"longitude":       mmdbtype.Float64(n.Lon),
					"time_zone":       mmdbtype.String(n.TimeZone),
				},
				"registered_country": country,
			}
		})
}

// ASN builds the ASN database, shaped as GeoLite2-ASN's.
func ASN() ([]byte, error) {
	return build(ASNType, "graceguard test ASN database: documentation address ranges and AS numbers; not real data",
		func(n Network) mmdbtype.DataType {
			if n.ASN == 0 {
				return nil
			}
			return mmdbtype.Map{
				"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
				"autonomous_system_organization": mmdbtype.String(n.Org),
			}
		})
}

func en(name string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(name)} }

func build(dbType, description string, record func(Network) mmdbtype.DataType) ([]byte, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:   BuildTime.Unix(),
		DatabaseType: dbType,
		Description:  map[string]string{"en": description},
		Languages:    []string{"en"},
		// Documentation ranges are reserved; the writer refuses them
		// unless told otherwise.
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              24,
	})
	if err != nil {
		return nil, err
	}
	for _, n := range Layout {
		v := record(n)
		if v == nil {
			continue
		}
		ipnet := &net.IPNet{IP: n.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(n.Prefix.Bits(), n.Prefix.Addr().BitLen())}
		if err := tree.Insert(ipnet, v); err != nil {
			return nil, fmt.Errorf("%s %s: %w", dbType, n.Prefix, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("%s: %w", dbType, err)
	}
	return buf.Bytes(), nil
}

// WriteFiles builds both databases into dir as CityFile and ASNFile.
func WriteFiles(dir string) error {
	for _, f := range []struct {
		name  string
		build func() ([]byte, error)
	}{{CityFile, City}, {ASNFile, ASN}} {
		data, err := f.build()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes the layout as a Markdown table for the README.
func WriteTable(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString("| range | city | country | lat, lon | radius | ASN | org | in the sample logs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, n := range Layout {
		city, country, place, radius, asn, org := "-", "-", "-", "-", "-", "-"
		if n.City != "" {
			city, country = n.City, n.Country
			place = fmt.Sprintf("%.4f, %.4f", n.Lat, n.Lon)
			radius = fmt.Sprintf("%d km", n.RadiusKm)
		}
		if n.ASN != 0 {
			asn, org = fmt.Sprintf("AS%d", n.ASN), n.Org
		}
		story := n.Story
		if story == "" {
			story = "-"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", n.Prefix, city, country, place, radius, asn, org, story)
	}
	_, err := w.Write(b.Bytes())
	return err
}
