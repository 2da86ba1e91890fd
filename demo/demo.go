// Package demo tells graceguard's story in about fifteen seconds, with nothing to
// configure: it starts the bundled IdP on a free loopback port, watches its
// log with the real pipeline, and drives kubectl-like clients at it —
// ordinary refreshes, a client-go race on one laptop (no alert), a stolen
// refresh token replayed from another continent inside the grace window
// (alerts), and graceguard ending the victim's sessions on the critical
// alert as watch --revoke does (respond.go), so the thief's next refresh is
// refused. Then the same theft behind an ingress controller: OpenUnison
// logs the controller's address for everyone, so its log alone cannot tell
// the thief from the user; the controller's access log, watched as well,
// names the thief. It narrates each step with the IdP's (and the
// controller's) own log lines and the alerts as they fire.
//
// It owns the story and its narration only: the IdP, the follower, the
// pipeline and the sinks are the same code production runs. Clients reach
// the IdP over loopback and name their address in X-Forwarded-For (the
// IdP trusts loopback for this), so the story can use documentation
// addresses that the demo GeoIP databases place in London, Berlin, Paris,
// Sydney and São Paulo (Cast).
package demo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
	"github.com/graceguard/graceguard/source"
)

// Options configure a demo run.
type Options struct {
	Out   io.Writer
	Color bool
	// Geo places addresses; nil runs the story without places.
	Geo correlate.GeoLookup
	// Extra receives every alert group as well (e.g. Slack); nil for none.
	Extra pipeline.Deliver
	// Grace and TokenTTL shape the IdP (5s each by default); Pause is the
	// breath between steps (1s).
	Grace, TokenTTL, Pause time.Duration
	Logger                 *slog.Logger
	// Users are who may log in to the IdP; nil means idp.DemoUsers(), whose
	// story it is. The tests give the same users at a cheaper bcrypt cost:
	// a cost-10 login under -race on busy cores outlived the client's 10 s.
	Users *idp.Users
	// Width is how many columns a line may take (a terminal's width);
	// 0 means DefaultWidth. Longer log lines are cut with "…".
	Width int
}

// Summary is what the demo saw.
type Summary struct {
	Steps         int
	Alerts        []alert.Alert
	Records       int64
	GraceReuses   int64
	RaceAlerts    int // alerts about the benign race: must be none
	ReplayAlerts  int // alerts about the replay: must be some
	LateRefused   bool
	SessionsEnded int  // jjackson's sessions graceguard ended
	ThiefRefused  bool // the thief's refresh after that was refused
	// ProxyAlerts are the alerts about the replay behind the ingress
	// controller that name the thief: must be some. OpenUnisonAlone is the
	// most severe alert a scan of OpenUnison's log alone raises about it:
	// at most info, since that log names only the controller.
	ProxyAlerts     int
	OpenUnisonAlone alert.Severity
	ProxyLogPath    string
	Elapsed         time.Duration
	LogPath         string
	Issuer          string
	DeliveryErrors  int64
}

// The cast. Addresses are documentation ranges the demo GeoIP databases
// place on four continents.
var (
	homeLondon = netip.MustParseAddr("198.51.100.23") // jjackson at home
	officeBer  = netip.MustParseAddr("203.0.113.7")   // mmosley's laptop in the Berlin office
	homeParis  = netip.MustParseAddr("198.51.100.40") // kalexander
	thief      = netip.MustParseAddr("192.0.2.66")    // someone who copied jjackson's kubeconfig, in Sydney
	thief2     = netip.MustParseAddr("192.0.2.99")    // someone who copied kalexander's, behind the ingress
)

// Cast is the story's client addresses, for what names their places (the
// demo command's help).
func Cast() []netip.Addr { return []netip.Addr{homeLondon, officeBer, homeParis, thief, thief2} }

// thiefAgent is the user agent of the thieves' tool: client-go's refresh
// sends Go's default, curl does not.
const thiefAgent = "curl/8.5.0"

