//go:build !(linux && (amd64 || arm64))

package earlyheap

// Advised returns an empty range: nothing is advised here.
func Advised() (lo, hi uintptr) { return 0, 0 }
