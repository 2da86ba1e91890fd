package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// A proxy's log scans with OpenUnison's, with no flag: its token requests
// are counted as proxy records, read by the block reader as the Scanner
// reads them, and (until attribution joins them) change no alert.
func TestScanTakesProxyLogs(t *testing.T) {
	t.Parallel()
	for _, f := range []loggen.ProxyFormat{loggen.ProxyNginx, loggen.ProxyNginxJSON, loggen.ProxyIstio} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			ous := []*bytes.Buffer{{}, {}}
			pods := []*bytes.Buffer{{}, {}}
			_, ps, err := loggen.WritePaired([]io.Writer{ous[0], ous[1]}, loggen.Config{Size: 2 << 20, Seed: 9, ReplayShare: 0.02},
				loggen.Proxy{Format: f, Writers: []io.Writer{pods[0], pods[1]}})
			if err != nil {
				t.Fatal(err)
			}
			inputs := func(withProxy bool) []Input {
				var in []Input
				for i, b := range ous {
					in = append(in, Input{Name: fmt.Sprintf("ou-%d.log", i), R: bytes.NewReader(b.Bytes())})
				}
				if withProxy {
					for i, b := range pods {
						in = append(in, Input{Name: fmt.Sprintf("proxy-%d.log", i), R: bytes.NewReader(b.Bytes())})
					}
				}
				return in
			}
			alone, alertsAlone, err := scan(t, inputs(false)...)
			if err != nil {
				t.Fatal(err)
			}
			both, alertsBoth, err := scan(t, inputs(true)...)
			if err != nil {
				t.Fatal(err)
			}
			if both.Events[parser.KindProxy] != ps.TokenRecords || both.ParseErrors != 0 {
				t.Errorf("%d proxy records (%d parse errors), the generator wrote %d", both.Events[parser.KindProxy], both.ParseErrors, ps.TokenRecords)
			}
			if both.Events[parser.KindTokenOK] != alone.Events[parser.KindTokenOK] || both.Lines != alone.Lines+ps.Lines {
				t.Errorf("with the proxies' logs %+v\nwithout %+v", both.Events, alone.Events)
			}
			if !slices.Equal(alertsBoth, alertsAlone) {
				t.Errorf("proxy records changed the alerts: %d vs %d", len(alertsBoth), len(alertsAlone))
			}
		})
	}
}

// The block reader, with any block size, finds in a proxy's log what the
// Scanner finds.
func TestBlockReaderReadsProxyLogs(t *testing.T) {
	t.Parallel()
	var ou, pod bytes.Buffer
	if _, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 1 << 20, Seed: 4},
		loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{&pod}}); err != nil {
		t.Fatal(err)
	}
	data := pod.Bytes()
	if !parser.IsProxyLog(data[:64<<10]) {
		t.Fatal("not recognised as a proxy's log")
	}
	collect := func(src eventSource) ([]string, Summary) {
		var out []string
		for src.advance() {
			ev := src.event()
			out = append(out, fmt.Sprintf("%d %s %s", ev.Offset, ev.Kind, ev.IP))
		}
		sum := Summary{Events: map[parser.Kind]int64{}, Formats: map[string]parser.Format{}}
		if err := src.finish(&sum); err != nil {
			t.Fatal(err)
		}
		return out, sum
	}
	want, wantSum := collect(&scannerSource{readerCounts: readerCounts{name: "x"}, sc: parser.NewScanner(bytes.NewReader(data))})
	if len(want) == 0 {
		t.Fatal("the scanner found nothing")
	}
	for _, size := range []int{4 << 10, 64 << 10, blockSize} {
		got, sum := collect(readBlocks(context.Background(), readerCounts{name: "x"}, iotest.HalfReader(bytes.NewReader(data)), nil, size, nil, true))
		if !slices.Equal(got, want) {
			t.Errorf("block %d: %d events, the scanner's %d", size, len(got), len(want))
		}
		if sum.Lines != wantSum.Lines || sum.Records != wantSum.Records || fmt.Sprint(sum.Events) != fmt.Sprint(wantSum.Events) {
			t.Errorf("block %d: summary %+v\nscanner %+v", size, sum, wantSum)
		}
	}
}