// Run plays the story and returns what happened.
func Run(ctx context.Context, opt Options) (Summary, error) {
	opt = opt.withDefaults()
	d := &teller{out: opt.Out, color: opt.Color, start: time.Now(), width: cmp.Or(opt.Width, DefaultWidth)}
	dir, err := os.MkdirTemp("", "graceguard-demo-")
	if err != nil {
		return Summary{}, err
	}
	defer os.RemoveAll(dir)
	sum := Summary{LogPath: filepath.Join(dir, "openunison.log"), ProxyLogPath: filepath.Join(dir, "ingress-nginx.log")}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logFile, err := os.OpenFile(sum.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return sum, err
	}
	defer logFile.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sum, fmt.Errorf("listen on loopback: %w", err)
	}
	contain, err := startContainment(ctx, opt)
	if err != nil {
		return sum, err
	}
	defer contain.close()
	d.contain = contain
	provider, err := idp.New(idp.Config{
		Issuer: "http://" + ln.Addr().String() + idp.DefaultIssuerPath, Grace: opt.Grace, IDTokenTTL: opt.TokenTTL,
		Log: io.MultiWriter(logFile, d.idpLines()), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		// The IdP's start-up warning that it is a test harness is what
		// the demo is about; it need not be shouted.
		Diag:     slog.New(slog.DiscardHandler),
		Sessions: contain.sessions,
		Users:    opt.Users,
	})
	if err != nil {
		return sum, err
	}
	sum.Issuer = provider.Issuer()
	served := make(chan error, 2)
	go func() { served <- provider.Serve(ctx, ln) }()
	front, err := d.startProxy(ctx, ln.Addr().String(), sum.ProxyLogPath, served)
	if err != nil {
		return sum, err
	}

	watched, err := d.watch(ctx, []string{sum.LogPath, sum.ProxyLogPath}, opt)
	if err != nil {
		return sum, err
	}
	stopped := false
	defer func() {
		// A story cut short still stops the watcher and the servers
		// before Run returns: they write to opt.Out, which the caller
		// may read as soon as Run is back.
		if !stopped {
			cancel()
			<-watched
			<-served
			<-served
		}
	}()
	d.intro(provider.Issuer(), opt)
	client, err := idp.NewClient(ctx, provider.Issuer(), idp.ClientOptions{Source: idp.SourceXFF})
	if err != nil {
		return sum, err
	}
	if err := d.story(ctx, client, opt, &sum); err != nil {
		return sum, err
	}
	if err := d.behindIngress(ctx, provider.Issuer(), front, opt, &sum); err != nil {
		return sum, err
	}
	time.Sleep(300 * time.Millisecond) // the watcher's last poll
	cancel()
	ws := <-watched
	<-served
	<-served
	stopped = true
	sum.Records, sum.GraceReuses, sum.DeliveryErrors = ws.Records, ws.Events[parser.KindGraceReuse], ws.DeliveryErrors
	sum.Alerts = d.alerts
	sum.Elapsed = time.Since(d.start)
	sum.countAlerts()
	d.summary(&sum)
	return sum, nil
}

func (opt Options) withDefaults() Options {
	if opt.Grace <= 0 {
		opt.Grace = 5 * time.Second
	}
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 5 * time.Second
	}
	if opt.Pause <= 0 {
		opt.Pause = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return opt
}

// countAlerts counts the alerts of each act of the story: the race (which
// should have none), the replay, and the theft behind the ingress.
func (sum *Summary) countAlerts() {
	for _, a := range sum.Alerts {
		switch a.User {
		case dn("mmosley"):
			sum.RaceAlerts++
		case dn("jjackson"):
			sum.ReplayAlerts++
		case dn("kalexander"):
			if a.IP == thief2.String() {
				sum.ProxyAlerts++
			}
		}
	}
}

func dn(user string) string { return "uid=" + user + ",ou=shadow,o=Tremolo" }

// watch runs the same follower and watcher `graceguard watch` runs, on the
// IdP's log, with alerts narrated as they fire.
func (d *teller) watch(ctx context.Context, paths []string, opt Options) (<-chan pipeline.WatchStats, error) {
	w, err := pipeline.NewWatcher(pipeline.WatchOptions{
		Rules: rules.Builtin(), Geo: opt.Geo, Logger: opt.Logger, SinkName: func() string { return "demo" },
		Deliver: d.contain.wrap(func(ctx context.Context, group []alert.Alert) error {
			d.alert(group)
			if opt.Extra != nil {
				return opt.Extra(ctx, group)
			}
			return nil
		}),
	})
	if err != nil {
		return nil, err
	}
	batches := make(chan source.Batch, 16)
	f := source.New(source.Options{Patterns: paths, Poll: 10 * time.Millisecond, Logger: opt.Logger}, batches)
	go func() {
		f.Run(ctx)
		close(batches)
	}()
	done := make(chan pipeline.WatchStats, 1)
	go func() {
		w.Run(context.WithoutCancel(ctx), batches)
		done <- w.Stats()
	}()
	return done, nil
}

