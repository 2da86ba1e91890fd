package geo

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds Open arbitrary files: it must refuse or accept them, never
// panic, and a database it accepts must answer lookups without panicking.
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
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.mmdb")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, paths := range [][2]string{{path, ""}, {"", path}} {
			db, err := Open(paths[0], paths[1])
			if err != nil {
				continue
			}
			for _, a := range probes {
				db.Lookup(a)
			}
			db.Close()
		}
	})
}
