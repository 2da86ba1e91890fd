package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/klauspost/compress/gzip"

	"github.com/graceguard/graceguard/internal/loggen"
)

// rotatedLog is a generated OpenUnison log with replays in it, and the
// alerts a scan of it raises, as JSON objects.
func rotatedLog(t *testing.T) (data []byte, alerts []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := loggen.Write(&buf, loggen.Config{Size: 2 << 20, Seed: 21, ReplayShare: 0.05}); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(t.TempDir(), "openunison.log")
	if err := os.WriteFile(whole, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), scanAlerts(t, whole)
}

// scanAlerts scans files and returns the alerts it wrote, each without
// what names the file it came from (its source, and its ID, made of it).
func scanAlerts(t *testing.T, files ...string) []map[string]any {
	t.Helper()
	stdout, stderr, code := run(t, nil, append([]string{"scan", "--format", "json", "-q"}, files...)...)
	if code != 0 {
		t.Fatalf("scan %v: exit %d: %s", files, code, stderr)
	}
	var alerts []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a map[string]any
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		delete(a, "source")
		delete(a, "id")
		alerts = append(alerts, a)
	}
	return alerts
}

// cutInside is the offset of the first record of data logged after from,
// so that a refresh at from and its reuse at to fall into two generations;
// -1 when no record is logged between the two.
func cutInside(t *testing.T, data []byte, from, to time.Time) int {
	t.Helper()
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			break
		}
		line := data[off : off+end]
		if len(line) > 25 && line[0] == '[' {
			at, err := time.Parse("2006-01-02 15:04:05,000", string(line[1:24]))
			if err == nil && at.After(from) {
				if at.Before(to) {
					return off
				}
				return -1
			}
		}
		off += end + 1
	}
	return -1
}

// chainCuts are two offsets that rotate data into three generations, each
// cut between a refresh and a replay of the token it rotated: the oldest
// generation's refresh is judged with the next one's replay, and so on.
// users are the two replays' victims.
func chainCuts(t *testing.T, data []byte, alerts []map[string]any) (cuts [2]int, users [2]string) {
	t.Helper()
	n := 0
	for _, a := range alerts {
		prev, _ := a["prev_time"].(string)
		if prev == "" || a["rule"] != "reuse-ip-mismatch" {
			continue
		}
		from, err1 := time.Parse(time.RFC3339Nano, prev)
		to, err2 := time.Parse(time.RFC3339Nano, a["time"].(string))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		cut := cutInside(t, data, from, to)
		// A third of the log apart at least: three generations of a size.
		if cut > 0 && (n == 0 && cut > len(data)/5 || n == 1 && cut > cuts[0]+len(data)/3) {
			cuts[n], users[n] = cut, a["user"].(string)
			n++
		}
		if n == 2 {
			return cuts, users
		}
	}
	t.Fatalf("no two replays to rotate between among %d alerts", len(alerts))
	return cuts, users
}

