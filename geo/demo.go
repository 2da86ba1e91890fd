package geo

import "errors"

// ErrNoDemo is what Demo returns from a binary built with the nogeoipdemo
// tag. Container images leave the demo databases out by default: they place
// documentation addresses in invented networks, which is no use against real
// traffic, and what a production image does not need it should not carry.
// Callers say so and go on without places rather than fail.
var ErrNoDemo = errors.New("this graceguard was built without the demo GeoIP databases (build tag nogeoipdemo): " +
	"name real ones with --geoip-city and --geoip-asn, or use a build that has them " +
	"(go build without -tags nogeoipdemo; docker build --build-arg GEOIP_DEMO=1)")

// Demo opens the demo databases, built in memory from testdb's layout: the
// documentation address ranges placed in real cities on several continents.
// The demo, the simulator's story and rule tests use them, so a newcomer sees
// a geo jump with nothing to download, also from an installed binary that
// has no testdata directory. Built with the nogeoipdemo tag, it returns
// ErrNoDemo.
func Demo() (*DB, error) { return demo() }
