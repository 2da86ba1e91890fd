package main

import (
	"bytes"
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/attribute"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
)

func TestProgressBarDraw(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var done atomic.Int64
	p := &progressBar{w: &buf, analysed: &done, total: 200e6, start: time.Now().Add(-time.Second)}
	done.Store(50e6)
	p.draw()
	got := buf.String()
	for _, want := range []string{"\r[=======", " 25% ", "50.0 MB / 200.0 MB", "MB/s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	if p := startProgress(&buf, &done, 1<<40); p != nil {
		t.Error("a progress bar was started on a writer that is no terminal")
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSummary(&buf, 2, pipeline.Summary{
		Bytes: 123456789, Lines: 1234567, Records: 1200000, ParseErrors: 3, Cut: 1,
		Events:    map[parser.Kind]int64{parser.KindGraceReuse: 12, parser.KindOther: 1199988},
		Alerts:    map[string]int64{"reuse-new-ip": 2, "reuse-ip-mismatch": 3},
		Throttled: map[string]int64{"reuse-ip-mismatch": 4},
		Elapsed:   100 * time.Millisecond,
	}, 0, false)
	want := "graceguard: scanned 2 files, 123.5 MB in 100ms (1,235 MB/s)\n" +
		"  lines 1,234,567, records 1,200,000, parse errors 3, cut 1\n" +
		"  events grace_reuse 12 token_ok 0 token_fail 0 login 0 other 1,199,988\n" +
		"  alerts reuse-ip-mismatch 3 reuse-new-ip 2 (4 more held back by the rules' throttle: one alert per rule and user per window)\n" +
		"  next: graceguard timeline '<user DN>' FILE... shows a user's refreshes, reuses and refusals around an alert\n"
	if buf.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	at := attribute.Stats{UnattributedReuses: 3, Unattributed: map[netip.Addr]int64{netip.MustParseAddr("10.1.67.12"): 5}}
	at.Outcomes[parser.AttrUnattributed], at.Outcomes[parser.AttrDirect] = 5, 2
	writeSummary(&buf, 1, pipeline.Summary{Events: map[parser.Kind]int64{}, Attribution: at}, 0, false)
	for _, want := range []string{
		"clients: joined 0, ambiguous 0, unattributed 5, direct 2",
		"note: 3 grace reuses came through a proxy (10.1.67.12) whose access log was not given",
		"kubectl logs -n ingress-nginx",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary %q lacks %q", buf.String(), want)
		}
	}
	for d, want := range map[time.Duration]string{1234 * time.Millisecond: "1.23s", 45 * time.Millisecond: "45ms", 873 * time.Microsecond: "870µs"} {
		if got := roundElapsed(d); got != want {
			t.Errorf("roundElapsed(%s) = %s, want %s", d, got, want)
		}
	}
}

// The summary's rate is a figure a person can use: a small input's says
// only how long graceguard took to start (leave it out), and a slow
// stream's is under 1 MB/s, which read "0 MB/s".
func TestSummaryRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		bytes   int64
		elapsed time.Duration
		want    string
	}{
		{9128, 20 * time.Millisecond, "graceguard: scanned 1 file, 9.1 kB in 20ms\n"},
		{999_000, time.Second, "graceguard: scanned 1 file, 999.0 kB in 1s\n"},
		{1_000_000, 2 * time.Second, "graceguard: scanned 1 file, 1.0 MB in 2s (500 kB/s)\n"},
		{50_000_000, 10 * time.Minute, "graceguard: scanned 1 file, 50.0 MB in 10m0s (83 kB/s)\n"},
		{3_000_000, 50 * time.Minute, "graceguard: scanned 1 file, 3.0 MB in 50m0s (1.0 kB/s)\n"},
		{5_000_000, 2 * time.Second, "graceguard: scanned 1 file, 5.0 MB in 2s (2.5 MB/s)\n"},
		{123_456_789, 100 * time.Millisecond, "graceguard: scanned 1 file, 123.5 MB in 100ms (1,235 MB/s)\n"},
	} {
		var buf bytes.Buffer
		writeSummary(&buf, 1, pipeline.Summary{Bytes: tt.bytes, Elapsed: tt.elapsed, Events: map[parser.Kind]int64{}}, 0, false)
		if first, _, _ := strings.Cut(buf.String(), "\n"); first+"\n" != tt.want {
			t.Errorf("%d bytes in %s: %q, want %q", tt.bytes, tt.elapsed, first+"\n", tt.want)
		}
	}
}

