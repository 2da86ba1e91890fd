package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/rules"
)

// RuleTestResult is the outcome of one of a rule's embedded tests.
type RuleTestResult struct {
	Rule   string
	File   string
	Test   rules.TestCase
	Got    []alert.Alert // the alerts this rule raised
	Failed bool
	Reason string
}

// TestRules runs the embedded tests of every rule in set, each through a
// fresh pipeline with the whole set enabled (so the rules meet as they will
// in production), and judges the alerts of the rule the test belongs to.
// Addresses are placed with g (the demo databases, unless the user names
// others), so geo rules can be tested with documentation addresses.
func TestRules(ctx context.Context, set *rules.Set, loc *time.Location, g correlate.GeoLookup) []RuleTestResult {
	var results []RuleTestResult
	for _, r := range set.Rules {
		for _, tc := range r.Tests {
			got, err := runRuleTest(ctx, set, r.Name, tc, loc, g)
			res := RuleTestResult{Rule: r.Name, File: r.File, Test: tc, Got: got}
			if err != nil {
				res.Failed, res.Reason = true, err.Error()
			} else if reason := compareExpect(tc.Expect, got); reason != "" {
				res.Failed, res.Reason = true, reason
			}
			results = append(results, res)
		}
	}
	return results
}

func runRuleTest(ctx context.Context, set *rules.Set, rule string, tc rules.TestCase, loc *time.Location, g correlate.GeoLookup) ([]alert.Alert, error) {
	var got []alert.Alert
	det := NewDetector(correlate.NewMemory(correlate.Limits{}), set, 0, func(_ context.Context, group []alert.Alert) error {
		for _, a := range group {
			if a.Rule == rule {
				got = append(got, a)
			}
		}
		return nil
	})
	det.UseGeo(g)
	events := tc.Events
	if tc.Log != "" {
		var err error
		if events, err = parseExcerpt(tc.Log, loc); err != nil {
			return nil, err
		}
	}
	for i := range events {
		if err := det.Observe(ctx, &events[i]); err != nil {
			return got, err
		}
	}
	return got, det.Flush(ctx)
}

func parseExcerpt(log string, loc *time.Location) ([]parser.Event, error) {
	sc := parser.NewScanner(strings.NewReader(log))
	var events []parser.Event
	for sc.Scan() {
		rec := sc.Record()
		ev, err := parser.Parse(rec.Text, loc)
		if err != nil {
			return nil, fmt.Errorf("log line %d: %w", rec.Line, err)
		}
		ev.Source, ev.Offset = "test", rec.Offset
		events = append(events, ev)
	}
	return events, sc.Err()
}

func compareExpect(want []rules.Expectation, got []alert.Alert) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %d alert(s), got %d%s", len(want), len(got), describe(got))
	}
	for i, w := range want {
		g := got[i]
		switch {
		case w.Severity != 0 && w.Severity != g.Severity:
			return fmt.Sprintf("alert %d: want severity %s, got %s", i+1, w.Severity, g.Severity)
		case w.User != "" && w.User != g.User:
			return fmt.Sprintf("alert %d: want user %q, got %q", i+1, w.User, g.User)
		case w.IP != "" && w.IP != g.IP:
			return fmt.Sprintf("alert %d: want ip %s, got %s", i+1, w.IP, g.IP)
		case w.PrevIP != "" && w.PrevIP != g.PrevIP:
			return fmt.Sprintf("alert %d: want prev_ip %s, got %s", i+1, w.PrevIP, g.PrevIP)
		}
	}
	return ""
}

func describe(got []alert.Alert) string {
	if len(got) == 0 {
		return ""
	}
	parts := make([]string, len(got))
	for i, a := range got {
		parts[i] = fmt.Sprintf("%s %s from %s at %s", a.Severity, a.User, a.IP, a.Time.UTC().Format(alert.TimeFormat))
	}
	return ": " + strings.Join(parts, "; ")
}
