package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
)

func newRulesCmd(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate rule files and run their embedded tests",
	}
	cmd.AddCommand(newRulesCheckCmd(io, nil), newRulesTestCmd(io, nil))
	return cmd
}

type rulesCheckOptions struct {
	io    streams
	files []string
}

func newRulesCheckCmd(io streams, runF func(context.Context, *rulesCheckOptions) error) *cobra.Command {
	o := &rulesCheckOptions{io: io}
	if runF == nil {
		runF = runRulesCheck
	}
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Check rule files: YAML, keys, severities, durations and expressions",
		Long: `Check reads each rule file as graceguard would load it (on top of the built-in
rules) and reports every problem as FILE:LINE:COLUMN: message. It exits 2 when
any file has a problem, 0 when all are valid.`,
		Args: minArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runF(cmd.Context(), o)
		},
	}
}

func runRulesCheck(_ context.Context, o *rulesCheckOptions) error {
	files, sameAs, err := readRuleFiles("rule file", o.files)
	if err != nil {
		return err
	}
	set, err := compileRulesWith(rules.Load, files)
	if err != nil {
		var problems rules.Problems
		if errors.As(err, &problems) {
			fmt.Fprintln(o.io.errOut, problems.Error())
			fmt.Fprintf(o.io.errOut, "%d %s\n", len(problems), pluralProblems(len(problems)))
			return silentError{exitUsage}
		}
		return err
	}
	for i, f := range o.files {
		if sameAs[i] != "" {
			fmt.Fprintf(o.io.out, "%s: the same file as %s, read once\n", f, sameAs[i])
			continue
		}
		n := 0
		for _, r := range set.Rules {
			// A file of the user's may be called builtin.yaml too; a
			// rule it defines with enabled: false is not in effect.
			if r.File == f && !r.Builtin && r.Enabled {
				n++
			}
		}
		fmt.Fprintf(o.io.out, "%s: ok (%d %s in effect)\n", f, n, plural(n, "rule", "rules"))
	}
	return nil
}

func pluralProblems(n int) string { return plural(n, "problem", "problems") }

type rulesTestOptions struct {
	io      streams
	files   []string
	verbose bool
	geo     geoFlags
}

func newRulesTestCmd(io streams, runF func(context.Context, *rulesTestOptions) error) *cobra.Command {
	o := &rulesTestOptions{io: io}
	if runF == nil {
		runF = runRulesTest
	}
	cmd := &cobra.Command{
		Use:   "test [FILE...]",
		Short: "Run the tests embedded in rule files (and the built-in rules' own)",
		Long: `Test loads the built-in rules and the files given, then runs every rule's
"tests:" cases: each feeds a log excerpt or a list of events through a fresh
pipeline with the whole rule set and compares the alerts that rule raised with
"expect". Addresses are placed with the demo GeoIP databases (the documentation
ranges in cities on several continents; see "graceguard geo lookup") unless
--geoip-city/--geoip-asn name others. It exits 1 when a test fails and 2 when a
file is invalid.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return runF(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "list passing tests too")
	o.geo.addFlags(cmd.Flags())
	return cmd
}

func runRulesTest(ctx context.Context, o *rulesTestOptions) error {
	set, err := loadRulesWith(rules.Load, o.files)
	if err != nil {
		return err
	}
	geoDB, err := o.geo.open()
	if err != nil {
		return err
	}
	if geoDB == nil {
		if geoDB, err = geo.Demo(); errors.Is(err, geo.ErrNoDemo) {
			// Rules that need no places are still worth testing; the note
			// explains the failures of those that do.
			fmt.Fprintf(o.io.errOut, "graceguard: note: %v; rule tests run without places or networks, "+
				"so tests that expect geo or network alerts (reuse-geo-jump, reuse-new-asn) fail\n", err)
		} else if err != nil {
			return err
		}
	}
	results := pipeline.TestRules(ctx, set, time.UTC, geoLookup(geoDB))
	failed := 0
	for _, r := range results {
		name := fmt.Sprintf("%s / %s (%s:%d)", r.Rule, r.Test.Name, r.File, r.Test.Pos.Line)
		if r.Failed {
			failed++
			fmt.Fprintf(o.io.out, "FAIL %s\n     %s\n", name, strings.ReplaceAll(r.Reason, "\n", "\n     "))
		} else if o.verbose {
			fmt.Fprintf(o.io.out, "ok   %s\n", name)
		}
	}
	fmt.Fprintf(o.io.out, "rule tests: %d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return silentError{exitRuntime}
	}
	return nil
}

// minArgs is cobra.MinimumNArgs with a usage error.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs at least %d %s", commandName(cmd), n, what)
		}
		return nil
	}
}