// An interrupted scan does not read as one of an empty input: it judged
// nothing because it was stopped, or judged only part of what it read.
func TestSummaryOfAnInterruptedScan(t *testing.T) {
	t.Parallel()
	none := pipeline.Summary{Events: map[parser.Kind]int64{}, Interrupted: true, Inputs: []pipeline.InputKind{{Name: "-"}}}
	some := none
	some.Inputs = []pipeline.InputKind{{Name: "-", OpenUnison: 40}}
	some.Events = map[parser.Kind]int64{parser.KindTokenOK: 13, parser.KindOther: 27}
	for _, tt := range []struct {
		name      string
		s         pipeline.Summary
		want      string
		wantQuiet string
	}{
		{"before any record was judged", none, "alerts none: nothing was judged: interrupted (SIGINT or SIGTERM) before any record was judged\n",
			"graceguard: nothing was judged: interrupted (SIGINT or SIGTERM) before any record was judged\n"},
		{"after some were", some, "note: interrupted (SIGINT or SIGTERM) before the input ended", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf, quiet bytes.Buffer
			writeSummary(&buf, 1, tt.s, 0, false)
			writeNothingJudged(&quiet, tt.s, 0)
			if !strings.Contains(buf.String(), tt.want) || strings.Contains(buf.String(), "no OpenUnison record") {
				t.Errorf("summary:\n%s\nwant %q and no input called empty", buf.String(), tt.want)
			}
			if quiet.String() != tt.wantQuiet {
				t.Errorf("quiet: %q, want %q", quiet.String(), tt.wantQuiet)
			}
		})
	}
}

// Rule errors are counted by rule, so the one to fix is named.
func TestSummaryNamesTheRulesThatFailed(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSummary(&buf, 1, pipeline.Summary{
		Events:     map[parser.Kind]int64{},
		Inputs:     []pipeline.InputKind{{Name: "x", OpenUnison: 1}},
		RuleErrors: map[string]int64{"my-rule": 3, "another": 2},
	}, 0, false)
	if want := "rule errors 5: another 2, my-rule 3 ("; !strings.Contains(buf.String(), want) {
		t.Errorf("summary:\n%s\nwant %q", buf.String(), want)
	}
}

// Refused refreshes judged before the other logs' refreshes before them,
// past the cap on those waiting, are said: a chain-takeover may be missed.
func TestSummarySaysRefusalsJudgedEarly(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSummary(&buf, 1, pipeline.Summary{Events: map[parser.Kind]int64{}, Inputs: []pipeline.InputKind{{Name: "x", OpenUnison: 1}},
		Correlation: correlate.CorrelatorStats{RefusalsJudgedEarly: 1200}}, 0, false)
	if want := "refusals judged early 1,200: "; !strings.Contains(buf.String(), want) {
		t.Errorf("summary:\n%s\nwant %q", buf.String(), want)
	}
	buf.Reset()
	writeSummary(&buf, 1, pipeline.Summary{Events: map[parser.Kind]int64{}, Inputs: []pipeline.InputKind{{Name: "x", OpenUnison: 1}}}, 0, false)
	if strings.Contains(buf.String(), "judged early") {
		t.Errorf("none judged early, yet:\n%s", buf.String())
	}
}

// Lines of another format in a file are counted as framing errors, and the
// summary says what that cost: their records were not judged.
func TestSummaryExplainsFramingErrors(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSummary(&buf, 1, pipeline.Summary{Events: map[parser.Kind]int64{}, FramingErrors: 27, Inputs: []pipeline.InputKind{{Name: "x", OpenUnison: 20}}}, 0, false)
	for _, want := range []string{"framing errors 27", "note: 27 lines were not in the format of the file it was in", "was not judged"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary:\n%s\nwant %q", buf.String(), want)
		}
	}
}

