//go:build !linux

package main

// adviseHugeHeap does nothing where there are no transparent huge pages to
// ask for (see hugeheap_linux.go).
func adviseHugeHeap(int) {}
