package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// generated returns a generated log of size bytes and what the generator did.
func generated(t testing.TB, size int64, seed int64) ([]byte, loggen.Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := loggen.Write(&buf, loggen.Config{Size: size, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

type collected struct {
	mu     sync.Mutex
	alerts []string
}

func (c *collected) deliver(_ context.Context, group []alert.Alert) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range group {
		c.alerts = append(c.alerts, fmt.Sprintf("%s %s %s %s %d %s", a.Rule, a.User, a.IP, a.PrevIP, a.Time.UnixMilli(), a.ID))
	}
	return nil
}

func scan(t *testing.T, inputs ...Input) (Summary, []string, error) {
	t.Helper()
	var c collected
	sum, err := Scan(context.Background(), inputs, ScanOptions{Rules: rules.Builtin(), Deliver: c.deliver})
	return sum, c.alerts, err
}

// The block-parallel reader, with any block size, over reads or a mapping,
// must find exactly what the sequential Scanner finds.
func TestBlockReaderAgreesWithScanner(t *testing.T) {
	t.Parallel()
	data, truth := generated(t, 3<<20, 7)
	want := func() (Summary, []string) {
		var c collected
		sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
		src := &scannerSource{readerCounts: readerCounts{name: "x"}, sc: parser.NewScanner(bytes.NewReader(data))}
		det := NewDetector(newStore(), rules.Builtin(), 0, c.deliver)
		if err := merge(context.Background(), []eventSource{src}, attributed(attribute.New(attribute.Options{}), inline(det))); err != nil {
			t.Fatal(err)
		}
		det.Flush(context.Background())
		src.finish(&sum)
		return sum, c.alerts
	}
	wantSum, wantAlerts := want()
	if int64(len(wantAlerts)) < truth.Replays || wantSum.Events[parser.KindGraceReuse] != truth.GraceReuses {
		t.Fatalf("the scanner found %d alerts for %d replays and %d of %d grace reuses",
			len(wantAlerts), truth.Replays, wantSum.Events[parser.KindGraceReuse], truth.GraceReuses)
	}
	path := writeTemp(t, data)
	for _, size := range []int{4 << 10, 64 << 10, blockSize} {
		for _, how := range []string{"half reads", "one byte reads", "mapped"} {
			t.Run(fmt.Sprintf("block %d %s", size, how), func(t *testing.T) {
				var c collected
				sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
				counts := readerCounts{name: "x"}
				var src *blockSource
				switch {
				case how == "mapped":
					src = mappedBlocks(t, counts, path, size, false)
				case how == "one byte reads" && size < blockSize:
					src = readBlocks(context.Background(), counts, iotest.OneByteReader(bytes.NewReader(data)), nil, heapBuffers(size), nil, false)
				default:
					src = readBlocks(context.Background(), counts, iotest.HalfReader(bytes.NewReader(data)), nil, heapBuffers(size), nil, false)
				}
				det := NewDetector(newStore(), rules.Builtin(), 0, c.deliver)
				if err := merge(context.Background(), []eventSource{src}, attributed(attribute.New(attribute.Options{}), inline(det))); err != nil {
					t.Fatal(err)
				}
				det.Flush(context.Background())
				if err := src.finish(&sum); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(c.alerts, wantAlerts) {
					t.Errorf("alerts differ: %d vs the scanner's %d", len(c.alerts), len(wantAlerts))
				}
				if sum.Lines != wantSum.Lines || sum.Records != wantSum.Records || sum.Bytes != wantSum.Bytes ||
					fmt.Sprint(sum.Events) != fmt.Sprint(wantSum.Events) {
					t.Errorf("summary %+v\nscanner %+v", sum, wantSum)
				}
			})
		}
	}
}

// Replicas: each request went to one of three pods. Scanned together, every
// replay is found; scanned alone, a pod misses the refreshes others logged.
func TestScanMergesReplicas(t *testing.T) {
	t.Parallel()
	bufs := make([]bytes.Buffer, 3)
	ws := []io.Writer{&bufs[0], &bufs[1], &bufs[2]}
	truth, err := loggen.WriteReplicas(ws, loggen.Config{Size: 6 << 20, Seed: 3, ReplayShare: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	var inputs []Input
	for i := range bufs {
		inputs = append(inputs, Input{Name: fmt.Sprintf("pod-%d.log", i), R: bytes.NewReader(bufs[i].Bytes())})
	}
	sum, _, err := scan(t, inputs...)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Alerts["reuse-ip-mismatch"] != truth.Replays || truth.Replays == 0 {
		t.Errorf("together: %d reuse-ip-mismatch alerts for %d replays", sum.Alerts["reuse-ip-mismatch"], truth.Replays)
	}
	alone, _, err := scan(t, Input{Name: "pod-0.log", R: bytes.NewReader(bufs[0].Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	if alone.Alerts["reuse-ip-mismatch"] >= sum.Alerts["reuse-ip-mismatch"] {
		t.Errorf("one pod alone found %d of %d replays: merging is not what finds them", alone.Alerts["reuse-ip-mismatch"], sum.Alerts["reuse-ip-mismatch"])
	}
}

// Every replay the generator wrote raises reuse-ip-mismatch; no race does.
func TestScanMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	data, truth := generated(t, 8<<20, 11)
	sum, _, err := scan(t, Input{Name: "gen.log", R: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events[parser.KindGraceReuse] != truth.GraceReuses || sum.Alerts["reuse-ip-mismatch"] != truth.Replays {
		t.Errorf("grace reuses %d (truth %d), reuse-ip-mismatch %d (truth %d replays)",
			sum.Events[parser.KindGraceReuse], truth.GraceReuses, sum.Alerts["reuse-ip-mismatch"], truth.Replays)
	}
	if sum.Lines != truth.Lines || sum.Records != truth.Records || sum.ParseErrors != 0 {
		t.Errorf("lines %d records %d parse errors %d; truth %d lines %d records", sum.Lines, sum.Records, sum.ParseErrors, truth.Lines, truth.Records)
	}
}

func TestScanReadErrorKeepsTheOthers(t *testing.T) {
	t.Parallel()
	data, truth := generated(t, 1<<20, 5)
	broken := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errors.New("input/output error")))
	sum, _, err := scan(t,
		Input{Name: "broken.log", R: broken},
		Input{Name: "whole.log", R: bytes.NewReader(data)},
	)
	var re *ReadError
	if !errors.As(err, &re) || re.Source != "broken.log" || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("error %v: want a ReadError naming broken.log", err)
	}
	if sum.Bytes < int64(len(data)) || sum.Records < truth.Records {
		t.Errorf("the whole file must still be scanned: %d bytes, %d records of its %d", sum.Bytes, sum.Records, truth.Records)
	}
}

// A read error in the middle of a line ends the input before that line:
// its bytes cut short (here an address) are not parsed as a whole line,
// by the block reader (plain logs) or the record Scanner (CRI).
func TestScanReadErrorCutsNoLine(t *testing.T) {
	t.Parallel()
	whole := "[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k8sIdp/token - uid=a,o=T - NONE [1.2.3.4] - [null]\n"
	cut := whole[:strings.Index(whole, "1.2.3.4")+4] // "… NONE [1.2."
	for _, tt := range []struct {
		name, prefix string
	}{
		{"plain", ""},
		{"CRI", "2026-11-23T10:00:00.000000000Z stdout F "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// More than the 64 KiB head openSource reads to tell the
			// format, so that the error comes to the reader it picks.
			const lines = 1000
			in := strings.Repeat(tt.prefix+whole, lines) + tt.prefix + cut
			r := io.MultiReader(strings.NewReader(in), iotest.ErrReader(errors.New("input/output error")))
			sum, err := Scan(context.Background(), []Input{{Name: "broken.log", R: r}}, ScanOptions{Rules: rules.Builtin(), Deliver: (&collected{}).deliver})
			var re *ReadError
			if !errors.As(err, &re) {
				t.Fatalf("error %v: want a ReadError", err)
			}
			if sum.Lines != lines || sum.ParseErrors != 0 {
				t.Errorf("lines %d, parse errors %d: want the %d whole lines and nothing of the cut one", sum.Lines, sum.ParseErrors, lines)
			}
		})
	}
}

func TestScanCancelled(t *testing.T) {
	t.Parallel()
	data, _ := generated(t, 4<<20, 5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Scan(ctx, []Input{{Name: "x", R: bytes.NewReader(data)}}, ScanOptions{Rules: rules.Builtin(), Deliver: (&collected{}).deliver})
	if !errors.Is(err, context.Canceled) || !sum.Interrupted {
		t.Errorf("error %v, interrupted %v: want context.Canceled, and the summary to say so", err, sum.Interrupted)
	}
	whole, err := Scan(context.Background(), []Input{{Name: "x", R: bytes.NewReader(data)}}, ScanOptions{Rules: rules.Builtin(), Deliver: (&collected{}).deliver})
	if err != nil || whole.Interrupted {
		t.Errorf("a whole scan: error %v, interrupted %v", err, whole.Interrupted)
	}
}

func TestScanParseErrorsReported(t *testing.T) {
	t.Parallel()
	line := "[2026-11-23 10:00:00,000][t] INFO  AccessLog - [AzSuccess] - k8sidp - https://x/auth/idp/k8sIdp/token - uid=a,o=T - NONE [1.2.3] - [null]\n"
	for _, n := range []int{1, 20} {
		var got []string
		sum, err := Scan(context.Background(), []Input{{Name: "bad.log", R: strings.NewReader(strings.Repeat(line, n))}}, ScanOptions{
			Rules: rules.Builtin(), Deliver: (&collected{}).deliver,
			ParseErrors: func(err error) { got = append(got, err.Error()) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.ParseErrors != int64(n) || len(got) != min(n, maxReportedParseErrors) {
			t.Errorf("%d bad lines: counted %d, described %d", n, sum.ParseErrors, len(got))
		}
		if want := `bad.log:1:123: bad IP address "1.2.3"`; got[0] != want {
			t.Errorf("first error %q, want %q", got[0], want)
		}
		if n > 1 && got[1] != `bad.log:2:123: bad IP address "1.2.3"` {
			t.Errorf("second error %q names the wrong line", got[1])
		}
	}
}

func newStore() *correlate.Memory { return correlate.NewMemory(correlate.Limits{}) }

// summarize scans src as Scan does, judging with the built-in rules, and
// returns its summary.
func summarize(t *testing.T, src eventSource) Summary {
	t.Helper()
	sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
	det := NewDetector(newStore(), rules.Builtin(), 0, (&collected{}).deliver)
	if err := merge(context.Background(), []eventSource{src}, attributed(attribute.New(attribute.Options{}), inline(det))); err != nil {
		t.Fatal(err)
	}
	if err := src.finish(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// A record longer than a block (a stack trace of 1.5 MiB, cut at MaxRecord)
// must still be one record to the block reader, as it is to the Scanner:
// the reader takes a larger block rather than split it.
func TestBlockReaderKeepsLongRecordWhole(t *testing.T) {
	t.Parallel()
	head, _ := generated(t, 1<<20, 3)
	tail, _ := generated(t, 1<<20, 4)
	var long bytes.Buffer
	long.WriteString("[2026-11-23 10:00:00,000][XNIO-1 task-1] ERROR UnisonServletFilter - boom\n")
	for long.Len() < 3<<19 {
		long.WriteString("\tat com.tremolosecurity.proxy.SomeFilter.doFilter(SomeFilter.java:123)\n")
	}
	data := slices.Concat(head, long.Bytes(), tail)
	run := func(src eventSource) Summary { return summarize(t, src) }
	want := run(&scannerSource{readerCounts: readerCounts{name: "x"}, sc: parser.NewScanner(bytes.NewReader(data))})
	if want.Cut != 1 {
		t.Fatalf("the scanner cut %d records, want the long one", want.Cut)
	}
	for name, src := range map[string]func() *blockSource{
		"read": func() *blockSource {
			return readBlocks(context.Background(), readerCounts{name: "x"}, bytes.NewReader(data), nil, heapBuffers(blockSize), nil, false)
		},
		"mapped": func() *blockSource {
			return mappedBlocks(t, readerCounts{name: "x"}, writeTemp(t, data), blockSize, false)
		},
	} {
		got := run(src())
		if got.Lines != want.Lines || got.Records != want.Records || got.Cut != want.Cut || fmt.Sprint(got.Events) != fmt.Sprint(want.Events) {
			t.Errorf("%s blocks: lines %d records %d cut %d events %v\nscanner: lines %d records %d cut %d events %v",
				name, got.Lines, got.Records, got.Cut, got.Events, want.Lines, want.Records, want.Cut, want.Events)
		}
	}
}
