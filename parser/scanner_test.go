package parser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/graceguard/graceguard/internal/loggen"
)

const (
	lineA = "[2026-11-23 10:01:00,100][XNIO-1 task-3] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=mmosley,ou=shadow,o=Tremolo - NONE [203.0.113.7] - [f1111111111111111111111111111111111111111]"
	lineB = "[2026-11-23 10:03:30,000][XNIO-1 task-9] WARN  OpenIDConnectIdP - Could not refresh token"
	trace = "java.lang.IllegalArgumentException: Illegal base64 character 2d\n\tat java.base/java.util.Base64$Decoder.decode0(Base64.java:847)\nCaused by: java.io.IOException: token is not valid\n\t... 5 more"
	lineC = "[2026-11-23 10:03:30,002][XNIO-1 task-9] INFO  AccessLog - [AzFail] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=Anonymous,o=Tremolo - NONE [203.0.113.99] - [f2222222222222222222222222222222222222222]"
)

type rec struct {
	text   string
	offset int64
	line   int64
}

func scanAll(t *testing.T, r io.Reader) ([]rec, *Scanner) {
	t.Helper()
	sc := NewScanner(r)
	var out []rec
	for sc.Scan() {
		r := sc.Record()
		out = append(out, rec{string(r.Text), r.Offset, r.Line})
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("Err: %v", err)
	}
	return out, sc
}

func cri(stream, flag, text string) string {
	return "2026-11-23T10:00:00.123456789Z " + stream + " " + flag + " " + text + "\n"
}

func docker(text string) string {
	b, _ := json.Marshal(map[string]string{"log": text, "stream": "stdout", "time": "2026-11-23T10:00:00.123456789Z"})
	return string(b) + "\n"
}

// Every wrapping of the same three records yields the same records, joined.
func TestScannerFormats(t *testing.T) {
	want := []string{lineA, lineB + "\n" + trace, lineC}
	plain := lineA + "\n" + lineB + "\n" + trace + "\n" + lineC + "\n"
	var criIn, dockerIn, kubectlIn strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(plain, "\n"), "\n") {
		// Split long lines into partial pieces the way the runtimes do.
		if len(l) > 100 {
			criIn.WriteString(cri("stdout", "P", l[:40]))
			criIn.WriteString(cri("stdout", "P", l[40:90]))
			criIn.WriteString(cri("stdout", "F", l[90:]))
			dockerIn.WriteString(docker(l[:60]))
			dockerIn.WriteString(docker(l[60:] + "\n"))
		} else {
			criIn.WriteString(cri("stdout", "F", l))
			dockerIn.WriteString(docker(l + "\n"))
		}
		kubectlIn.WriteString("2026-11-23T10:00:00.123456789Z " + l + "\n")
	}
	tests := []struct {
		name   string
		input  string
		format Format
	}{
		{"plain", plain, FormatPlain},
		{"plain CRLF", strings.ReplaceAll(plain, "\n", "\r\n"), FormatPlain},
		{"plain no final newline", strings.TrimSuffix(plain, "\n"), FormatPlain},
		{"cri", criIn.String(), FormatCRI},
		{"docker", dockerIn.String(), FormatDocker},
		{"kubectl --timestamps", kubectlIn.String(), FormatKubectl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time shakes out every buffer boundary.
			got, sc := scanAll(t, iotest.OneByteReader(strings.NewReader(tt.input)))
			if sc.Format() != tt.format {
				t.Errorf("format %s, want %s", sc.Format(), tt.format)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d records %v, want %d", len(got), got, len(want))
			}
			for i := range want {
				if got[i].text != want[i] {
					t.Errorf("record %d:\n got %q\nwant %q", i, got[i].text, want[i])
				}
			}
			if st := sc.Stats(); st.Records != 3 || st.FramingErrors != 0 || st.Bytes != int64(len(tt.input)) {
				t.Errorf("stats %+v, want 3 records, no framing errors, %d bytes", st, len(tt.input))
			}
			if k := Classify([]byte(got[0].text)); k != KindTokenOK {
				t.Errorf("first record classified %s", k)
			}
		})
	}
}

func TestScannerOffsetsAndLines(t *testing.T) {
	in := "\n" + lineA + "\n" + lineB + "\n" + trace + "\n" + lineC + "\n"
	got, _ := scanAll(t, strings.NewReader(in))
	wantOff := []int64{1, int64(1 + len(lineA) + 1), int64(1 + len(lineA) + 1 + len(lineB) + 1 + len(trace) + 1)}
	wantLine := []int64{2, 3, 8}
	for i, r := range got {
		if r.offset != wantOff[i] || r.line != wantLine[i] {
			t.Errorf("record %d at offset %d line %d, want %d line %d", i, r.offset, r.line, wantOff[i], wantLine[i])
		}
		if !strings.HasPrefix(in[r.offset:], r.text[:20]) {
			t.Errorf("record %d offset %d does not point at its text", i, r.offset)
		}
	}
}

