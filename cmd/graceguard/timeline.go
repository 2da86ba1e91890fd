package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/timeline"
)

type timelineOptions struct {
	io        streams
	user      string
	files     []string
	format    string
	ruleFiles []string
	timezone  string
	geo       geoFlags
	proxies   proxyFlags
	// maxEntries is zero (timeline.MaxEntries) but in tests, which show the
	// cap's note without writing a hundred thousand lines.
	maxEntries int
}

func newTimelineCmd(io streams, runF func(context.Context, *timelineOptions) error) *cobra.Command {
	o := &timelineOptions{io: io}
	if runF == nil {
		runF = runTimeline
	}
	cmd := &cobra.Command{
		Use:   "timeline [flags] USER [FILE...|-]",
		Short: "Show one user's refreshes, reuses, refusals and alerts in order",
		Long: `Timeline reads OpenUnison logs as scan does and prints one user's history: every
refresh, grace reuse, refused refresh attributed to the user and login, in log
order, with the client address, agent and proxy (when attribution knows them),
place (with --geoip-city/--geoip-asn), the interval from the previous entry and
the alerts each raised. It is what to open after an alert; USER is the DN the
alert names, or a uid. Without FILE it reads stdin.

Exit status: 0 when every file was read, 1 when one could not be, 2 for a usage
or rule-file error.`,
		Example: `  graceguard timeline 'uid=mmosley,ou=shadow,o=Tremolo' pod-a.log pod-b.log
  graceguard timeline --format json mmosley pod-*.log | jq .`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || strings.TrimSpace(args[0]) == "" {
				return usageErrorf("timeline needs a USER (the DN an alert names, or a uid)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.user, o.files = args[0], args[1:]
			if len(o.files) == 0 {
				o.files = []string{"-"}
			}
			if o.format != "text" && o.format != "json" {
				return usageErrorf("--format %q: want text or json", o.format)
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output: text or json (one object per line)")
	f.StringArrayVar(&o.ruleFiles, "rules", nil, "rule `FILE` as for scan, for the alerts shown (repeatable)")
	f.StringVar(&o.timezone, "timezone", "UTC", "time zone OpenUnison's timestamps are in (IANA name)")
	o.geo.addFlags(f)
	// The proxies' logs are joined as scan joins them: the timeline of an
	// alert shows the client scan named.
	o.proxies.addFlags(f)
	return cmd
}

func runTimeline(ctx context.Context, o *timelineOptions) error {
	loc, err := time.LoadLocation(o.timezone)
	if err != nil {
		return usageErrorf("--timezone: %w", err)
	}
	set, err := loadRules(o.ruleFiles)
	if err != nil {
		return err
	}
	attribution, err := o.proxies.attribution()
	if err != nil {
		return err
	}
	geoDB, err := o.geo.open()
	if err != nil {
		return err
	}
	inputs, _, notes, openErrs := openInputs(ctx, o.files, o.io)
	defer closeInputs(inputs)
	for _, n := range notes {
		fmt.Fprintln(o.io.errOut, "graceguard: note:", n)
	}
	tl := timeline.New(o.user)
	tl.Max = o.maxEntries
	sum, scanErr := pipeline.Scan(ctx, pipelineInputs(inputs), pipeline.ScanOptions{
		Location: loc, Rules: set, Geo: geoLookup(geoDB), Observer: tl.Observe, Attribution: attribution,
		Deliver: func(context.Context, []alert.Alert) error { return nil },
	})
	// A file that could not be read, or a signal, leaves what was judged
	// to print: the exit status and the last line say the rest.
	var readErr *pipeline.ReadError
	if scanErr != nil && !errors.As(scanErr, &readErr) && !(sum.Interrupted && errors.Is(scanErr, context.Canceled)) {
		return scanErr
	}
	// "No refresh … of USER in the logs" must not read as a clean record
	// when the inputs held no OpenUnison log at all.
	writeNothingJudged(o.io.errOut, sum, streamBytesUnjudged(inputs, sum))
	// What the timeline cannot show is said, as scan's summary says it:
	// an event a rule failed on shows none of that rule's alerts.
	if line := ruleErrorsLine(sum); line != "" {
		fmt.Fprintln(o.io.errOut, "graceguard: note:", line)
	}
	if o.format == "json" && len(tl.Entries) == 0 {
		// The text says so on stdout; no JSON line says it, and a user
		// misspelt must not look like a clean history.
		fmt.Fprintln(o.io.errOut, "graceguard: note:", tl.NothingFound())
	}
	if o.format == "json" && tl.Dropped > 0 {
		// The text says so on its first line; JSON lines have no place for it.
		fmt.Fprintf(o.io.errOut, "graceguard: note: %s earlier %s of %s dropped: a timeline keeps the latest %s\n",
			commas(int64(tl.Dropped)), plural(tl.Dropped, "entry", "entries"), o.user, commas(int64(tl.Cap())))
	}
	write := tl.WriteText
	if o.format == "json" {
		write = tl.WriteJSON
	}
	if err := write(o.io.out); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return errors.Join(append(openErrs, scanErr)...)
}
