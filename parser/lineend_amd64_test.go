package parser

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The kernels take no legacy SSE instruction (one without a VEX prefix,
// MOVQ AX, X1 among them): after a 256-bit instruction and before
// VZEROUPPER, each costs ~120 ns on this project's machines, and the
// kernels are called once for every line they cannot rule out
// (BenchmarkKernelCall; see bytes<> in lineend_amd64.s).
func TestKernelsTakeNoLegacySSE(t *testing.T) {
	t.Parallel()
	f, err := os.Open("lineend_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vectorReg := regexp.MustCompile(`\b[XY]\d+\b`)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "//")
		fields := strings.Fields(line)
		// Instructions are indented; labels, directives and macro
		// definitions' heads are not.
		if len(fields) == 0 || !strings.HasPrefix(line, "\t") {
			continue
		}
		if op := fields[0]; vectorReg.MatchString(line) && !strings.HasPrefix(op, "V") {
			t.Errorf("lineend_amd64.s:%d: %s takes a vector register without a VEX prefix: %s", n, op, strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// What a call to each kernel costs when it stops at once: their set-up,
// paid for every line the walk reads itself (850 ns for noiseLines when
// its constants came in through general registers, 4 ns since).
func BenchmarkKernelCall(b *testing.B) {
	stop := []byte("xx" + noiseLine + "\n" + noiseLine + "\n")
	b.Run("noiseLines", func(b *testing.B) {
		for b.Loop() {
			noiseLines(stop)
		}
	})
	b.Run("lineEnd", func(b *testing.B) {
		for b.Loop() {
			lineEnd(stop[:40], 'P')
		}
	})
	b.Run("hasPair", func(b *testing.B) {
		for b.Loop() {
			hasPair(stop[:40])
		}
	})
}
