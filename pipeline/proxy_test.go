package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// A proxy's log scans with OpenUnison's, with no flag: its token requests
// are counted as proxy records, read by the block reader as the Scanner
// reads them, and attribution joins them to OpenUnison's token events.
func TestScanTakesProxyLogs(t *testing.T) {
	t.Parallel()
	for _, f := range []loggen.ProxyFormat{loggen.ProxyNginx, loggen.ProxyNginxJSON, loggen.ProxyIstio} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			ous := []*bytes.Buffer{{}, {}}
			pods := []*bytes.Buffer{{}, {}}
			truth, ps, err := loggen.WritePaired([]io.Writer{ous[0], ous[1]}, loggen.Config{Size: 2 << 20, Seed: 9, ReplayShare: 0.02},
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
			// Alone, OpenUnison's log names only proxies: nothing above info
			// on an address. With the proxies' logs every replay is named
			// with its real client, never a proxy.
			if n := count(alertsAlone, "reuse-ip-mismatch "); n > 0 {
				t.Errorf("without the proxies' logs %d reuse-ip-mismatch alerts: %q", n, alertsAlone)
			}
			if n := count(alertsBoth, "reuse-ip-mismatch "); int64(n) < truth.Replays {
				t.Errorf("with the proxies' logs %d reuse-ip-mismatch alerts for %d replays", n, truth.Replays)
			}
			for _, a := range alertsBoth {
				if f := strings.Fields(a); strings.HasPrefix(a, "reuse-new-ip ") && strings.HasPrefix(f[2], "10.1.67.") {
					t.Errorf("a proxy judged as a client: %s", a)
				}
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
	plain := pod.Bytes()
	if !parser.IsProxyLog(plain[:64<<10]) {
		t.Fatal("not recognised as a proxy's log")
	}
	// The same with a line of 3 MiB in the middle: one line, cut once,
	// its rest read past on every path (the block reader cut lines longer
	// than its largest block into lines of their own).
	mid := bytes.IndexByte(plain[len(plain)/2:], '\n') + len(plain)/2 + 1
	long := slices.Concat(plain[:mid], bytes.Repeat([]byte("x"), 3<<20), []byte("\n"), plain[mid:])
	for _, tc := range []struct {
		name string
		data []byte
		cut  int64
	}{{"plain", plain, 0}, {"a line of 3 MiB", long, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			readsProxyLogLikeTheScanner(t, tc.data, tc.cut)
		})
	}
}

// readsProxyLogLikeTheScanner checks that the block reader, over reads and
// a mapping with any block size, finds in data, a proxy's log, what the
// Scanner finds, and that each counts cut records cut.
func readsProxyLogLikeTheScanner(t *testing.T, data []byte, cut int64) {
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
	if len(want) == 0 || wantSum.Cut != cut {
		t.Fatalf("the scanner found %d events and cut %d records, want some and %d", len(want), wantSum.Cut, cut)
	}
	path := writeTemp(t, data)
	for _, size := range []int{4 << 10, 64 << 10, blockSize} {
		for how, src := range map[string]func() *blockSource{
			"read": func() *blockSource {
				return readBlocks(context.Background(), readerCounts{name: "x"}, iotest.HalfReader(bytes.NewReader(data)), nil, heapBuffers(size), nil, true)
			},
			"mapped": func() *blockSource { return mappedBlocks(t, readerCounts{name: "x"}, path, size, true) },
		} {
			got, sum := collect(src())
			if !slices.Equal(got, want) {
				t.Errorf("%s block %d: %d events, the scanner's %d", how, size, len(got), len(want))
			}
			if sum.Lines != wantSum.Lines || sum.Records != wantSum.Records || sum.Cut != cut || sum.Bytes != int64(len(data)) ||
				fmt.Sprint(sum.Events) != fmt.Sprint(wantSum.Events) {
				t.Errorf("%s block %d: summary %+v\nscanner %+v; want %d cut and %d bytes", how, size, sum, wantSum, cut, len(data))
			}
		}
	}
}

func count(alerts []string, prefix string) int {
	n := 0
	for _, a := range alerts {
		if strings.HasPrefix(a, prefix) {
			n++
		}
	}
	return n
}

func nginxLine(clock, client string) string {
	return fmt.Sprintf("%s - - [23/Nov/2026:%s +0000] \"POST /auth/idp/k8sIdp/token HTTP/2.0\" 200 1893 \"-\" \"Go-http-client/2.0\" 412 0.015 [openunison-orchestra-443] [] 10.1.80.10:8443 1893 0.014 200 r\n", client, clock)
}

// A followed proxy log is read a line a record, its token requests counted,
// and its clock (the proxy records' times) tells the watcher it has moved
// past a reuse, which then waits for no settle time.
func TestWatchFollowsProxyLogs(t *testing.T) {
	t.Parallel()
	h := newWatchHarness(t, time.Hour)
	h.send("ingress", "I1123 09:59:59.000000       7 controller.go:214] \"Backend successfully reloaded\"\n"+
		nginxLine("10:00:01", "198.51.100.40")+nginxLine("10:00:05", "192.0.2.99")+nginxLine("10:00:06", "192.0.2.7"))
	h.send("pod-a", refreshLine("10:00:00,000", "198.51.100.40", "fa")+reuseLines("10:00:01,500", "192.0.2.99", "fb"))
	h.idle("pod-a")
	h.waitFor("reuse-ip-mismatch", 1)
	if h.count("reuse-ip-mismatch") != 1 {
		t.Fatal("the reuse waited for the proxy log, which was past it")
	}
	close(h.batches)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	// All three: a proxy's line is a whole record, handed out as read, not
	// held for continuation lines its log never has.
	if st := h.w.Stats(); st.Events[parser.KindProxy] != 3 || st.ParseErrors != 0 {
		t.Errorf("stats %+v: want the three proxy records handed out", st)
	}
}
