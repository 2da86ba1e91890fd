// Package cputime reads the CPU time benchmarks report beside wall time,
// which other work on a shared machine moves less: the process's, and the
// calling OS thread's (for a goroutine locked to it). It is for tests and
// benchmarks; it keeps no state, and product code must not time itself
// with it.
package cputime
