//go:build !linux

package pipeline

// hugeBuffers is Linux's (transparent huge pages); elsewhere the pool's
// buffers are allocated on the heap.
func hugeBuffers(n, size int) ([][]byte, func() error) { return nil, nil }
