package sinks

import (
	"os"
	"testing"

	"github.com/graceguard/graceguard/internal/testparallel"
)

// The sinks' tests wait: for a receiver's timeout, a backoff, a scaled
// outage, a dead letter after max_age.
func TestMain(m *testing.M) { os.Exit(testparallel.Run(m)) }