func TestScannerCRIStreamsAndErrors(t *testing.T) {
	in := cri("stdout", "P", lineA[:50]) +
		cri("stderr", "F", "[2026-11-23 10:00:00,000][main] ERROR X - from stderr") +
		cri("stdout", "F", lineA[50:]) +
		"this line is not CRI\n" +
		cri("stdout", "P", "[2026-11-23 10:00:01,000][main] INFO  X - never finished")
	got, sc := scanAll(t, strings.NewReader(in))
	want := []string{
		"[2026-11-23 10:00:00,000][main] ERROR X - from stderr",
		lineA + "\nthis line is not CRI",
		"[2026-11-23 10:00:01,000][main] INFO  X - never finished",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].text != want[i] {
			t.Errorf("record %d = %q, want %q", i, got[i].text, want[i])
		}
	}
	if st := sc.Stats(); st.FramingErrors != 1 {
		t.Errorf("framing errors %d, want 1", st.FramingErrors)
	}
}

func TestScannerCutsLongLines(t *testing.T) {
	long := "[2026-11-23 10:00:00,000][main] INFO  X - " + strings.Repeat("x", MaxRecord+5000)
	// Each cut record counts once: the first by its line (its stack trace
	// no longer fits), lineA's by the continuation that does not fit.
	in := long + "\n\tat io.openunison.X(X.java:1)\n" + lineA + "\n" + strings.Repeat("y", 3*MaxRecord) + "\n" + lineC + "\n"
	got, sc := scanAll(t, strings.NewReader(in))
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3", len(got))
	}
	if len(got[0].text) != MaxRecord {
		t.Errorf("long line kept %d bytes, want %d", len(got[0].text), MaxRecord)
	}
	if got[1].text[:len(lineA)] != lineA || len(got[1].text) > MaxRecord {
		t.Errorf("record after the cut line is wrong or unbounded (%d bytes)", len(got[1].text))
	}
	if got[2].text != lineC {
		t.Errorf("last record %q", got[2].text[:40])
	}
	if st := sc.Stats(); st.Cut != 2 || st.Lines != 5 {
		t.Errorf("stats %+v, want 2 cut (one per record) and 5 lines", st)
	}
}

// A read error ends the input: the records before it are read, and the
// bytes of a line it cut short are not taken for a whole line (its
// address or session id cut short would be another one).
func TestScannerReadError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, before string
	}{
		{"after a line", lineA + "\n"},
		{"in the middle of a line", lineA + "\n" + lineB[:len(lineB)-20]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := io.MultiReader(strings.NewReader(tt.before), iotest.ErrReader(fmt.Errorf("disk on fire")))
			sc := NewScanner(r)
			var got []string
			for sc.Scan() {
				got = append(got, string(sc.Record().Text))
			}
			if len(got) != 1 || got[0] != lineA || sc.Err() == nil || !strings.Contains(sc.Err().Error(), "disk on fire") {
				t.Errorf("records %q, err %v: want only the whole record before the error, and the error", got, sc.Err())
			}
		})
	}
}

func TestSplitRecordsMatchesScanner(t *testing.T) {
	in := "\n\n" + lineA + "\n" + lineB + "\n" + trace + "\n" + lineC + "\n" + lineA
	got, sc := scanAll(t, strings.NewReader(in))
	var blockRecs []rec
	st := splitRecordsRef([]byte(in), func(r []byte, _, off int, line int64) {
		blockRecs = append(blockRecs, rec{string(r), int64(off), line})
	})
	if fmt.Sprint(blockRecs) != fmt.Sprint(got) {
		t.Errorf("splitRecordsRef\n %v\nScanner\n %v", blockRecs, got)
	}
	if sst := sc.Stats(); st.Lines != sst.Lines || st.Records != sst.Records {
		t.Errorf("splitRecordsRef stats %+v, Scanner %+v", st, sst)
	}
}

