//go:build !nogeoipdemo

package geo

import (
	"fmt"

	"github.com/graceguard/graceguard/geo/testdb"
)

func demo() (*DB, error) {
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
