//go:build race

package main

// raceEnabled: the race detector makes the tests compute-bound (a token
// request to the bundled IdP takes seconds), so they keep the default
// parallelism.
const raceEnabled = true
