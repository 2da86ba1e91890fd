package kube

import (
	"os"
	"testing"

	"github.com/graceguard/graceguard/internal/testparallel"
)

// The pod-log tests wait: for a stream to break and reconnect, a retry's
// backoff, a restart.
func TestMain(m *testing.M) { os.Exit(testparallel.Run(m)) }
