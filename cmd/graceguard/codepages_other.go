//go:build !linux

package main

// releaseCodePages does nothing outside Linux.
func releaseCodePages() {}
