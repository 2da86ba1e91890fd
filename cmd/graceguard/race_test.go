//go:build race

package main

// raceEnabled: the race detector makes the tests compute-bound (a token
// request to the bundled IdP takes seconds), so a child process reading a
// backlog gets longer (waitForBacklog). internal/testparallel keeps the
// default parallelism under it for the same reason.
const raceEnabled = true
