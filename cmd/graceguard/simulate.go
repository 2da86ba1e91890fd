package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/idp"
)

type simulateOptions struct {
	io               streams
	issuer           string
	users            int
	userFormat       string
	firstUser        int
	password         string
	passwordFile     string
	duration         time.Duration
	rate             float64
	every            time.Duration
	grace            time.Duration
	race             float64
	replay           float64
	outside          float64
	source           string
	homeNet          string
	replayNet        string
	concurrency      int
	clientID         string
	clientSecret     string
	clientSecretFile string
	truth            string
	seed             uint64
	format           string
	quiet            bool
	proxy            frontProxyFlags
}

func newSimulateCmd(io streams, runF func(context.Context, *simulateOptions) error) *cobra.Command {
	o := &simulateOptions{io: io}
	if runF == nil {
		runF = runSimulate
	}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Drive traffic at an IdP: refreshes, client-go races and replays",
		Long: `Simulate logs in --users users and then, at --rate operations per second (or each
user every --every), sends:

  normal refreshes        from the user's home address
  client-go races         two refreshes of one token at once, same address
  replays                 a refresh, then its rotated-out token from another address
                          at once (inside --grace: accepted, logged ExpiredRefreshTokenUsed)
  outside-grace replays   a token rotated out more than --grace ago, from another
                          address (refused)

Source addresses: --source bind binds connections to addresses of 127.0.0.0/8
(Linux routes all of it to loopback; the IdP sees real TCP peers); --source xff
sends X-Forwarded-For, which the IdP believes only from its --trusted-proxies.
auto picks bind for a loopback issuer on Linux and xff otherwise.

With --proxy-log FILE, the clients reach the IdP through an in-process reverse
proxy that plays an ingress-nginx controller (see graceguard idp serve
--proxy-listen): it writes ingress-nginx's access log to FILE, naming each
client, and connects to the IdP from --proxy-from, so the IdP logs the proxy's
address for every request. Give the IdP no --trusted-proxies for the proxy's
address, as OpenUnison has none.

--truth FILE records every request as JSON (who, from where, what the IdP
answered, and whether a detector should alert) so detection can be scored. A
live summary goes to stderr; the final one to stdout.`,
		Example: `  graceguard idp serve --grace 5s --log idp.log &
  graceguard simulate --users 50 --duration 2m --grace 5s --truth truth.json
  graceguard simulate --users 1000 --rate 5000 --duration 30s --race 0 --replay 0 --outside-grace 0
  graceguard simulate --users 50 --duration 2m --grace 5s --proxy-log ingress.log --truth truth.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.proxy.noteGiven(cmd)
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.issuer, "issuer", "http://127.0.0.1:8443"+idp.DefaultIssuerPath, "issuer `URL` of the IdP")
	f.IntVar(&o.users, "users", 10, "simulated users")
	f.StringVar(&o.userFormat, "user-format", idp.SimulatedUserFormat, "username format, numbered from --first-user")
	f.IntVar(&o.firstUser, "first-user", 1, "number of the first simulated user")
	// No default shown: the demo password is public, but a --password
	// given is a secret like any other, and help prints no password.
	f.StringVar(&o.password, "password", "", "password of every simulated user (default: the demo users' password; a secret: prefer GRACEGUARD_PASSWORD or --password-file)")
	f.StringVar(&o.passwordFile, "password-file", "", secretFileFlag("password of every simulated user"))
	f.DurationVar(&o.duration, "duration", time.Minute, "how long to run after the logins")
	f.Float64Var(&o.rate, "rate", 0, "operations per second over all users (default users / --every)")
	f.DurationVar(&o.every, "every", 10*time.Second, "each user's refresh cadence when --rate is not set")
	f.DurationVar(&o.grace, "grace", 0, "the IdP's grace period: replays go inside it, outside-grace attempts wait it out")
	f.Float64Var(&o.race, "race", idp.DefaultMix.Race, "share of operations that are client-go races")
	f.Float64Var(&o.replay, "replay", idp.DefaultMix.Replay, "share of operations that are replays right after a refresh")
	f.Float64Var(&o.outside, "outside-grace", idp.DefaultMix.OutsideGrace, "share of operations that replay a token older than the grace period")
	f.StringVar(&o.source, "source", "auto", "how to vary source addresses: auto, bind or xff")
	f.StringVar(&o.homeNet, "home-net", "", "`CIDR` of users' home addresses (default 127.0.1.0/24 with bind, 198.51.100.0/25 with xff)")
	f.StringVar(&o.replayNet, "replay-net", "", "`CIDR` of replayers' addresses (default 127.0.2.0/24 with bind, 192.0.2.0/25 with xff: other continents in the demo GeoIP databases)")
	f.IntVar(&o.concurrency, "concurrency", 64, "requests in flight at most")
	f.StringVar(&o.clientID, "client-id", idp.DefaultClientID, "OAuth client id")
	f.StringVar(&o.clientSecret, "client-secret", "", "OAuth client secret, if the IdP has one (a secret: prefer GRACEGUARD_CLIENT_SECRET or --client-secret-file)")
	f.StringVar(&o.clientSecretFile, "client-secret-file", "", secretFileFlag("OAuth client secret"))
	f.StringVar(&o.truth, "truth", "", "write every request as JSON to `FILE`")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the operation mix (default random)")
	f.StringVar(&o.format, "format", "text", "final summary format: text or json")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no live summary on stderr")
	o.proxy.addFlags(f)
	return cmd
}

func runSimulate(ctx context.Context, o *simulateOptions) error {
	cfg, err := o.simConfig()
	if err != nil {
		return err
	}
	if err := o.proxy.check(o.proxy.log != "", "--proxy-log"); err != nil {
		return err
	}
	if o.proxy.log != "" {
		stop, err := o.startProxy(ctx, &cfg)
		if err != nil {
			return err
		}
		defer stop()
	}
	if o.truth != "" {
		f, err := os.Create(o.truth)
		if err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
		defer f.Close()
		cfg.Truth = f
	}
	if !o.quiet {
		live := newLiveLine(o.io.errOut)
		cfg.Progress = func(r idp.SimReport) { live.show(formatSimReport(r, false)) }
		defer live.done()
	}
	rep, err := idp.Simulate(ctx, cfg)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w (nothing listens there: start the bundled IdP with 'graceguard idp serve', or point --issuer at yours)", err)
	}
	if err != nil {
		return err
	}
	if o.format == "json" {
		enc := json.NewEncoder(o.io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	_, err = fmt.Fprintln(o.io.out, formatSimReport(rep, true))
	return err
}

// simConfig checks the flags and makes the simulator's settings.
func (o *simulateOptions) simConfig() (idp.SimConfig, error) {
	if o.format != "text" && o.format != "json" {
		return idp.SimConfig{}, usageErrorf("--format %q: want text or json", o.format)
	}
	source, err := idp.ParseSourceMode(o.source)
	if err != nil {
		return idp.SimConfig{}, usageErrorf("--source: %v", err)
	}
	for _, f := range []struct {
		name string
		ok   bool
		val  any
	}{
		{"--users", o.users > 0, o.users}, {"--duration", o.duration > 0, o.duration}, {"--every", o.every > 0, o.every},
		{"--concurrency", o.concurrency > 0, o.concurrency},
	} {
		if !f.ok {
			return idp.SimConfig{}, usageErrorf("%s: want more than 0, not %v", f.name, f.val)
		}
	}
	if o.rate < 0 || o.grace < 0 {
		return idp.SimConfig{}, usageErrorf("--rate and --grace must not be negative")
	}
	if err := o.checkRate(); err != nil {
		return idp.SimConfig{}, err
	}
	if err := checkIssuerURL(o.issuer); err != nil {
		return idp.SimConfig{}, err
	}
	password, clientSecret := o.password, o.clientSecret
	if err := readSecretFlag("password", &password, o.passwordFile); err != nil {
		return idp.SimConfig{}, err
	}
	if password == "" {
		password = idp.SimulatedPassword
	}
	if err := readSecretFlag("client-secret", &clientSecret, o.clientSecretFile); err != nil {
		return idp.SimConfig{}, err
	}
	if strings.Count(o.userFormat, "%") != 1 {
		return idp.SimConfig{}, usageErrorf("--user-format %q: want one integer verb such as sim%%04d", o.userFormat)
	}
	cfg := idp.SimConfig{
		Issuer: o.issuer, Users: o.users, UserFormat: o.userFormat, FirstUser: o.firstUser, Password: password,
		Duration: o.duration, Rate: o.rate, Every: o.every, Grace: o.grace,
		Mix:         idp.Mix{Race: o.race, Replay: o.replay, OutsideGrace: o.outside},
		Concurrency: o.concurrency, Source: source, ClientID: o.clientID, ClientSecret: clientSecret, Seed: o.seed,
	}
	for flag, v := range map[string]struct {
		s, example string
		p          *netip.Prefix
	}{"--home-net": {o.homeNet, "198.51.100.0/25", &cfg.HomeNet}, "--replay-net": {o.replayNet, "192.0.2.0/25", &cfg.ReplayNet}} {
		if v.s == "" {
			continue
		}
		if *v.p, err = netip.ParsePrefix(v.s); err != nil {
			return cfg, usageErrorf("%s %q: want a CIDR such as %s", flag, v.s, v.example)
		}
	}
	if m := cfg.Mix; m.Race < 0 || m.Replay < 0 || m.OutsideGrace < 0 || m.Race+m.Replay+m.OutsideGrace > 1 {
		return cfg, usageErrorf("--race, --replay and --outside-grace must be >= 0 and sum to at most 1")
	}
	return cfg, nil
}

// checkRate refuses a rate the simulator cannot schedule, naming the flags
// it came from: Simulate's own error names SimConfig's fields and would
// exit 1, as if the IdP had failed.
func (o *simulateOptions) checkRate() error {
	if o.rate != 0 { // NaN too, should one get past the flag's parsing
		if !(o.rate <= idp.MaxSimRate) {
			return usageErrorf("--rate %g: want at most %d operations a second", o.rate, idp.MaxSimRate)
		}
		return nil
	}
	// Simulate's default for no --rate.
	if rate := float64(o.users) / o.every.Seconds(); !(rate <= idp.MaxSimRate) {
		return usageErrorf("--users %d / --every %s: %.3g operations a second; want at most %d (a longer --every, fewer --users, or --rate)",
			o.users, o.every, rate, idp.MaxSimRate)
	}
	return nil
}

// startProxy puts the proxy between the simulated clients and the IdP: it
// listens on a free loopback port and the clients dial it instead of the
// issuer's host.
func (o *simulateOptions) startProxy(ctx context.Context, cfg *idp.SimConfig) (stop func(), err error) {
	u, err := url.Parse(o.issuer) // simConfig checked it
	if err != nil {
		return nil, urlParseError("--issuer", o.issuer, err)
	}
	if u.Scheme != "http" {
		return nil, usageErrorf("--proxy-log: the proxy speaks plain http, and --issuer is %s", u.Scheme)
	}
	front, err := o.proxy.start("", "127.0.0.1:0", u.Scheme+"://"+u.Host, slog.New(slog.NewTextHandler(o.io.errOut, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	go front.serve(ctx)
	cfg.DialAddr = front.ln.Addr().String()
	return func() {
		cancel()
		if err := front.wait(); err != nil {
			fmt.Fprintf(o.io.errOut, "graceguard: proxy: %v\n", err)
		}
		front.close()
	}, nil
}

// formatSimReport writes a report as one line (live) or a short block (final).
func formatSimReport(r idp.SimReport, final bool) string {
	ops := fmt.Sprintf("logins %d  refreshes %d  races %d  replays %d  outside-grace %d  relogins %d",
		r.Ops[idp.OpLogin], r.Ops[idp.OpRefresh], r.Ops[idp.OpRace], r.Ops[idp.OpReplay], r.Ops[idp.OpOutsideGrace], r.Ops[idp.OpRelogin])
	res := fmt.Sprintf("rotated %d  reused %d  race-ok %d  refused %d  errors %d",
		r.Results[idp.ResultRotated], r.Results[idp.ResultReused], r.Results[idp.ResultOK], r.Results[idp.ResultRefused], r.Results[idp.ResultError])
	perf := fmt.Sprintf("%.0f refreshes/s  p50 %s  p99 %s  max %s", r.RefreshRate,
		roundLatency(r.Latency.P50), roundLatency(r.Latency.P99), roundLatency(r.Latency.Max))
	if r.Behind > 0 {
		perf += fmt.Sprintf("  behind %d", r.Behind)
	}
	if !final {
		return fmt.Sprintf("[%5.1fs] %s | %s | %s", r.Elapsed.Seconds(), perf, ops, res)
	}
	return fmt.Sprintf("simulated %s, %d requests\n  %s\n  %s\n  %s", r.Elapsed, r.Requests, ops, res, perf)
}

func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// liveLine rewrites one status line on a terminal and prints one line per
// update elsewhere (a log file keeps every sample).
type liveLine struct {
	w    io.Writer
	tty  bool
	last int
}

func newLiveLine(w io.Writer) *liveLine { return &liveLine{w: w, tty: isTerminal(w)} }

func (l *liveLine) show(s string) {
	if !l.tty {
		fmt.Fprintln(l.w, s)
		return
	}
	pad := ""
	if n := l.last - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(l.w, "\r"+s+pad)
	l.last = len(s)
}

func (l *liveLine) done() {
	if l.tty && l.last > 0 {
		fmt.Fprintln(l.w)
	}
}
