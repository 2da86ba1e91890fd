package parser

import (
	"bytes"
	"strings"
	"testing"
)

// checkNoiseLines holds noiseLines to its promise on b: what it skips is
// whole lines, each one SplitCandidates would open a record with and
// ClassifyLine calls other, counted, with the last one's start.
func checkNoiseLines(t *testing.T, b []byte) (lines int) {
	t.Helper()
	skipped, lines, last := noiseLines(b)
	if skipped < 0 || skipped > len(b) || (skipped > 0) != (lines > 0) || (skipped > 0 && b[skipped-1] != '\n') {
		t.Fatalf("noiseLines(%q) = %d, %d, %d: not a run of whole lines", b, skipped, lines, last)
	}
	n, start := 0, 0
	for pos := 0; pos < skipped; n++ {
		end := pos + bytes.IndexByte(b[pos:], '\n')
		line := trimCR(b[pos:end])
		if !IsRecordStart(line) || ClassifyLine(line) != KindOther {
			t.Fatalf("noiseLines(%q) skipped %q, which opens no record or is no noise (%s)", b, line, ClassifyLine(line))
		}
		start, pos = pos, end+1
	}
	if n != lines || (lines > 0 && start != last) {
		t.Fatalf("noiseLines(%q) = %d, %d, %d; the run holds %d lines, the last at %d", b, skipped, lines, last, n, start)
	}
	return lines
}

