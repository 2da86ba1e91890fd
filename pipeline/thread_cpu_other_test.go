//go:build !linux

package pipeline

import "time"

// threadCPU is unknown here: the benchmarks report 0.
func threadCPU() time.Duration { return 0 }
