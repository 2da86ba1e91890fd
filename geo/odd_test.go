package geo

import (
	"bytes"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// buildDB writes a small database with the given type and records, for the
// odd databases the committed ones do not cover.
func buildDB(t *testing.T, dbType string, ipVersion int, records map[string]mmdbtype.DataType) []byte {
	t.Helper()
	return buildDBWith(t, mmdbwriter.Options{
		DatabaseType: dbType, IPVersion: ipVersion, RecordSize: 24, IncludeReservedNetworks: true,
		Description: map[string]string{"en": "test"},
	}, records)
}

func buildDBWith(t *testing.T, opts mmdbwriter.Options, records map[string]mmdbtype.DataType) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func located(lat, lon float64, radius uint16) mmdbtype.Map {
	return mmdbtype.Map{
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("XX")},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon), "accuracy_radius": mmdbtype.Uint16(radius)},
	}
}

// TestOddDatabases: records a sound database can still hold, and how each
// reads. None may fail a lookup or invent a place.
func TestOddDatabases(t *testing.T) {
	city := buildDB(t, "DBIP-City-Lite", 4, map[string]mmdbtype.DataType{
		"192.0.2.0/28":  located(-33.8688, 151.2093, 0), // DB-IP gives no accuracy radius
		"192.0.2.16/28": located(200, 10, 20),           // no such latitude
		"192.0.2.32/28": located(math.NaN(), 10, 20),
		"192.0.2.48/28": mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("JP")}}, // country only
		"192.0.2.64/28": mmdbtype.String("not a map"),
		"192.0.2.80/28": mmdbtype.Map{"location": mmdbtype.Map{"latitude": mmdbtype.String("north")}},
	})
	db := openTest(t, Config{City: "odd-city.mmdb", CityData: city})
	tests := []struct {
		ip     string
		want   Info
		wantOK bool
	}{
		{"192.0.2.1", Info{Country: "XX", Lat: -33.8688, Lon: 151.2093, HasLocation: true}, true},
		{"192.0.2.17", Info{Country: "XX"}, true},
		{"192.0.2.33", Info{Country: "XX"}, true},
		{"192.0.2.49", Info{Country: "JP"}, true},
		{"192.0.2.65", Info{}, false},
		{"192.0.2.81", Info{}, false},
		{"2001:db8::1", Info{}, false}, // an IPv4-only database holds no IPv6 address
	}
	for _, tt := range tests {
		got, ok := db.Lookup(netip.MustParseAddr(tt.ip))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tt.ip, got, ok, tt.want, tt.wantOK)
		}
	}
	// The two records of the wrong shape are counted, not fatal; asking an
	// IPv4 database about IPv6 is not an error at all.
	if st := db.Stats(); st.Errors != 2 {
		t.Errorf("Stats().Errors = %d, want 2", st.Errors)
	}
}

func TestOpenRefusesCountryDatabase(t *testing.T) {
	country := buildDB(t, "GeoLite2-Country", 6, map[string]mmdbtype.DataType{
		"192.0.2.0/24": mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("AU")}},
	})
	_, err := OpenConfig(Config{City: "GeoLite2-Country.mmdb", CityData: country})
	if err == nil || !strings.Contains(err.Error(), `GeoLite2-Country.mmdb: it is a "GeoLite2-Country" database, not a City database`) {
		t.Errorf("Country database as City: %v", err)
	}
}

func TestOpenAcceptsISPDatabase(t *testing.T) {
	isp := buildDB(t, "GeoIP2-ISP", 6, map[string]mmdbtype.DataType{
		"192.0.2.0/24": mmdbtype.Map{
			"autonomous_system_number": mmdbtype.Uint32(64496), "autonomous_system_organization": mmdbtype.String("Example ISP"),
			"isp": mmdbtype.String("Example ISP"), "organization": mmdbtype.String("Example Org"),
		},
	})
	db := openTest(t, Config{ASN: "isp.mmdb", ASNData: isp})
	if got, ok := db.Lookup(netip.MustParseAddr("192.0.2.9")); !ok || got.ASN != 64496 || got.Org != "Example ISP" {
		t.Errorf("ISP database: %+v, %v", got, ok)
	}
}

