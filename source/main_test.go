package source

import (
	"os"
	"testing"

	"github.com/graceguard/graceguard/internal/testparallel"
)

// The followers' tests wait: for a poll, a rotation's writer to reopen, a
// duplicate that must not arrive.
func TestMain(m *testing.M) { os.Exit(testparallel.Run(m)) }
