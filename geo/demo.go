package geo

import (
	"fmt"

	"github.com/graceguard/graceguard/geo/testdb"
)

// Demo opens the demo databases, built in memory from testdb's layout: the
// documentation address ranges placed in real cities on several continents.
// The demo, the simulator's story and rule tests use them, so a newcomer sees
// a geo jump with nothing to download, also from an installed binary that
// has no testdata directory.
func Demo() (*DB, error) {
	city, err := testdb.City()
	if err != nil {
		return nil, fmt.Errorf("build the demo City database: %w", err)
	}
	asn, err := testdb.ASN()
	if err != nil {
		return nil, fmt.Errorf("build the demo ASN database: %w", err)
	}
	return OpenConfig(Config{City: "(demo city database)", CityData: city, ASN: "(demo ASN database)", ASNData: asn})
}
