package testparallel

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// given: -parallel was on the command line. Read before Run, whose own
// flag.Set makes the flag look given to flag.Visit afterwards.
var given bool

// procs is GOMAXPROCS as Run saw it: -cpu sets another for each run of
// the tests, after Run has set -parallel (go test -cpu 1,2,4 failed here).
var procs int

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	procs = runtime.GOMAXPROCS(0)
	os.Exit(Run(m))
}

func TestRunSetsParallel(t *testing.T) {
	if given {
		t.Skip("-parallel given on the command line, which Run must keep")
	}
	want := WaitBound
	if raceEnabled || procs >= WaitBound {
		want = procs
	}
	if got := flag.Lookup("test.parallel").Value.String(); got != strconv.Itoa(want) {
		t.Errorf("-parallel is %s, want %d (race %v, GOMAXPROCS %d)", got, want, raceEnabled, procs)
	}
}
