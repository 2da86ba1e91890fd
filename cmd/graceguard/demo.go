package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/demo"
	"github.com/graceguard/graceguard/geo"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/sinks"
)

type demoOptions struct {
	io    streams
	color string
	geo   geoFlags
	quiet bool
	// slackURL is --slack-webhook-url, GRACEGUARD_SLACK_WEBHOOK_URL as for
	// watch: one variable configures Slack for every command.
	slackURL string
	// grace, tokenTTL and pause are zero (the story's own timing, which is
	// part of what the demo shows, so no flag sets them) but in tests, which
	// play the story fast through runners.
	grace, tokenTTL, pause time.Duration
	// users is nil (the demo's users) but in tests, which give the same
	// users at bcrypt's least cost, as demo's own test does: under -race a
	// cost-10 login takes seconds, and on busy cores it can outlive the
	// client's 10 s.
	users *idp.Users
}

// newDemoCmd makes demo; runF, when not nil, runs instead of runDemo
// (tests of flag parsing).
func newDemoCmd(io streams, runF func(context.Context, *demoOptions) error) *cobra.Command {
	o := &demoOptions{io: io}
	if runF == nil {
		runF = runDemo
	}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See graceguard catch a replayed refresh token, in about fifteen seconds, with nothing to set up",
		Long: `Demo starts the bundled IdP on a free loopback port (grace period 5s,
id_tokens 5s), watches its log as 'graceguard watch' would, and plays a short
story: people refreshing as kubectl does, a client-go race on one laptop (no
alert), a stolen refresh token replayed from another continent inside the grace
window (alerts), and graceguard ending the victim's sessions on the critical
alert as 'watch --revoke critical' does (in a fake Kubernetes API on loopback,
where the IdP keeps its sessions as OpenUnison does), so the thief's next
refresh is refused. Then the same theft behind an ingress controller (the
bundled IdP's ingress-nginx stand-in): OpenUnison logs the controller's address
for everyone, so its log alone cannot tell the thief from the user, while the
controller's access log, watched as well, names the thief. It shows the IdP's
and the controller's own log lines and each alert as it fires, then a summary.

The demo GeoIP databases (built in, no download) place the story's addresses in
London, Berlin, Paris, Sydney and São Paulo; --geoip-city/--geoip-asn use
others.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runF(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.color, "color", "auto", "colour: auto (when stdout is a terminal), always or never")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "hide graceguard's own log messages")
	cmd.Flags().StringVar(&o.slackURL, "slack-webhook-url", "", "also post the alerts to this Slack incoming webhook `URL` (a secret: prefer GRACEGUARD_SLACK_WEBHOOK_URL, as for watch)")
	o.geo.addFlags(cmd.Flags())
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions) error {
	color, err := wantColor(o.color, o.io.out)
	if err != nil {
		return err
	}
	db, err := o.geo.open()
	if err != nil {
		return err
	}
	if db == nil {
		if db, err = geo.Demo(); errors.Is(err, geo.ErrNoDemo) {
			// The story still shows the race and the replay by address alone.
			fmt.Fprintf(o.io.errOut, "graceguard: note: %v; the demo runs without places or networks\n", err)
		} else if err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(o.io.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.quiet {
		logger = slog.New(slog.DiscardHandler)
	}
	var extra func(context.Context, []alert.Alert) error
	if url := o.slackURL; url != "" {
		d, err := sinks.Build([]sinks.Config{sinks.SlackWebhookConfig(url, "", 0 /* every alert */)}, sinks.DispatcherOptions{Logger: logger})
		if err != nil {
			return usageError{err}
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d.Close(ctx)
		}()
		extra = d.Send
		fmt.Fprintln(o.io.out, "  (a Slack webhook is set: alerts are posted to Slack too)")
	}
	sum, err := demo.Run(ctx, demo.Options{Out: o.io.out, Color: color, Geo: geoLookup(db), Logger: logger, Extra: extra,
		Width: terminalWidth(o.io.out), Grace: o.grace, TokenTTL: o.tokenTTL, Pause: o.pause, Users: o.users})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if sum.RaceAlerts != 0 || sum.ReplayAlerts == 0 || !sum.LateRefused || sum.ProxyAlerts == 0 || sum.OpenUnisonAlone > alert.Info {
		return fmt.Errorf("demo: the story did not end as it should (race alerts %d, replay alerts %d, late replay refused %v, "+
			"alerts naming the thief behind the ingress %d, OpenUnison's log alone %s)",
			sum.RaceAlerts, sum.ReplayAlerts, sum.LateRefused, sum.ProxyAlerts, sum.OpenUnisonAlone)
	}
	return nil
}
