//go:build nogeoipdemo

package geo

import (
	"errors"
	"testing"
)

// Built for an image, Demo must fail with the error callers recognise, so
// they can go on without places instead of stopping.
func TestDemoWithoutDatabases(t *testing.T) {
	db, err := Demo()
	if !errors.Is(err, ErrNoDemo) || db != nil {
		t.Fatalf("Demo() = %v, %v; want nil, ErrNoDemo", db, err)
	}
}
