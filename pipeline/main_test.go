package pipeline

import (
	"os"
	"testing"

	"github.com/graceguard/graceguard/internal/testparallel"
)

// The watcher's tests wait: settle times, a replica's lag, a Redis that
// comes back, the idle tick.
func TestMain(m *testing.M) { os.Exit(testparallel.Run(m)) }
