// Package testparallel lets a test package whose tests mostly wait (settle
// times, a child process or server starting, a simulated minute scaled
// down, a poll interval) run more of its parallel tests at once than the
// default, GOMAXPROCS. Run two at a time on two cores such a package takes
// the sum of its waits while the CPU idles. It is for TestMain only; it
// must never override a -parallel the command line set, and it keeps the
// default under the race detector, where the same tests compute.
package testparallel

import (
	"flag"
	"runtime"
	"strconv"
	"testing"
)

// WaitBound is how many parallel tests a wait-bound package runs at once.
const WaitBound = 8

// Run runs m's tests, WaitBound parallel tests at a time unless -parallel
// was given, the race detector is on, or GOMAXPROCS is at least that, and
// returns m.Run's exit code for os.Exit.
func Run(m *testing.M) int {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && !raceEnabled && runtime.GOMAXPROCS(0) < WaitBound {
		if err := flag.Set("test.parallel", strconv.Itoa(WaitBound)); err != nil {
			panic(err) // the testing package renamed its flag: every caller must know
		}
	}
	return m.Run()
}
