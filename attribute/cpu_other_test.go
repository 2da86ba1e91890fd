//go:build !linux

package attribute

import "time"

// threadCPU is unknown here: the benchmarks leave its metric out.
func threadCPU() (time.Duration, bool) { return 0, false }
