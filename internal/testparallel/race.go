//go:build race

package testparallel

// raceEnabled: the race detector makes wait-bound tests compute-bound, so
// running more of them at once than there are cores only slows each down.
const raceEnabled = true
