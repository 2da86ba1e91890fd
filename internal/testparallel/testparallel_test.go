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

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	os.Exit(Run(m))
}

func TestRunSetsParallel(t *testing.T) {
	if given {
		t.Skip("-parallel given on the command line, which Run must keep")
	}
	want := WaitBound
	if raceEnabled || runtime.GOMAXPROCS(0) >= WaitBound {
		want = runtime.GOMAXPROCS(0)
	}
	if got := flag.Lookup("test.parallel").Value.String(); got != strconv.Itoa(want) {
		t.Errorf("-parallel is %s, want %d (race %v, GOMAXPROCS %d)", got, want, raceEnabled, runtime.GOMAXPROCS(0))
	}
}
