package geo

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOpen feeds Open arbitrary files: it must refuse them naming the file,
// or accept them, never panic; a database it accepts must answer lookups
// with what its kind holds (no ASN from a City database, no place from an
// ASN database, valid coordinates), the same again from its cache.
func FuzzOpen(f *testing.F) {
	for _, path := range []string{cityDB, asnDB} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{0, 1, 16, len(data) / 3, len(data) / 2, len(data) - 200, len(data) - 1} {
			f.Add(data[:n])
		}
		f.Add(data[len(data)/2:])
	}
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Add([]byte("not a database\n"))
	probes := []netip.Addr{
		netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("198.51.100.23"),
		netip.MustParseAddr("2001:db8:ffff::66"), netip.MustParseAddr("8.8.8.8"),
	}
	private := netip.MustParseAddr("10.1.2.3")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.mmdb")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, paths := range [][2]string{{path, ""}, {"", path}} {
			city := paths[0] != ""
			db, err := Open(paths[0], paths[1])
			if err != nil {
				// Every error names the file, as the kind of database.
				want := "GeoIP ASN database " + path + ": "
				if city {
					want = "GeoIP City database " + path + ": "
				}
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error does not name the file: %v", err)
				}
				continue
			}
			if info, ok := db.Lookup(private); ok {
				t.Fatalf("private address %v looked up as %+v", private, info)
			}
			for _, a := range probes {
				info, ok := db.Lookup(a)
				// A City database names places, an ASN database networks;
				// neither says what it was not asked, nor a place no
				// place has, nor a name past the cap.
				if city && (info.ASN != 0 || info.Org != "") || !city && (info.Country != "" || info.City != "" || info.HasLocation) ||
					info.HasLocation && !validLatLon(info.Lat, info.Lon) || !info.HasLocation && (info.Lat != 0 || info.Lon != 0) ||
					len(info.Country) > maxNameSize || len(info.City) > maxNameSize || len(info.Org) > maxNameSize ||
					ok != (info != Info{}) {
					t.Fatalf("Lookup(%v) of a %s database = %+v, %v", a, paths, info, ok)
				}
				// The cache answers as the database did.
				if again, againOK := db.Lookup(a); again != info || againOK != ok {
					t.Fatalf("Lookup(%v) = %+v, %v, then %+v, %v", a, info, ok, again, againOK)
				}
			}
			db.Close()
		}
	})
}