// A size is said in the largest unit it rounds to at least one of:
// 999,999 bytes rounded to one decimal in kB made "1000.0 kB" (and so on
// at every unit, GB last, so a petabyte read "1000000.00 GB"), where a
// person reads "1.0 MB". Each boundary, the bytes either side of it, and
// the last value that still rounds below it.
func TestHumanBytesAtEveryUnitBoundary(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{999, "999 B"},
		{1_000, "1.0 kB"},
		{1_001, "1.0 kB"},
		{1_049, "1.0 kB"},
		{1_050, "1.1 kB"},
		{999_949, "999.9 kB"},
		{999_950, "1.0 MB"},
		{999_999, "1.0 MB"},
		{1_000_000, "1.0 MB"},
		{1_000_001, "1.0 MB"},
		{999_949_999, "999.9 MB"},
		{999_950_000, "1.00 GB"},
		{999_999_999, "1.00 GB"},
		{1_000_000_000, "1.00 GB"},
		{1_000_000_001, "1.00 GB"},
		{999_994_999_999, "999.99 GB"},
		{999_995_000_000, "1.00 TB"},
		{999_999_999_999, "1.00 TB"},
		{1_000_000_000_000, "1.00 TB"},
		{1_000_000_000_001, "1.00 TB"},
		{999_994_999_999_999, "999.99 TB"},
		{999_999_999_999_999, "1.00 PB"},
		{1_000_000_000_000_000, "1.00 PB"},
		{1_000_000_000_000_001, "1.00 PB"},
		{999_999_999_999_999_999, "1.00 EB"},
		{1_000_000_000_000_000_000, "1.00 EB"},
		{1_000_000_000_000_000_001, "1.00 EB"},
		{math.MaxInt64, "9.22 EB"},
	} {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// The rate, likewise: just under 1 MB/s read "1000 kB/s", just under
// 10 MB/s "10.0 MB/s".
func TestSummaryRateAtTheUnitBoundary(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		bytes   int64
		elapsed time.Duration
		want    string
	}{
		{999_499_999, 1000 * time.Second, " (999 kB/s)"},
		{999_500_000, 1000 * time.Second, " (1.0 MB/s)"},
		{999_999_999, 1000 * time.Second, " (1.0 MB/s)"},
		{1_000_000_000, 1000 * time.Second, " (1.0 MB/s)"},
		{1_000_000_001, 1000 * time.Second, " (1.0 MB/s)"},
		// The precision is chosen on the rounded figure: what rounds to
		// 10 of a unit is said as 10 is ("10 MB/s", not "10.0 MB/s").
		{1_000_000, 1000 * time.Second, " (1.0 kB/s)"},
		{9_949_999, 1000 * time.Second, " (9.9 kB/s)"},
		{9_950_001, 1000 * time.Second, " (10 kB/s)"},
		{9_999_999, 1000 * time.Second, " (10 kB/s)"},
		{10_000_000, 1000 * time.Second, " (10 kB/s)"},
		{10_499_999, 1000 * time.Second, " (10 kB/s)"},
		{10_500_001, 1000 * time.Second, " (11 kB/s)"},
		{9_949_999_999, 1000 * time.Second, " (9.9 MB/s)"},
		{9_950_000_001, 1000 * time.Second, " (10 MB/s)"},
		{9_999_999_999, 1000 * time.Second, " (10 MB/s)"},
		{10_000_000_000, 1000 * time.Second, " (10 MB/s)"},
		// Whole MB/s are rounded as every other figure is, not cut:
		// 10.9 MB/s read "10 MB/s" while 9.96 read "10.0".
		{10_499_999_999, 1000 * time.Second, " (10 MB/s)"},
		{10_500_000_001, 1000 * time.Second, " (11 MB/s)"},
		{999_499_999_999, 1000 * time.Second, " (999 MB/s)"},
		{999_500_000_001, 1000 * time.Second, " (1,000 MB/s)"},
		{1_234_567_890_123, 1000 * time.Second, " (1,235 MB/s)"},
	} {
		if got := rateOf(tt.bytes, tt.elapsed); got != tt.want {
			t.Errorf("rateOf(%d, %s) = %q, want %q", tt.bytes, tt.elapsed, got, tt.want)
		}
	}
}
