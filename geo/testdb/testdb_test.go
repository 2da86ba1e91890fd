package testdb

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// The committed databases must be what the layout builds today: a change to
// the layout without go generate (or a writer upgrade that changes the
// bytes) fails here instead of silently testing stale data.
func TestCommittedDatabasesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{CityFile, ASNFile} {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", "..", "testdata", "geoip", name))
		if err != nil {
			t.Fatalf("%v (run go generate ./geo)", err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("testdata/geoip/%s differs from a fresh build (%d bytes, committed %d): run go generate ./geo", name, len(fresh), len(committed))
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	for name, build := range map[string]func() ([]byte, error){"City": City, "ASN": ASN} {
		a, err := build()
		if err != nil {
			t.Fatal(err)
		}
		b, err := build()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", name)
		}
	}
}

// documentation is where the layout may place ranges: documentation space
// only, so the databases can never be mistaken for real ones.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

func TestLayoutIsSound(t *testing.T) {
	for i, n := range Layout {
		inDoc := false
		for _, d := range documentation {
			inDoc = inDoc || (d.Contains(n.Prefix.Addr()) && n.Prefix.Bits() >= d.Bits())
		}
		if !inDoc || n.Prefix != n.Prefix.Masked() {
			t.Errorf("%s: want a masked prefix inside documentation space", n.Prefix)
		}
		for _, m := range Layout[:i] {
			if n.Prefix.Overlaps(m.Prefix) {
				t.Errorf("%s overlaps %s", n.Prefix, m.Prefix)
			}
		}
		if n.City == "" && n.ASN == 0 {
			t.Errorf("%s: in neither database; leave it out of the layout", n.Prefix)
		}
		if n.City != "" && (n.Country == "" || n.CountryName == "" || continentNames[n.Continent] == "" ||
			n.RadiusKm == 0 || n.Lat < -90 || n.Lat > 90 || n.Lon < -180 || n.Lon > 180 || n.TimeZone == "") {
			t.Errorf("%s: incomplete City record %+v", n.Prefix, n)
		}
		// RFC 5398's documentation AS numbers.
		if n.ASN != 0 && !(n.ASN >= 64496 && n.ASN <= 64511 || n.ASN >= 65536 && n.ASN <= 65551) || (n.ASN != 0) != (n.Org != "") {
			t.Errorf("%s: AS%d %q: want a documentation AS number with an organisation", n.Prefix, n.ASN, n.Org)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(b.Bytes(), []byte("\n"))
	if lines != len(Layout)+2 || !bytes.Contains(b.Bytes(), []byte("| `192.0.2.64/27` | Sydney | AU |")) {
		t.Errorf("table:\n%s", b.String())
	}
}
