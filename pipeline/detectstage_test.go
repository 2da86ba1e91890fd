package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/rules"
)

// stageCase is a set of generated inputs: OpenUnison's logs, with or
// without proxies' logs.
type stageCase struct {
	name   string
	inputs func(t *testing.T, seed int64) [][]byte
}

func stageCases() []stageCase {
	buffers := func(n int) ([]bytes.Buffer, []io.Writer) {
		bs := make([]bytes.Buffer, n)
		ws := make([]io.Writer, n)
		for i := range bs {
			ws[i] = &bs[i]
		}
		return bs, ws
	}
	all := func(groups ...[]bytes.Buffer) [][]byte {
		var out [][]byte
		for _, g := range groups {
			for i := range g {
				out = append(out, g[i].Bytes())
			}
		}
		return out
	}
	return []stageCase{
		{"three replicas", func(t *testing.T, seed int64) [][]byte {
			bs, ws := buffers(3)
			if _, err := loggen.WriteReplicas(ws, loggen.Config{Size: 2 << 20, Seed: seed, ReplayShare: 0.02, Users: 60}); err != nil {
				t.Fatal(err)
			}
			return all(bs)
		}},
		{"lifecycle", func(t *testing.T, seed int64) [][]byte {
			var b bytes.Buffer
			if _, err := loggen.Lifecycle(&b, loggen.LifecycleConfig{Seed: seed}); err != nil {
				t.Fatal(err)
			}
			return [][]byte{b.Bytes()}
		}},
		{"replicas behind nginx", func(t *testing.T, seed int64) [][]byte {
			ous, ows := buffers(2)
			pxs, pws := buffers(2)
			if _, _, err := loggen.WritePaired(ows, loggen.Config{Size: 3 << 20, Seed: seed, ReplayShare: 0.02},
				loggen.Proxy{Format: loggen.ProxyNginx, Writers: pws}); err != nil {
				t.Fatal(err)
			}
			return all(ous, pxs)
		}},
		{"lifecycle behind istio", func(t *testing.T, seed int64) [][]byte {
			ous, ows := buffers(2)
			pxs, pws := buffers(2)
			// Half the proxies' lines other traffic, not loggen's 98%: the
			// other lines never reach the detector (the same events are
			// judged, with the same alerts, store and attribution, either
			// way), and at 98% each seed made 80 MB of proxy logs, a
			// second or two of CPU to write and to scan three times.
			if _, _, err := loggen.LifecycleBehind(ows, loggen.LifecycleConfig{Seed: seed},
				loggen.Proxy{Format: loggen.ProxyIstio, Writers: pws, NoiseShare: 0.5}); err != nil {
				t.Fatal(err)
			}
			return all(ous, pxs)
		}},
	}
}

// scanTrace is everything a scan hands out, in order: the alerts as JSON
// (the bytes `scan --format json` prints), what the Observer saw, and the
// summary without its wall time.
type scanTrace struct {
	alerts   []byte
	observed []string
	sum      Summary
}

func traceScan(t *testing.T, inputs [][]byte, inline bool, batch int) scanTrace {
	t.Helper()
	return traceScanWith(t, inputs, func(o *ScanOptions) { o.inlineDetect, o.detectBatch = inline, batch })
}

// traceScanWith is traceScan with the options set changes.
func traceScanWith(t *testing.T, inputs [][]byte, set func(*ScanOptions)) scanTrace {
	t.Helper()
	var tr scanTrace
	in := make([]Input, len(inputs))
	for i, b := range inputs {
		in[i] = Input{Name: fmt.Sprintf("in%d.log", i), R: bytes.NewReader(b)}
	}
	opt := ScanOptions{
		Rules: rules.Builtin(),
		Deliver: func(_ context.Context, g []alert.Alert) error {
			for _, a := range g {
				b, err := json.Marshal(a)
				if err != nil {
					return err
				}
				tr.alerts = append(append(tr.alerts, b...), '\n')
			}
			return nil
		},
		Observer: func(c *correlate.Context, as []alert.Alert) {
			tr.observed = append(tr.observed, fmt.Sprintf("%s %s:%d %s %d", c.Event.Kind, c.Event.Source, c.Event.Offset, c.Event.IP, len(as)))
		},
	}
	set(&opt)
	sum, err := Scan(context.Background(), in, opt)
	if err != nil {
		t.Fatal(err)
	}
	sum.Elapsed = 0
	tr.sum = sum
	return tr
}

// Judging on a goroutine of its own must hand out exactly what judging
// inline did: the same alerts, byte for byte and in the same order, the
// same events judged in the same order, the same summary.
func TestDetectStageAgreesWithInline(t *testing.T) {
	t.Parallel()
	for _, tc := range stageCases() {
		for _, seed := range []int64{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/seed%d", tc.name, seed), func(t *testing.T) {
				t.Parallel()
				inputs := tc.inputs(t, seed)
				want := traceScan(t, inputs, true, 0)
				if len(want.observed) < 2*smallBatch {
					t.Fatalf("only %d events judged: the case does not cross batches", len(want.observed))
				}
				if len(want.alerts) == 0 {
					t.Fatal("no alerts: the case proves nothing about their order")
				}
				for _, batch := range []int{smallBatch, 0} {
					t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
						agree(t, traceScan(t, inputs, false, batch), want)
					})
				}
			})
		}
	}
}

// smallBatch is a batch size for the tests: odd, so batches end at every
// kind of place, and small, so every case crosses hundreds of them.
const smallBatch = 7

func agree(t *testing.T, got, want scanTrace) {
	t.Helper()
	if !bytes.Equal(got.alerts, want.alerts) {
		t.Errorf("alerts differ:\n got %d bytes\nwant %d bytes\n got:\n%s\nwant:\n%s", len(got.alerts), len(want.alerts), got.alerts, want.alerts)
	}
	if !reflect.DeepEqual(got.observed, want.observed) {
		t.Errorf("judged events differ: got %d, want %d", len(got.observed), len(want.observed))
		for i := range min(len(got.observed), len(want.observed)) {
			if got.observed[i] != want.observed[i] {
				t.Errorf("first difference at %d: got %q, want %q", i, got.observed[i], want.observed[i])
				break
			}
		}
	}
	if !reflect.DeepEqual(got.sum, want.sum) {
		t.Errorf("summaries differ:\n got %+v\nwant %+v", got.sum, want.sum)
	}
}

// A Deliver that fails stops the scan with its error, whichever batch it
// fails in, and nothing is judged after it.
func TestDetectStageStopsOnDeliverError(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if _, err := loggen.Write(&buf, loggen.Config{Size: 2 << 20, Seed: 3, ReplayShare: 0.05}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	boom := errors.New("stdout closed")
	for _, c := range []struct{ after, batch int }{{0, 0}, {1, 0}, {5, 0}, {0, smallBatch}, {5, smallBatch}} {
		after := c.after
		t.Run(fmt.Sprintf("after%d/batch%d", c.after, c.batch), func(t *testing.T) {
			t.Parallel()
			groups := 0
			_, err := Scan(context.Background(), []Input{{Name: "x", R: bytes.NewReader(data)}}, ScanOptions{
				Rules: rules.Builtin(),
				Deliver: func(context.Context, []alert.Alert) error {
					groups++
					if groups > after {
						return boom
					}
					return nil
				},
				detectBatch: c.batch,
			})
			if !errors.Is(err, boom) {
				t.Fatalf("err = %v, want %v", err, boom)
			}
			if groups != after+1 {
				t.Errorf("Deliver called %d times, want %d: judging went on after the error", groups, after+1)
			}
		})
	}
}
