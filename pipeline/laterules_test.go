package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/rules"
)

// Rules compiled on their own goroutine (LoadRules) judge exactly what
// rules given up front do: the same alerts, byte for byte, the same events
// judged, the same summary, inline and on the detect stage, whatever the
// batch size.
func TestLateRulesAgreeWithRules(t *testing.T) {
	t.Parallel()
	for _, tc := range stageCases()[:2] {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inputs := tc.inputs(t, 1)
			want := traceScan(t, inputs, true, 0)
			if len(want.alerts) == 0 {
				t.Fatal("no alerts: the case proves nothing")
			}
			for _, c := range []struct {
				inline bool
				batch  int
			}{{true, 0}, {false, smallBatch}, {false, 0}} {
				t.Run(fmt.Sprintf("inline%v/batch%d", c.inline, c.batch), func(t *testing.T) {
					got := traceScanWith(t, inputs, func(o *ScanOptions) {
						o.Rules, o.inlineDetect, o.detectBatch = nil, c.inline, c.batch
						o.LoadRules = func() (*rules.Set, error) { return rules.Load() }
					})
					agree(t, got, want)
				})
			}
		})
	}
}

// A rule set that fails to compile ends the scan with its error, as
// returned, before anything is judged or delivered: on a log with alerts,
// on an empty one (no event ever waits for the rules), inline and on the
// detect stage.
func TestLateRulesErrorStopsTheScan(t *testing.T) {
	t.Parallel()
	alerting := stageCases()[0].inputs(t, 1)
	bad := errors.New("rules.yaml:3:7: when: unexpected token")
	for _, c := range []struct {
		name   string
		inputs [][]byte
		inline bool
	}{{"alerts/stage", alerting, false}, {"alerts/inline", alerting, true}, {"empty/stage", [][]byte{nil}, false}, {"empty/inline", [][]byte{nil}, true}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := make([]Input, len(c.inputs))
			for i, b := range c.inputs {
				in[i] = Input{Name: fmt.Sprintf("in%d.log", i), R: bytes.NewReader(b)}
			}
			delivered := 0
			_, err := Scan(context.Background(), in, ScanOptions{
				LoadRules:    func() (*rules.Set, error) { return nil, bad },
				Deliver:      func(context.Context, []alert.Alert) error { delivered++; return nil },
				inlineDetect: c.inline,
			})
			if err != bad {
				t.Fatalf("err = %v, want %v as returned", err, bad)
			}
			if delivered != 0 {
				t.Errorf("%d alert groups delivered before the rules failed", delivered)
			}
		})
	}
}

// A rule set that fails to compile is a configuration error (exit 2), and
// it wins over the scan being cancelled meanwhile (a SIGINT, which would
// be a runtime error): the rules would have failed first had they been
// compiled before the scan started, as they were before they overlapped it.
func TestLateRulesErrorWinsOverACancel(t *testing.T) {
	t.Parallel()
	bad := errors.New("rules.yaml:3:7: when: unexpected token")
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline%v", inline), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			in := []Input{{Name: "in.log", R: bytes.NewReader(stageCases()[0].inputs(t, 1)[0])}}
			_, err := Scan(ctx, in, ScanOptions{
				LoadRules:    func() (*rules.Set, error) { cancel(); return nil, bad },
				Deliver:      func(context.Context, []alert.Alert) error { return nil },
				inlineDetect: inline,
			})
			if !errors.Is(err, bad) {
				t.Fatalf("err = %v, want the rules' error %v", err, bad)
			}
		})
	}
}