func TestOpenRefusesDatabaseWithoutDescription(t *testing.T) {
	data := buildDBWith(t, mmdbwriter.Options{DatabaseType: "My-City", IncludeReservedNetworks: true},
		map[string]mmdbtype.DataType{"192.0.2.0/24": located(1, 2, 3)})
	_, err := OpenConfig(Config{City: "my.mmdb", CityData: data})
	if err == nil || !strings.Contains(err.Error(), "my.mmdb: its metadata has no description") {
		t.Errorf("no description: %v", err)
	}
}

// TestOpenRefusesRecordsOfAnotherKind: a database's type name is matched
// by a word, so a vendor's own layout under a name with that word in it
// passes the name check. IPinfo's legacy country_asn database declares
// "ipinfo country_asn.mmdb" and holds flat records ("asn": "AS64496"), not
// MaxMind's autonomous_system_number: accepted as the ASN database, every
// lookup came back empty and no ASN rule could ever fire, with nothing said.
// Such a file is refused at start, naming it; a database with some records
// of the right kind, or none at all, is not.
func TestOpenRefusesRecordsOfAnotherKind(t *testing.T) {
	t.Parallel()
	ipinfo := mmdbtype.Map{
		"asn": mmdbtype.String("AS64496"), "as_name": mmdbtype.String("Example Networks"), "as_domain": mmdbtype.String("example.net"),
		"country": mmdbtype.String("GB"), "country_name": mmdbtype.String("United Kingdom"),
		"continent": mmdbtype.String("EU"), "continent_name": mmdbtype.String("Europe"),
	}
	asnRecord := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64496), "autonomous_system_organization": mmdbtype.String("Example")}
	tests := []struct {
		name, kind, dbType string
		records            map[string]mmdbtype.DataType
		wantErr            string // "" opens
	}{
		{"IPinfo country_asn as ASN", kindASN, "ipinfo country_asn.mmdb",
			map[string]mmdbtype.DataType{"192.0.2.0/24": ipinfo, "198.51.100.0/24": ipinfo},
			`records.mmdb: it declares "ipinfo country_asn.mmdb", but none of its 2 records holds an ASN (autonomous_system_number or autonomous_system_organization)`},
		{"ASN records under a City name", kindCity, "Home-Made-City",
			map[string]mmdbtype.DataType{"192.0.2.0/24": asnRecord},
			`records.mmdb: it declares "Home-Made-City", but none of its 1 records holds a place (country.iso_code, city.names.en or location)`},
		{"a City record among empty ones", kindCity, "Home-Made-City",
			map[string]mmdbtype.DataType{"192.0.2.0/26": mmdbtype.Map{}, "192.0.2.64/26": mmdbtype.Map{"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
				"203.0.113.0/24": located(52.52, 13.405, 10)}, ""},
		{"ASN records with an ISP's extra fields", kindASN, "GeoIP2-ISP",
			map[string]mmdbtype.DataType{"192.0.2.0/25": mmdbtype.Map{"isp": mmdbtype.String("Example ISP")}, "192.0.2.128/25": asnRecord}, ""},
		{"no records at all", kindASN, "GeoLite2-ASN", map[string]mmdbtype.DataType{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{City: "records.mmdb", CityData: buildDB(t, tt.dbType, 6, tt.records)}
			if tt.kind == kindASN {
				cfg = Config{ASN: "records.mmdb", ASNData: cfg.CityData}
			}
			db, err := OpenConfig(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr == "":
				db.Close()
			case err == nil:
				db.Close()
				t.Fatalf("opened, want %q", tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want %q", err, tt.wantErr)
			}
		})
	}
}