func TestLastRecordStart(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{lineA + "\n" + lineB + "\n" + trace + "\n", len(lineA) + 1},
		{lineA + "\n[2026-", len(lineA) + 1},
		{lineA + "\n[2026", -1},
		{lineA + "\n[20", -1},
		{"no records\nhere\n", -1},
	}
	for _, tt := range tests {
		if got := LastRecordStart([]byte(tt.in)); got != tt.want {
			t.Errorf("LastRecordStart(…%q) = %d, want %d", tt.in[max(0, len(tt.in)-12):], got, tt.want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
	}{
		{"", FormatUnknown},
		{"\n  \n", FormatUnknown},
		{lineA, FormatPlain},
		{"\n" + lineA + "\n", FormatPlain},
		{cri("stdout", "F", lineA), FormatCRI},
		{cri("stderr", "P", "x"), FormatCRI},
		{docker(lineA + "\n"), FormatDocker},
		{"2026-11-23T10:00:00+02:00 " + lineA, FormatKubectl},
		{"2026-11-23T10:00:00Z " + lineA, FormatKubectl},
	}
	for _, tt := range tests {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%.40q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if !bytes.Equal([]byte(FormatCRI.String()), []byte("cri")) {
		t.Error("format names changed")
	}
}

// A follower flushes the record being joined when the file goes quiet;
// stack trace lines that arrive later are dropped as orphans, not records.
func TestAssemblerIdleFlush(t *testing.T) {
	var a Assembler
	var got []string
	push := func(line string, off int64) {
		if rec, ok := a.Push([]byte(line), off, 0); ok {
			got = append(got, string(rec.Text))
		}
	}
	push(lineA, 0)
	if off, ok := a.Pending(); !ok || off != 0 {
		t.Errorf("pending %d %v, want the record at 0", off, ok)
	}
	if rec, ok := a.Flush(false); !ok || string(rec.Text) != lineA {
		t.Fatalf("idle flush gave %q %v", rec.Text, ok)
	}
	if _, ok := a.Pending(); ok {
		t.Error("nothing is pending after a flush")
	}
	push("\tat late.stack.Frame(X.java:1)", 300)
	push(lineB, 400)
	push(trace, 500)
	push(lineC, 700)
	if rec, ok := a.Flush(true); ok {
		got = append(got, string(rec.Text))
	}
	want := []string{lineB + "\n" + trace, lineC}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records %q, want %q", got, want)
	}
	if st := a.Stats(); st.Orphans != 1 || st.Records != 3 {
		t.Errorf("stats %+v, want 1 orphan and 3 records", st)
	}
}

func TestAssemblerPendingCoversPartials(t *testing.T) {
	var a Assembler
	a.Push([]byte(cri("stdout", "F", lineA)), 0, 1)
	a.Push([]byte(cri("stdout", "P", lineC[:30])), 500, 2)
	if off, ok := a.Pending(); !ok || off != 0 {
		t.Errorf("pending %d, want 0 (the joined record comes first)", off)
	}
	a.Flush(false)
	if off, ok := a.Pending(); !ok || off != 500 {
		t.Errorf("pending %d %v, want the unfinished partial line at 500", off, ok)
	}
}

// sameCandidates holds SplitCandidates to splitRecordsRef and ClassifyLine.
func sameCandidates(t *testing.T, block []byte) {
	t.Helper()
	type cand struct {
		rec  string
		kind Kind
		off  int
		line int64
	}
	var want, got []cand
	wst := splitRecordsRef(block, func(r []byte, first, off int, line int64) {
		if k := ClassifyLine(r[:first]); k != KindOther {
			want = append(want, cand{string(r), k, off, line})
		}
	})
	gst := SplitCandidates(block, func(r []byte, k Kind, off int, line int64) {
		got = append(got, cand{string(r), k, off, line})
	})
	if wst != gst || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("SplitCandidates %+v %v\nsplitRecordsRef %+v %v", gst, got, wst, want)
	}
}

func TestSplitCandidatesMatchessplitRecordsRef(t *testing.T) {
	sameCandidates(t, []byte("\n\n"+lineA+"\n"+lineB+"\n"+trace+"\n"+lineC+"\n"+lineA))
	sameCandidates(t, realisticLogT(t))
	sameCandidates(t, []byte("not a record\n"+lineA+"\n"+strings.Repeat("x", MaxRecord+10)+"\n"+lineA))
}

func realisticLogT(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := loggen.Write(&buf, loggen.Config{Size: 2 << 20, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Lines of a container runtime's format in a plain log (files of two
// formats joined) are read as the record before them continued: both
// readers count each one as a framing error, so the loss is said, where
// it was silent (a review: 27 of 47 lines, no alert, nothing noted).
func TestPlainLogWithAnotherFormatsLinesCountsThem(t *testing.T) {
	t.Parallel()
	plain := lineA + "\n" + lineB + "\n"
	in := plain + "2026-11-23T10:00:00.123456789Z stdout F " + lineA + "\n" +
		"2026-11-23T10:00:01.5Z " + lineB + "\n" + // kubectl logs --timestamps
		"\tat not.a.Stamp(Line.java:1)\n"
	_, sc := scanAll(t, strings.NewReader(in))
	if got := sc.Stats().FramingErrors; got != 2 {
		t.Errorf("Scanner: framing errors %d, want 2", got)
	}
	if got := SplitCandidates([]byte(in), func([]byte, Kind, int, int64) {}).FramingErrors; got != 2 {
		t.Errorf("SplitCandidates: framing errors %d, want 2", got)
	}
}
