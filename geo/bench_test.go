package geo

import (
	"net/netip"
	"testing"
	"time"
)

// benchAddrs are mapped addresses: the sample log's, with City and ASN
// records both.
var benchAddrs = []netip.Addr{
	netip.MustParseAddr("198.51.100.23"), netip.MustParseAddr("192.0.2.66"),
	netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.77"),
	netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("2001:db8:85a3::8a2e:370:7334"),
	netip.MustParseAddr("2001:db8:ffff::66"), netip.MustParseAddr("203.0.113.80"),
}

// BenchmarkLookupCached: the addresses are remembered after the first pass.
func BenchmarkLookupCached(b *testing.B) {
	db := openTest(b, Config{City: cityDB, ASN: asnDB})
	for _, a := range benchAddrs {
		db.Lookup(a)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := db.Lookup(benchAddrs[i%len(benchAddrs)]); !ok {
			b.Fatal("not found")
		}
		i++
	}
}

// BenchmarkLookupCachedParallel: every core looking up at once.
func BenchmarkLookupCachedParallel(b *testing.B) {
	db := openTest(b, Config{City: cityDB, ASN: asnDB})
	for _, a := range benchAddrs {
		db.Lookup(a)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			db.Lookup(benchAddrs[i%len(benchAddrs)])
			i++
		}
	})
}

// BenchmarkLookupUncached: every lookup misses a full cache, asks both
// databases and evicts an entry, the whole cost of a new address.
func BenchmarkLookupUncached(b *testing.B) {
	db := openTest(b, Config{City: cityDB, ASN: asnDB, CacheSize: 1})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := db.Lookup(benchAddrs[i%len(benchAddrs)]); !ok {
			b.Fatal("not found")
		}
		i++
	}
	if st := db.Stats(); st.Hits != 0 {
		b.Fatalf("%d cache hits: not measuring uncached lookups", st.Hits)
	}
}

// BenchmarkLookupUnmapped: a miss on an address neither database holds.
func BenchmarkLookupUnmapped(b *testing.B) {
	db := openTest(b, Config{City: cityDB, ASN: asnDB, CacheSize: 1})
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.200"), netip.MustParseAddr("198.51.100.250")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.Lookup(addrs[i%2])
		i++
	}
}

func BenchmarkTravel(b *testing.B) {
	from, to := london, sydney
	b.ReportAllocs()
	for b.Loop() {
		Travel(from, to, 2400*time.Millisecond)
	}
}

func BenchmarkOpen(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		db, err := Open(cityDB, asnDB)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