// story drives the clients, step by step.
func (d *teller) story(ctx context.Context, c *idp.Client, opt Options, sum *Summary) error {
	step := func(text string) {
		sum.Steps++
		d.step(text)
	}
	login := func(user string, from netip.Addr) (idp.Tokens, error) {
		t, err := c.Login(ctx, from, user, idp.DemoPassword)
		if err != nil {
			return t, fmt.Errorf("%s logs in: %w", user, err)
		}
		return t, nil
	}

	step("Three people log in with kubectl: mmosley in the Berlin office, jjackson at home in London, kalexander in Paris")
	mm, err := login("mmosley", officeBer)
	if err != nil {
		return err
	}
	jj, err := login("jjackson", homeLondon)
	if err != nil {
		return err
	}
	ka, err := login("kalexander", homeParis)
	if err != nil {
		return err
	}
	d.pause(opt.Pause)

	step(fmt.Sprintf("Their id_tokens last %s, so kubectl refreshes them; each refresh rotates the one-time refresh token", opt.TokenTTL))
	for _, r := range []struct {
		tok  *idp.Tokens
		from netip.Addr
	}{{&mm, officeBer}, {&jj, homeLondon}, {&ka, homeParis}} {
		t, err := c.Refresh(ctx, r.from, r.tok.RefreshToken)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		*r.tok = t
	}
	d.pause(opt.Pause)

	step("On mmosley's laptop, kubectl and k9s share one kubeconfig and refresh the same token at once")
	race := c.Race(ctx, officeBer, mm.RefreshToken)
	for _, a := range race {
		if a.Err != nil {
			return fmt.Errorf("the race: %w", a.Err)
		}
	}
	d.pause(opt.Pause / 2)
	d.verdict(true, "same machine, milliseconds apart: the benign client-go race the grace period exists for. No alert.")
	d.pause(opt.Pause / 2)

	step("jjackson refreshes at home; someone who copied the kubeconfig replays the old refresh token from Sydney, inside the grace window")
	stolen := jj.RefreshToken
	if jj, err = c.Refresh(ctx, homeLondon, stolen); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	d.pause(opt.Pause * 3 / 2) // a thief is not as quick as k9s
	if _, err := c.Refresh(ctx, thief, stolen); err != nil {
		return fmt.Errorf("the replay inside the grace window was refused: %w", err)
	}
	d.pause(opt.Pause)
	d.verdict(false, "OpenUnison accepts the reuse: a grace period cannot tell the thief from k9s. graceguard can.")
	d.pause(opt.Pause)

	return d.revoked(ctx, c, stolen, jj, sum)
}

// teller prints the narration; the IdP's log and the alerts come in from
// other goroutines, so every write takes the lock.
type teller struct {
	mu      sync.Mutex
	out     io.Writer
	color   bool
	start   time.Time
	alerts  []alert.Alert
	contain *containment
	width   int
}

func (d *teller) paint(code, s string) string {
	if !d.color {
		return s
	}
	return code + s + "\x1b[0m"
}

func (d *teller) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

func (d *teller) clock() string {
	return fmt.Sprintf("[+%5.1fs]", time.Since(d.start).Seconds())
}

func (d *teller) intro(issuer string, opt Options) {
	d.printf("%s\n", d.paint("\x1b[1m", "graceguard demo: catching the replay of a stolen refresh token"))
	d.printf("  idp    %s (grace %s, id_tokens %s): the bundled OpenUnison-like IdP\n", issuer, opt.Grace, opt.TokenTTL)
	d.printf("  watch  its log, as `graceguard watch` does, with the built-in rules")
	if opt.Geo != nil {
		d.printf(" and the demo GeoIP databases")
	}
	d.printf("\n")
}

