//go:build nogeoipdemo

package geo

// demo leaves testdb, and with it mmdbwriter, out of the binary.
func demo() (*DB, error) { return nil, ErrNoDemo }
