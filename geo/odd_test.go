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