func (d *teller) step(text string) {
	d.printf("\n%s %s\n", d.paint("\x1b[2m", d.clock()), d.paint("\x1b[1m", "▸ "+text))
}

func (d *teller) verdict(benign bool, text string) {
	mark := d.paint("\x1b[32m", "✓")
	if !benign {
		mark = d.paint("\x1b[31m", "!")
	}
	d.printf("           %s %s\n", mark, text)
}

func (d *teller) pause(p time.Duration) { time.Sleep(p) }

// idpLines shows the IdP's own log lines as it writes them.
func (d *teller) idpLines() io.Writer { return &logWriter{d: d, label: "idp  "} }

// proxyLines shows the ingress controller's access-log lines.
func (d *teller) proxyLines() io.Writer { return &logWriter{d: d, label: "nginx"} }

// logTail is how much of a cut log line's end is kept: an OpenUnison
// line's "[address] - [id…]", an access line's upstream and timings.
const logTail = 40

type logWriter struct {
	d     *teller
	label string
	buf   []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	d := w.d
	d.mu.Lock()
	defer d.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		label := w.label + " │"
		line := fitMiddle(shorten(string(w.buf[:i])), d.width-len(indent)-utf8.RuneCountInString(label)-1, logTail)
		w.buf = w.buf[i+1:]
		if strings.HasPrefix(line, "[") {
			if strings.Contains(line, "ExpiredRefreshTokenUsed") {
				line = d.paint("\x1b[33m", line)
			} else {
				line = d.paint("\x1b[2m", line)
			}
		} else {
			line = d.paint("\x1b[2m", line)
		}
		fmt.Fprintf(d.out, "%s%s %s\n", indent, d.paint("\x1b[2m", label), line)
	}
	return len(p), nil
}

// alert prints an event's alerts as they fire.
func (d *teller) alert(group []alert.Alert) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.alerts = append(d.alerts, group...)
	room := d.width - len(indent) - len("ALERT ")
	for i, a := range group {
		fmt.Fprintf(d.out, "%s%s ", indent, d.paint("\x1b[1;31m", "ALERT"))
		if i > 0 {
			// The same request as the line above: its rule and severity
			// are what is new.
			line := fmt.Sprintf("%-8s %s (the same request)", strings.ToUpper(a.Severity.String()), a.Rule)
			if r := a.Response.Text(); r != "" {
				line += " → " + r
			}
			fmt.Fprintln(d.out, alert.Cut(line, room))
			continue
		}
		// The log's temporary path says nothing here, and the step's clock
		// says when; without colour the line can be cut to the width.
		a.Source = ""
		var b strings.Builder
		alert.WriteText(&b, a, alert.TextOptions{})
		_, text, _ := strings.Cut(strings.TrimSuffix(b.String(), "\n"), " ")
		// Who and which rule on the first line, the evidence under it.
		head, evidence, _ := strings.Cut(text, a.User+" ")
		head += a.User
		if d.color {
			sev := strings.ToUpper(a.Severity.String())
			head = strings.Replace(head, sev, d.paint("\x1b[1m", sev), 1)
		}
		fmt.Fprintln(d.out, head)
		if evidence != "" {
			fmt.Fprintf(d.out, "%s      %s\n", indent, alert.Cut(evidence, room))
		}
	}
}

func (d *teller) summary(s *Summary) {
	d.printf("\n%s\n", d.paint("\x1b[1m", "Summary: graceguard demo, catching the replay of a stolen refresh token"))
	d.printf("  %d log records read, %d grace-period reuses\n", s.Records, s.GraceReuses)
	d.printf("  benign race: %d alerts; replay inside the window: %d alerts; replay after it: ", s.RaceAlerts, s.ReplayAlerts)
	if s.LateRefused {
		d.printf("refused\n")
	} else {
		d.printf("accepted\n")
	}
	d.printf("  behind the ingress: OpenUnison's log alone, %s; with the controller's log, %d alerts naming the thief\n",
		severityOrNone(s.OpenUnisonAlone), s.ProxyAlerts)
	d.printf("  done in %.1fs.\n\nNext: `graceguard watch '/var/log/openunison/*.log'` on real logs, or README.md.\n", s.Elapsed.Seconds())
}