// A day of logs is what logrotate left: openunison.log (live),
// openunison.log.1 and openunison.log.2.gz (compress, delaycompress). The
// glob openunison.log* lists them newest first; scanned so, a refresh in
// an older generation and its replay in the next are judged as one chain,
// and the alerts are those of the log never rotated.
func TestScanOfRotatedCompressedGenerations(t *testing.T) {
	t.Parallel()
	data, want := rotatedLog(t)
	cuts, _ := chainCuts(t, data, want)
	gens := [][]byte{data[:cuts[0]], data[cuts[0]:cuts[1]], data[cuts[1]:]} // oldest first
	for _, tt := range []struct {
		name string
		// oldest is the name of the oldest generation and its bytes.
		oldest   string
		compress func(t *testing.T, b []byte) []byte
	}{
		{"gzip", "openunison.log.2.gz", gzipBytes},
		{"gzip, its two halves concatenated", "openunison.log.2.gz", func(t *testing.T, b []byte) []byte {
			half := bytes.IndexByte(b[len(b)/2:], '\n') + len(b)/2 + 1
			return append(gzipBytes(t, b[:half]), gzipBytes(t, b[half:])...)
		}},
		{"bzip2", "openunison.log.2.bz2", bzip2Bytes},
		{"zstd", "openunison.log.2.zst", func(t *testing.T, b []byte) []byte {
			w, err := zstd.NewWriter(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			return w.EncodeAll(b, nil)
		}},
		{"compressed, under the live file's name", "openunison.log.2", gzipBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, b := range map[string][]byte{tt.oldest: tt.compress(t, gens[0]), "openunison.log.1": gens[1], "openunison.log": gens[2]} {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			files, err := filepath.Glob(filepath.Join(dir, "openunison.log*"))
			if err != nil || len(files) != 3 {
				t.Fatalf("glob: %v %v", files, err)
			}
			got := scanAlerts(t, files...)
			if len(got) != len(want) || !slices.EqualFunc(got, want, func(a, b map[string]any) bool {
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				return bytes.Equal(ja, jb)
			}) {
				t.Errorf("scan of %v: %d alerts, want the unrotated log's %d:\n got %v\nwant %v", files, len(got), len(want), got, want)
			}
			// The summary names what it decompressed; the bytes it counts
			// are the log's.
			_, stderr, code := run(t, nil, append([]string{"scan", "--format", "json"}, files...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range []string{"scanned 3 files, " + humanBytes(int64(len(data))) + " in ", "decompressed 1 file: " + filepath.Join(dir, tt.oldest) + " ("} {
				if !strings.Contains(stderr, w) {
					t.Errorf("summary lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// timeline reads the generations as scan does: the user's history across
// them is the one of the log never rotated.
func TestTimelineOfRotatedCompressedGenerations(t *testing.T) {
	t.Parallel()
	data, alerts := rotatedLog(t)
	cuts, users := chainCuts(t, data, alerts)
	user := users[0] // refreshed in openunison.log.2.gz, replayed in openunison.log.1
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.log")
	rotated := map[string][]byte{"openunison.log.2.gz": gzipBytes(t, data[:cuts[0]]), "openunison.log.1": data[cuts[0]:cuts[1]], "openunison.log": data[cuts[1]:], "whole.log": data}
	for name, b := range rotated {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "openunison.log*"))
	if err != nil {
		t.Fatal(err)
	}
	want, stderr, code := run(t, nil, "timeline", user, whole)
	if code != 0 {
		t.Fatalf("timeline of the whole log: exit %d: %s", code, stderr)
	}
	got, stderr, code := run(t, nil, append([]string{"timeline", user}, files...)...)
	if code != 0 {
		t.Fatalf("timeline of %v: exit %d: %s", files, code, stderr)
	}
	// Each entry ends with the file and offset it was read at: the same
	// but for the file's name and, past the first generation, the offset.
	entries := func(tl string) []string {
		var out []string
		for line := range strings.SplitSeq(strings.TrimSpace(tl), "\n") {
			out = append(out, line[:strings.LastIndex(line, "  ["+dir)])
		}
		return out
	}
	if !slices.Equal(entries(got), entries(want)) {
		t.Errorf("timeline of the generations differs from the whole log's:\n--- generations\n%s\n--- whole\n%s", got, want)
	}
	if !strings.Contains(got, "openunison.log.2.gz:") || !strings.Contains(got, "openunison.log.1:") || !strings.Contains(got, "ALERT") {
		t.Errorf("the chain of %s does not cross from openunison.log.2.gz to openunison.log.1 with its alert:\n%s", user, got)
	}
}

// A generation cut short (copied while it was being compressed) fails the
// scan (exit 1) with an error naming it and how far it was read; what was
// read before the cut was judged, and the other generations were too.
func TestScanOfATruncatedGeneration(t *testing.T) {
	t.Parallel()
	data, _ := rotatedLog(t)
	dir := t.TempDir()
	half := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
	gz := gzipBytes(t, data[:half])
	cut := filepath.Join(dir, "openunison.log.1.gz")
	live := filepath.Join(dir, "openunison.log")
	for name, b := range map[string][]byte{cut: gz[:len(gz)*2/3], live: data[half:]} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, stderr, code := run(t, nil, "scan", live, cut)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	for _, w := range []string{"read " + cut + ": gzip: the compressed data ends before its stream does (truncated), after ", "scanned 2 files"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "nothing was judged") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// bzip2Bytes is b as the bzip2 command compresses it (the standard library
// only decompresses); the test is skipped where there is none.
func bzip2Bytes(t *testing.T, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("no bzip2 command here:", err)
	}
	cmd := exec.Command("bzip2", "-c", "-1")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
