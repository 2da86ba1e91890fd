package correlate

import (
	"os"
	"testing"

	"github.com/graceguard/graceguard/internal/testparallel"
)

// The Redis tests wait: for a redis-server to start, and for the failover's
// probes (every 100 ms at first) to find it gone or back.
func TestMain(m *testing.M) {
	code := testparallel.Run(m)
	sharedRedis.Close()
	os.Exit(code)
}