// Whatever the bytes, at every offset, noiseLines skips only noise.
func FuzzNoiseLines(f *testing.F) {
	seedLines(f, true)
	f.Add([]byte(strings.Repeat(noiseLine+"\n", 3) + lineA + "\n" + noiseLine + "\n"))
	for _, l := range damagedLines() {
		f.Add(damagedBlock(l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := range min(len(b)+1, 40) {
			checkNoiseLines(t, b[i:])
		}
	})
}

// noiseLine is a line the kernel skips: an LDAP access line, ending in
// neither ']' nor holding 'P'.
const noiseLine = "[2026-11-23 00:00:38,303][XNIO-1 task-11] INFO  AccessLog - RESULT op=161 conn=8358 err=0 etime=3"

func TestNoiseLines(t *testing.T) {
	t.Parallel()
	if !hasAVX2 {
		t.Skip("no vector kernel on this CPU: noiseLines skips nothing")
	}
	az := "[2026-11-23 00:00:38,415][XNIO-1 task-12] INFO  AccessLog - [AzSuccess] - k8s-api - https://k8sapi.apps.example.com/apis - uid=prossi2,ou=shadow,o=Tremolo - NONE [10.9.89.174] - [f9bff32072bf384f7d85a0feda42c40cbd91b524a]"
	pad := "\n" + strings.Repeat("x", 40) // room past the run: the kernel leaves b's last bytes alone
	for _, tc := range []struct {
		name string
		b    string
		want int // lines skipped
	}{
		{"noise lines", noiseLine + "\n" + az + "\n" + noiseLine + pad, 3},
		{"a CRLF line", noiseLine + "\r\n" + az + "\r\n" + pad, 2},
		{"stops at a token line", noiseLine + "\n" + lineA + "\n" + noiseLine + pad, 1},
		{"stops at a continuation line", noiseLine + "\n" + trace + "\n" + noiseLine + pad, 1},
		{"a 'P' that is not OpenIDConnectIdP's", noiseLine + " method=SIMPLE\n" + noiseLine + pad, 2},
		{"stops at a 'P' in a line ending in ']'", strings.Replace(az, "NONE", "SIMPLE", 1) + pad, 0},
		{"stops at OpenIDConnectIdP anywhere in the line", noiseLine + " OpenIDConnectIdP - x\n" + noiseLine + pad, 0},
		{"stops at a refusal", noiseLine + "\n[2026-11-23 10:00:00,000][XNIO-1 task-3] WARN  OpenIDConnectIdP - Session does not exist from refresh_token\n" + pad, 1},
		{"stops at a reuse", noiseLine + "\n[2026-11-23 10:00:00,000][t] INFO  OpenIDConnectIdP - [ExpiredRefreshTokenUsed]\n" + pad, 1},
		{"stops at a ']' line with \"Au\"", strings.Replace(az, "AzSuccess", "AuSuccess", 1) + pad, 0},
		{"stops at a ']' line with \"ke\"", strings.Replace(az, "/apis", "/token", 1) + pad, 0},
		{"a pair in the stamp is not the message's", "[2026-Au-23 00:00:38,415][x] INFO  AccessLog - [AzSuccess] - NONE [10.9.89.174] - [f9]" + pad, 1},
		{"'P' in the stamp", "[2026-P1-23 00:00:38,303][x] INFO  AccessLog - RESULT op=1" + pad, 1},
		{"'P' in the stamp, the line ending in ']'", "[2026-P1-23 00:00:38,303][x] INFO  AccessLog - RESULT [1]" + pad, 0},
		{"stops at a token line cut short", noiseLine + "\n" + lineA[:strings.Index(lineA, " - uid")] + "\n" + noiseLine + pad, 1},
		{"stops at a login cut short", noiseLine + "\n" + strings.Replace(az, "AzSuccess", "AuSuccess", 1)[:90] + "\n" + noiseLine + pad, 1},
		{"stops at a '[' in a line not ending in ']'", noiseLine + "\n" + noiseLine + " [x] y\n" + noiseLine + pad, 1},
		{"the '[' of the next line are not the line's", "[2026-11-23 00:00:38,303][x] INFO  X - y\n[2026-11-23 00:00:38,303][x] INFO  X - [[[\n" + noiseLine + pad, 1},
		{"a blank line", noiseLine + "\n\n" + noiseLine + pad, 1},
		{"no room after the line", noiseLine + "\n", 0},
		{"a line no longer than a stamp and a byte", "[2026-11-23 00:00:38,303][\n" + noiseLine + pad, 0},
		{"a line of 4 KB and more", "[2026-11-23 00:00:38,303][x] INFO  X - " + strings.Repeat("y", 4100) + "\n" + noiseLine + pad, 0},
		// The kernel reads a line's 32-byte steps from its start while one
		// starts at most 4 KB in: the newline of a line 4,127 bytes long is
		// in the last of them, one 4,128 bytes long is left to the walk.
		{"a line of 4,127 bytes", "[2026-11-23 00:00:38,303][x] INFO  X - " + strings.Repeat("y", 4127-39) + "\n" + noiseLine + pad, 2},
		{"a line of 4,128 bytes", "[2026-11-23 00:00:38,303][x] INFO  X - " + strings.Repeat("y", 4128-39) + "\n" + noiseLine + pad, 0},
	} {
		if got := checkNoiseLines(t, []byte(tc.b)); got != tc.want {
			t.Errorf("%s: %d lines skipped, want %d", tc.name, got, tc.want)
		}
	}
}

// The kernel is what spares SplitCandidates its per-line work: it must
// take most of a realistic log's lines (a kernel that stopped at every
// line would pass every other test).
func TestNoiseLinesTakeMostOfALog(t *testing.T) {
	t.Parallel()
	if !hasAVX2 {
		t.Skip("no vector kernel on this CPU: SplitCandidates walks every line")
	}
	data := realisticLogT(t)
	skipped := 0
	for pos := 0; pos < len(data); {
		n, lines, _ := noiseLines(data[pos:])
		skipped += lines
		pos += n
		nl := bytes.IndexByte(data[pos:], '\n')
		if nl < 0 {
			break
		}
		pos += nl + 1
	}
	total := bytes.Count(data, []byte{'\n'})
	t.Logf("noiseLines skipped %d of %d lines", skipped, total)
	if skipped < total*3/4 {
		t.Errorf("noiseLines skipped %d of %d lines, want three in four at least", skipped, total)
	}
}

// A block that ends in noise lines, whatever their lengths, is walked as
// the reference walks it: the kernel may take the block's last line whole.
func TestSplitCandidatesEndingInNoise(t *testing.T) {
	t.Parallel()
	for n := 27; n < 27+70; n++ {
		last := noiseLine[:n] + "\n"
		for _, block := range []string{last, noiseLine + "\n" + last, lineA + "\n" + last, noiseLine + "\r\n" + last[:n-1] + "\r\n"} {
			sameCandidates(t, []byte(block))
		}
	}
}

// A generated log cut into blocks at record starts, as a scan cuts it,
// every block size putting the blocks' ends somewhere else in the kernel's
// steps: each block is walked as the reference walks it.
func TestSplitCandidatesBlocksOfAGeneratedLog(t *testing.T) {
	t.Parallel()
	data := realisticLogT(t)[:1<<20]
	for _, size := range []int{4 << 10, 4<<10 + 7, 8<<10 - 13, 16<<10 + 31, 64 << 10} {
		for base := 0; base < len(data); {
			end := min(base+size, len(data))
			if end < len(data) {
				if cut := LastRecordStart(data[base:end]); cut > 0 {
					end = base + cut
				}
			}
			sameCandidates(t, data[base:end])
			base = end
		}
	}
}
