package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
)

// ingress is the bundled IdP's ingress-nginx stand-in, serving.
type ingress struct {
	addr string // where clients connect
	from string // what the IdP logs for every request through it
}

// startProxy puts the ingress stand-in in front of the IdP at upstream; its
// access log goes to logPath and to the narration. served gets Serve's end.
func (d *teller) startProxy(ctx context.Context, upstream, logPath string, served chan<- error) (*ingress, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	proxy, err := idp.NewProxy(idp.ProxyConfig{Upstream: "http://" + upstream, Log: io.MultiWriter(f, d.proxyLines()),
		Diag: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	go func() {
		served <- proxy.Serve(ctx, ln)
		f.Close()
	}()
	in := &ingress{addr: ln.Addr().String(), from: "127.0.0.1"}
	if a := proxy.From(); a.IsValid() {
		in.from = a.String()
	}
	return in, nil
}

// behindIngress is the second act: the same theft through the ingress
// controller, where OpenUnison logs the controller for everyone.
func (d *teller) behindIngress(ctx context.Context, issuer string, in *ingress, opt Options, sum *Summary) error {
	d.printf("\n%s\n", d.paint("\x1b[1m", "Behind an ingress controller, as most clusters run OpenUnison"))
	user, err := idp.NewClient(ctx, issuer, idp.ClientOptions{Source: idp.SourceXFF, DialAddr: in.addr})
	if err != nil {
		return err
	}
	defer user.CloseIdleConnections()
	thief, err := idp.NewClient(ctx, issuer, idp.ClientOptions{Source: idp.SourceXFF, DialAddr: in.addr, UserAgent: thiefAgent})
	if err != nil {
		return err
	}
	defer thief.CloseIdleConnections()

	sum.Steps++
	d.step(fmt.Sprintf("kalexander logs in and refreshes through ingress-nginx: its log names her %s, OpenUnison's names the controller, %s", homeParis, in.from))
	t, err := user.Login(ctx, homeParis, "kalexander", idp.DemoPassword)
	if err != nil {
		return fmt.Errorf("kalexander logs in through the ingress: %w", err)
	}
	stolen := t.RefreshToken
	// nginx's $time_local is the end of a request, cut to the second, so
	// the thief's record in the next second reaches back to the last
	// milliseconds of this one: her refresh logged there would have two
	// candidate clients and stay ambiguous. Her refresh goes early in a
	// second.
	if into := time.Since(time.Now().Truncate(time.Second)); into > 700*time.Millisecond {
		d.pause(time.Second - into + 20*time.Millisecond)
	}
	if _, err := user.Refresh(ctx, homeParis, stolen); err != nil {
		return fmt.Errorf("refresh through the ingress: %w", err)
	}
	refreshed := time.Now()
	d.pause(opt.Pause)
	// nginx's $time_local has whole seconds: the thief's request in a
	// later second than hers keeps the join exact even when a fast test
	// shortens the pauses (two clients of one user within one second of
	// a proxy log just learnt may stay ambiguous, which is not this act's
	// point).
	if next := refreshed.Truncate(time.Second).Add(time.Second + 50*time.Millisecond); time.Now().Before(next) {
		d.pause(time.Until(next))
	}

	sum.Steps++
	d.step("Someone with a copy of her kubeconfig replays the old token with curl, through the same ingress, inside the grace window")
	if _, err := thief.Refresh(ctx, thief2, stolen); err != nil {
		return fmt.Errorf("the replay through the ingress was refused: %w", err)
	}
	// The controller writes its line when the answer has gone, after
	// OpenUnison's; the join waits for it. On a loaded machine that takes
	// longer than a pause, and the verdict must follow the alerts.
	named := d.awaitAlert(ctx, func(a alert.Alert) bool { return a.User == dn("kalexander") && a.IP == thief2.String() }, opt.Pause+15*time.Second)
	d.pause(opt.Pause)

	loudest, err := loudestAlone(ctx, sum.LogPath, dn("kalexander"))
	if err != nil {
		return err
	}
	sum.OpenUnisonAlone = loudest
	d.verdict(false, fmt.Sprintf("OpenUnison's log alone shows her refresh and the replay both from %s: it cannot tell them apart (a scan of it alone: %s).",
		in.from, severityOrNone(loudest)))
	if !named {
		// Said as it is: the summary's count and the command's exit status
		// say the same.
		d.verdict(false, fmt.Sprintf("watched with the controller's log, no alert named %s: the replay was not joined to its access-log line.", thief2))
		return nil
	}
	d.verdict(true, fmt.Sprintf("watched with the controller's log, each request is joined to its access-log line: the alerts name %s, via ingress-nginx, with curl.", thief2))
	return nil
}

// awaitAlert waits until an alert that match accepts has fired, or for at
// most limit; it reports whether one did.
func (d *teller) awaitAlert(ctx context.Context, match func(alert.Alert) bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d.mu.Lock()
		found := slices.ContainsFunc(d.alerts, match)
		d.mu.Unlock()
		if found {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// loudestAlone scans OpenUnison's log on its own, as `graceguard scan
// openunison.log` would, and returns the most severe alert about user.
func loudestAlone(ctx context.Context, path, user string) (alert.Severity, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var mu sync.Mutex
	var loudest alert.Severity
	_, err = pipeline.Scan(ctx, []pipeline.Input{{Name: path, R: f}}, pipeline.ScanOptions{Rules: rules.Builtin(),
		Deliver: func(_ context.Context, group []alert.Alert) error {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range group {
				if a.User == user && a.Severity > loudest {
					loudest = a.Severity
				}
			}
			return nil
		}})
	if err != nil {
		return 0, fmt.Errorf("scan of OpenUnison's log alone: %w", err)
	}
	return loudest, nil
}

func severityOrNone(s alert.Severity) string {
	if s == 0 {
		return "no alert"
	}
	return strings.ToUpper(s.String()) + " at most"
}
